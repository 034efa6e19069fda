"""Sending group live codes to WeCom: the join_way (add_join_way, update_join_way, del_join_way) and the group
welcome template (group_welcome_template/add|edit|del), and reading the join_way back to adopt the groups WeCom
created for a code.

A code is ``pending`` after any change WeCom must hear of; ``group_code_push`` sends it (the task runs it after
commit) and ``group_codes_push_due`` finds what a lost push or a failure left behind. One push per code at a time
(a lease in the shared cache); the outcome is recorded only if the row is still as the push read it
(``updated_at``), so a change made meanwhile is sent by another push, never lost. WeCom's ids (config_id, QR
image, template id, the chat list it accepted) are facts and are stored whatever happens to the row.

- Sent: ``synced``.
- WeCom busy or limited, unreachable, or its answer lost: still ``pending`` with the error noted, sent again by the
  sweep after ``SWEEP_AFTER``.
- Any other WeCom error: ``failed``, with the reason in plain words in ``wecom_error``; the sweep tries failed codes
  again after ``RETRY_FAILED_AFTER`` (a person may have fixed the cause in WeCom), "push again" at once.

A paused code has no join_way: pausing deletes it, resuming makes a new one (a new WeCom QR image behind the same
permanent QR of ours). A join_way WeCom no longer knows (41044) is made again the same way.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from groups.models import CustomerGroup, GroupCode, GroupCodeGroup, WeComSync
from groups.models.group_codes import MAX_CHATS_PER_JOIN_WAY
from groups.services.group_codes import WELCOME_PARTS
from groups.services.group_codes_rotation import group_code_groups_adopt, join_way_chat_ids
from scrm.wecom.client import get_client
from scrm.wecom.errors import RETRY_LATER, WeComError

logger = logging.getLogger(__name__)

SYNCED, PENDING, FAILED, SKIPPED = "synced", "pending", "failed", "skipped"
QR_SCENE = 2  # a join_way with a QR code (1 is the mini-program button)
REMARK_LENGTH = 30  # WeCom truncates a join_way's remark beyond this
LEASE = 120  # seconds: longer than one push can take (a few calls, each within the client's timeouts)
SWEEP_AFTER = timedelta(minutes=1)
RETRY_FAILED_AFTER = timedelta(hours=1)
UNKNOWN_CONFIG = 41044  # WeCom does not know this config_id (deleted there)

# WeCom's errcodes for these calls, in plain words (WeCom's own text follows in the stored error).
_REASONS = {
    40050: gettext_noop("WeCom does not know one of the code's groups (dismissed, or not a customer group)."),
    40058: gettext_noop("WeCom found the settings invalid (state, group prefix or welcome message)."),
    40063: gettext_noop("WeCom found part of the welcome message empty."),
    41045: gettext_noop("WeCom's limit of 500,000 contact and join ways per corp is reached."),
    48002: gettext_noop(
        "This secret may not manage group live codes: use the 客户联系 secret, or allow the app to call 客户联系 APIs."
    ),
}


class _Refused(Exception):
    """Nothing WeCom could take: the code has no group to list."""


def _lease_key(code_id: int) -> str:
    return f"groups:group-code-push:{code_id}"


def group_code_push(*, code_id: int) -> str:
    """Send one code's pending state to WeCom. Returns ``"synced"``, ``"pending"`` (tried again later),
    ``"failed"`` or ``"skipped"`` (nothing to send, or another push holds the code)."""
    if not cache.add(_lease_key(code_id), "1", timeout=LEASE):
        return SKIPPED
    again = False
    try:
        result, again = _push(code_id)
    finally:
        cache.delete(_lease_key(code_id))
    if again:  # changed while this push ran: send the newer state too
        from groups.tasks.group_codes import group_code_push as task

        task.delay(code_id)
    return result


def group_codes_push_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Push the codes whose push was lost or is due again: pending ones resting for ``SWEEP_AFTER``, failed ones
    after ``RETRY_FAILED_AFTER``. Returns how many were sent (synced)."""
    now = now or timezone.now()
    due = (
        GroupCode.objects.filter(
            Q(wecom_sync=WeComSync.PENDING, updated_at__lte=now - SWEEP_AFTER)
            | Q(wecom_sync=WeComSync.FAILED, updated_at__lte=now - RETRY_FAILED_AFTER)
        )
        .order_by("updated_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(group_code_push(code_id=pk) == SYNCED for pk in list(due))


def group_code_adopt(*, code_id: int) -> list[str]:
    """Read the code's join_way and adopt the chats WeCom listed that we never sent: groups it created through
    ``auto_create_room``. Returns the chat ids adopted; WeCom errors are logged (the periodic check tries again)."""
    code = (
        GroupCode.objects.filter(pk=code_id, auto_create_room=True)
        .exclude(config_id="")
        .exclude(status=GroupCode.Status.PAUSED)
        .first()
    )
    if code is None:
        return []
    try:
        way = get_client("contact").external_contact_group_chat.get_join_way(code.config_id).get("join_way") or {}
    except WeComError as exc:
        logger.warning("Group live code %s: could not read its join_way to adopt new groups: %s", code.pk, exc)
        return []
    sent = set(code.wecom_chat_ids)
    new = [chat_id for chat_id in way.get("chat_id_list") or [] if chat_id not in sent]
    if not new:
        return []
    try:
        room_base_id = int(way.get("room_base_id") or 0)
    except (TypeError, ValueError):
        room_base_id = 0
    return group_code_groups_adopt(code_id=code.pk, chat_ids=new, room_base_id=room_base_id)


def group_code_wecom_delete(*, config_id: str, template_id: str) -> None:
    """After a code was deleted: its join_way and welcome template go in WeCom too (already gone is fine)."""
    client = get_client("contact")
    try:
        if config_id:
            _ignore_gone(lambda: client.external_contact_group_chat.del_join_way(config_id), UNKNOWN_CONFIG)
        if template_id:
            client.external_contact.del_group_welcome_template(template_id)
    except WeComError as exc:
        logger.warning("A deleted group live code's join_way or welcome template is left in WeCom: %s", exc)


# ---- one push ----------------------------------------------------------------------------------------------------


def _push(code_id: int) -> tuple[str, bool]:
    code = GroupCode.objects.filter(pk=code_id).first()
    if code is None or code.wecom_sync == WeComSync.SYNCED:
        return SKIPPED, False
    read_at, learnt = code.updated_at, {}
    try:
        client = get_client("contact")
        if code.status == GroupCode.Status.PAUSED:
            learnt = _join_way_delete(client, code)
        else:
            learnt = _join_way_send(client, code)
            learnt.update(_welcome_send(client, code))
    except RETRY_LATER as exc:
        _store(code, learnt)
        message = _("WeCom was busy or did not answer; sending again in a minute. (%(error)s)") % {"error": exc}
        return PENDING, not _settle(code, read_at, WeComSync.PENDING, message)
    except (WeComError, _Refused) as exc:
        _store(code, learnt)
        return FAILED, not _settle(code, read_at, WeComSync.FAILED, _reason(exc))
    _store(code, learnt)
    return SYNCED, not _settle(code, read_at, WeComSync.SYNCED, "")


def _join_way_send(client, code: GroupCode) -> dict[str, Any]:
    """Update the join_way (or make it) with the chats it should list; returns what WeCom now holds."""
    chats = join_way_chat_ids(code) or code.wecom_chat_ids or _last_groups(code)
    if not chats:
        raise _Refused(_("Every group of this code is dismissed: add a group that can take joiners."))
    api = client.external_contact_group_chat
    settings = {
        "remark": code.name[:REMARK_LENGTH],
        "auto_create_room": int(code.auto_create_room),
        "room_base_name": code.room_base_name if code.auto_create_room else None,
        "room_base_id": code.room_base_id if code.auto_create_room else None,
        "state": code.state,
    }
    learnt: dict[str, Any] = {}
    if code.config_id:
        try:
            api.update_join_way(code.config_id, QR_SCENE, chats, **settings)
        except WeComError as exc:
            if exc.errcode != UNKNOWN_CONFIG:
                raise
            logger.warning("Group live code %s: WeCom lost its join_way %s; making a new one", code.pk, code.config_id)
            code.config_id = ""
            learnt.update(config_id="", qr_code_url="")
    if not code.config_id:
        config_id = api.add_join_way(QR_SCENE, chats, **settings)["config_id"]
        code.config_id = learnt["config_id"] = config_id
        _store(code, learnt)  # made in WeCom: never lose its id, whatever comes next
    learnt["wecom_chat_ids"] = list(chats)
    if not code.qr_code_url or "qr_code_url" in learnt:
        learnt["qr_code_url"] = (api.get_join_way(code.config_id).get("join_way") or {}).get("qr_code", "")
    return learnt


def _join_way_delete(client, code: GroupCode) -> dict[str, Any]:
    if code.config_id:
        _ignore_gone(lambda: client.external_contact_group_chat.del_join_way(code.config_id), UNKNOWN_CONFIG)
    return {"config_id": "", "qr_code_url": "", "wecom_chat_ids": []}


def _welcome_send(client, code: GroupCode) -> dict[str, Any]:
    """The welcome template as the code's welcome message says: made, edited, or deleted when there is none."""
    api = client.external_contact
    content = welcome_template_content(code)
    if content is None:
        if code.welcome_template_id:
            api.del_group_welcome_template(code.welcome_template_id)
            return {"welcome_template_id": ""}
        return {}
    text = content.pop("text", None)
    if code.welcome_template_id:
        api.edit_group_welcome_template(code.welcome_template_id, text, **content)
        return {}
    template_id = api.add_group_welcome_template(text, **content, notify=1)["template_id"]
    code.welcome_template_id = template_id
    _store(code, {"welcome_template_id": template_id})
    return {"welcome_template_id": template_id}


def welcome_template_content(code: GroupCode) -> dict[str, Any] | None:
    """The template's parts (``text`` and one of image/link/…) from the code's welcome message, or None."""
    if not code.has_welcome:
        return None
    content: dict[str, Any] = {}
    if code.welcome_text:
        content["text"] = code.welcome_text
    for attachment in code.welcome_attachments[:1]:
        if attachment.get("msgtype") in WELCOME_PARTS:
            content[attachment["msgtype"]] = attachment.get(attachment["msgtype"]) or {}
    return content


def _last_groups(code: GroupCode) -> list[str]:
    """Every group full and nothing sent yet: the last groups still standing, which WeCom fills to its own limit
    before it creates the next (auto_create_room)."""
    rows = GroupCodeGroup.objects.filter(code=code, group__status=CustomerGroup.Status.NORMAL).order_by(
        "-position", "-id"
    )
    return list(reversed(rows.values_list("group__chat_id", flat=True)[:MAX_CHATS_PER_JOIN_WAY]))


def _ignore_gone(call, errcode: int) -> None:
    try:
        call()
    except WeComError as exc:
        if exc.errcode != errcode:
            raise


def _store(code: GroupCode, learnt: dict[str, Any]) -> None:
    """WeCom's ids as they now are, without moving ``updated_at`` (they are not an edit)."""
    if learnt:
        GroupCode.objects.filter(pk=code.pk).update(**learnt)
        for name, value in learnt.items():
            setattr(code, name, value)


def _settle(code: GroupCode, read_at: datetime, sync: str, error: str) -> bool:
    """Record the outcome if the row is as the push read it; False when it changed meanwhile (still pending)."""
    return bool(
        GroupCode.objects.filter(pk=code.pk, updated_at=read_at).update(
            wecom_sync=sync, wecom_error=error, updated_at=timezone.now()
        )
    )


def _reason(exc: Exception) -> str:
    if isinstance(exc, _Refused):
        return str(exc)
    reason = _REASONS.get(getattr(exc, "errcode", None) or 0)
    return f"{_(reason)} ({exc})" if reason else _("WeCom refused the code: %(error)s") % {"error": exc}
