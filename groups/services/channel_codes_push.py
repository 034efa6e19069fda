"""Sending channel live codes to WeCom: ``externalcontact/add_contact_way``, ``update_contact_way``,
``del_contact_way``.

A code whose configuration WeCom does not have yet is ``pending``. ``channel_code_push`` (the task
``groups.channel_code_push``, queued after commit) sends what the code is now:

- active without a contact_way: add one (scene 2, a QR code; type 1 单人 when the rota can only ever list one
  employee, else 2 多人) and keep its ``config_id`` and ``qr_code_url``;
- active with one: update its users (the rota's answer), state, skip-verify and remark (the name, ≤ 30 chars);
  WeCom cannot turn a type-1 contact_way into a multi-employee one, so when a single code gets a second user in
  its list it is replaced by a new type-2 contact_way (the QR code changes; the change is audited and logged);
- inactive with one: delete it (already gone in WeCom is fine).

Outcomes: ``synced``; WeCom busy, limited, unreachable, or a write whose answer was lost: still ``pending`` with
the reason in ``wecom_error``, sent again by ``channel_codes_push_due`` (every minute, once the code has rested
``SWEEP_AFTER``); any other refusal: ``failed`` with the reason in plain words, until an edit or "push again".

One push per code at a time (a lock in the shared cache, held for at most ``LEASE``). A push settles by comparing
what it sent with what the code is when it finishes: an edit made meanwhile queues the next push instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from groups.models import ChannelCode, ChannelCodeMember, WeComSync
from groups.selectors.channel_codes import adds_today_by_member, rota_of, wecom_type
from scrm.core.services import audit_record
from scrm.wecom.client import get_client
from scrm.wecom.errors import RETRY_LATER, WeComError, refusal_explained

logger = logging.getLogger(__name__)

SYNCED, PENDING, FAILED, SKIPPED = "synced", "pending", "failed", "skipped"
LEASE = timedelta(minutes=5)  # longer than a push can take: three calls, each at most three tries within timeouts
SWEEP_AFTER = timedelta(seconds=60)  # a fresh change is pushed after commit; the sweep takes what that missed
SCENE_QR_CODE = 2
REMARK_LENGTH = 30  # WeCom's limit on a contact_way's remark
NOT_FOUND = 41044

_REASONS = {
    40003: gettext_noop("WeCom does not know one of the code's employees, or they left: check the employees."),
    60111: gettext_noop("WeCom does not know one of the code's employees, or they left: check the employees."),
    40058: gettext_noop("WeCom found the configuration invalid (a state over 30 characters, or a wrong user list)."),
    NOT_FOUND: gettext_noop(
        "WeCom no longer has this code's contact way (deleted in the WeCom admin console?). Push it again to make a "
        "new one: its QR code will be new."
    ),
    41045: gettext_noop(
        "The corp has reached WeCom's limit of 500,000 contact ways and group join ways: delete unused ones first."
    ),
}


def _lock_key(code_id: int) -> str:
    return f"groups:channel-code-push:{code_id}"


def push_after_commit(code_id: int) -> None:
    from groups.tasks.channel_codes import channel_code_push as task

    transaction.on_commit(lambda: task.delay(code_id))


@dataclass(frozen=True)
class _Config:
    """What WeCom's contact_way should be; a push compares what it sent with what is wanted when it ends."""

    active: bool
    remark: str
    state: str
    skip_verify: bool
    users: tuple[str, ...]


def _config(code: ChannelCode, members: list[ChannelCodeMember], *, now: datetime | None = None) -> _Config:
    users: tuple[str, ...] = ()
    if code.is_active:
        rota = rota_of(members=members, adds_today=adds_today_by_member([code.pk], now=now).get(code.pk, {}))
        users = tuple(rota.users)
    return _Config(code.is_active, code.name[:REMARK_LENGTH], code.state, code.skip_verify, users)


class _Refused(Exception):
    """Nothing to send that WeCom would take (a code with nobody in it)."""


def channel_code_push(*, code_id: int) -> str:
    """Send one pending code to WeCom. Returns ``synced``, ``pending`` (tried again later, or edited meanwhile and
    queued again), ``failed``, or ``skipped`` (not pending, gone, or another push holds it)."""
    if not cache.add(_lock_key(code_id), "1", timeout=int(LEASE.total_seconds())):
        return SKIPPED
    try:
        outcome, again = _push(code_id)
    finally:
        cache.delete(_lock_key(code_id))
    if again:  # after the lock is released, or that push would find it held
        from groups.tasks.channel_codes import channel_code_push as task

        task.delay(code_id)
    return outcome


def channel_codes_push_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Pending codes whose push after commit was lost, or whose retry is due (they rested ``SWEEP_AFTER``)."""
    now = now or timezone.now()
    due = ChannelCode.objects.filter(wecom_sync=WeComSync.PENDING, updated_at__lte=now - SWEEP_AFTER)
    return list(due.order_by("updated_at").values_list("pk", flat=True)[:limit])


def _push(code_id: int) -> tuple[str, bool]:
    code = ChannelCode.objects.filter(pk=code_id).first()
    if code is None or code.wecom_sync != WeComSync.PENDING:
        return SKIPPED, False
    members = list(code.members.all())
    config = _config(code, members)
    try:
        facts = _send(code, members, config)
    except _Refused as exc:
        return _settle_failed(code, config, str(exc))
    except RETRY_LATER as exc:
        return _settle_later(code, exc)
    except WeComError as exc:
        gone = exc.errcode == NOT_FOUND and bool(code.config_id)
        facts = {"config_id": "", "qr_code_url": "", "wecom_users": []} if gone else None
        return _settle_failed(code, config, explain(exc), facts=facts)
    return _settle_sent(code, config, facts)


# ---- sending -------------------------------------------------------------------------------------------------


def _send(code: ChannelCode, members: list[ChannelCodeMember], config: _Config) -> dict[str, Any]:
    """The WeCom calls that make the contact_way ``config``; returns the facts to store."""
    api = get_client("contact").external_contact
    if not config.active:
        if code.config_id:
            contact_way_delete(config_id=code.config_id)
        return {"config_id": "", "qr_code_url": "", "wecom_users": []}
    users = list(config.users)
    if not users:
        raise _Refused(_("The code has no employee in its rota: add one."))
    if code.config_id:
        if len(users) > 1 and len(code.wecom_users) <= 1 and _is_single(api, code.config_id):
            return _replace(api, code, config)
        api.update_contact_way(
            code.config_id, config.remark, skip_verify=config.skip_verify, state=config.state, user=users
        )
        return {"wecom_users": users}
    answer = api.add_contact_way(
        wecom_type(members),
        SCENE_QR_CODE,
        remark=config.remark,
        skip_verify=config.skip_verify,
        state=config.state,
        user=users,
    )
    return {"config_id": answer["config_id"], "qr_code_url": answer.get("qr_code", ""), "wecom_users": users}


def _is_single(api, config_id: str) -> bool:
    return int(api.get_contact_way(config_id).get("contact_way", {}).get("type", 2)) == 1


def _replace(api, code: ChannelCode, config: _Config) -> dict[str, Any]:
    """A type-1 contact_way cannot list two users: make a type-2 one, then delete the old (if that fails, the old
    QR code keeps bringing customers to its employee, still with this code's state)."""
    answer = api.add_contact_way(
        2,
        SCENE_QR_CODE,
        remark=config.remark,
        skip_verify=config.skip_verify,
        state=config.state,
        user=list(config.users),
    )
    try:
        contact_way_delete(config_id=code.config_id)
    except WeComError:
        logger.warning("Channel code %s: the old contact way %s could not be deleted", code.pk, code.config_id)
    logger.warning(
        "Channel code %s now lists several employees: its single-employee contact way was replaced (new QR code)",
        code.pk,
    )
    return {
        "config_id": answer["config_id"],
        "qr_code_url": answer.get("qr_code", ""),
        "wecom_users": list(config.users),
        "replaced": code.config_id,
    }


def contact_way_delete(*, config_id: str) -> None:
    """Delete a contact_way in WeCom; one WeCom no longer has is what we wanted."""
    try:
        get_client("contact").external_contact.del_contact_way(config_id)
    except WeComError as exc:
        if exc.errcode != NOT_FOUND:
            raise


# ---- settling ------------------------------------------------------------------------------------------------


def explain(exc: WeComError) -> str:
    """WeCom's refusal in plain words, for ``wecom_error`` and a welcome's error."""
    return refusal_explained(exc, _REASONS)


def _settle_sent(code: ChannelCode, sent: _Config, facts: dict[str, Any]) -> tuple[str, bool]:
    replaced = facts.pop("replaced", "")
    with transaction.atomic():
        row = ChannelCode.objects.select_for_update().filter(pk=code.pk).first()
        if row is None:  # deleted while we were sending: what we just made in WeCom must go too
            if facts.get("config_id") and facts["config_id"] != code.config_id:
                _delete_after_commit(facts["config_id"])
            return SKIPPED, False
        ChannelCode.objects.filter(pk=row.pk).update(**facts)  # WeCom's facts, whatever else changed
        for name, value in facts.items():
            setattr(row, name, value)
        if replaced:
            audit_record(
                actor=None,
                action="wecom_replaced",
                target=row,
                changes={"config_id": [replaced, row.config_id], "qr_code_url": row.qr_code_url},
            )
        if _config(row, list(row.members.all())) != sent:
            return PENDING, True  # edited (or the rota moved) meanwhile: send the newer configuration
        ChannelCode.objects.filter(pk=row.pk).update(wecom_sync=WeComSync.SYNCED, wecom_error="")
    return SYNCED, False


def _settle_later(code: ChannelCode, exc: WeComError) -> tuple[str, bool]:
    text = _("WeCom was busy or could not be reached; it is tried again within a few minutes. (%(error)s)") % {
        "error": exc
    }
    # updated_at moves: the sweep takes the code again once it has rested.
    ChannelCode.objects.filter(pk=code.pk, wecom_sync=WeComSync.PENDING).update(
        wecom_error=text, updated_at=timezone.now()
    )
    logger.info("Channel code %s: WeCom push postponed: %s", code.pk, exc)
    return PENDING, False


def _settle_failed(
    code: ChannelCode, sent: _Config, text: str, *, facts: dict[str, Any] | None = None
) -> tuple[str, bool]:
    with transaction.atomic():
        row = ChannelCode.objects.select_for_update().filter(pk=code.pk).first()
        if row is None:
            return SKIPPED, False
        if facts:
            ChannelCode.objects.filter(pk=row.pk).update(**facts)
            for name, value in facts.items():
                setattr(row, name, value)
        if _config(row, list(row.members.all())) != sent:
            return PENDING, True  # the edit made meanwhile may be what WeCom wants
        ChannelCode.objects.filter(pk=row.pk).update(
            wecom_sync=WeComSync.FAILED, wecom_error=text, updated_at=timezone.now()
        )
    logger.warning("Channel code %s: WeCom refused it: %s", code.pk, text)
    return FAILED, False


def _delete_after_commit(config_id: str) -> None:
    from groups.tasks.channel_codes import contact_way_delete as task

    transaction.on_commit(lambda: task.delay(config_id))
