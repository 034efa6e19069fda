"""Customers who come through a channel live code: the add recorded, the code's tags put on them, the welcome
message sent with WeCom's ``welcome_code``, and the rota moved on when a member reaches their daily limit.

``channel_code_adds_record`` runs inside the callback inbox's transaction, after customers' handler stored the
contact and its follow relation. A replayed event finds its add already recorded (the unique constraint on code,
employee, customer and event time) and changes nothing: no second tagging, no second welcome message.

``channel_code_welcome_send`` runs in the realtime queue. WeCom accepts a ``welcome_code`` once and only within
20 seconds of the add: an add older than that is ``expired`` without a call; 41051 (already sent) is ``already``
and never retried; WeCom busy or unreachable is retried at once while the 20 seconds last; anything else is
``failed`` with the reason.
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

from customers.models import ExternalContact
from groups.models import ChannelCode, ChannelCodeAdd, ChannelCodeMember
from groups.services.channel_codes import channel_codes_rota_refresh
from groups.services.channel_codes_push import explain
from scrm.core.hooks import publish
from scrm.wecom.client import get_client
from scrm.wecom.errors import RETRY_LATER, WeComError, WeComRateLimited

logger = logging.getLogger(__name__)

Welcome = ChannelCodeAdd.Welcome

WELCOME_CODE_TTL = timedelta(seconds=20)  # WeCom's window for send_welcome_msg
ALREADY_SENT = 41051
CODE_INVALID = 41050  # WeCom's answer for a welcome_code it no longer takes (expired)
RETRY_PAUSE = 1.0  # seconds between tries while the welcome code lasts
SENT, ALREADY, EXPIRED, FAILED, RETRY, SKIPPED = "sent", "already", "expired", "failed", "retry", "skipped"


@dataclass(frozen=True)
class AddEvent:
    """What an add_external_contact (or add_half_external_contact) callback says."""

    state: str
    userid: str
    external_userid: str
    at: datetime
    welcome_code: str = ""


def channel_code_adds_record(*, events: list[AddEvent]) -> list[ChannelCodeAdd]:
    """Record the adds whose state is an active code's; returns the adds new to us. A few queries for a whole
    batch, and one when no state is a code's (none at all when no event has a state)."""
    wanted = [event for event in events if event.state and event.userid and event.external_userid]
    if not wanted:
        return []
    codes = {
        code.state: code
        for code in ChannelCode.objects.filter(is_active=True, state__in={event.state for event in wanted})
    }
    rows: dict[tuple, ChannelCodeAdd] = {}
    for event in wanted:
        code = codes.get(event.state)
        if code is None:
            continue
        key = (code.pk, event.userid, event.external_userid, event.at)
        if key not in rows:
            rows[key] = _add_row(code, event)
    if not rows:
        return []
    existing = set(
        ChannelCodeAdd.objects.filter(
            code_id__in={key[0] for key in rows}, external_userid__in={key[2] for key in rows}
        ).values_list("code_id", "userid", "external_userid", "added_at")
    )
    new = [row for key, row in rows.items() if key not in existing]
    if not new:
        return []
    created = ChannelCodeAdd.objects.bulk_create(new)
    _tag_customers(created)
    for add in created:
        if add.welcome == Welcome.PENDING:
            _welcome_after_commit(add.pk)
    limited = set(
        ChannelCodeMember.objects.filter(
            code_id__in={add.code_id for add in created}, daily_limit__isnull=False
        ).values_list("code_id", flat=True)
    )
    if limited:  # a member may have reached their limit: the rota moves on
        channel_codes_rota_refresh(code_ids=limited)
    return created


def _add_row(code: ChannelCode, event: AddEvent) -> ChannelCodeAdd:
    row = ChannelCodeAdd(code=code, userid=event.userid, external_userid=event.external_userid, added_at=event.at)
    if code.has_welcome and event.welcome_code:
        row.welcome, row.welcome_code = Welcome.PENDING, event.welcome_code
    elif code.has_welcome:
        # WeCom gives no welcome_code when a welcome message is set for the employee in its admin console.
        row.welcome_error = _("WeCom sent no welcome code: a welcome message set in the WeCom admin console went out.")
    return row


def _tag_customers(adds: list[ChannelCodeAdd]) -> None:
    """The code's tags on the customers behind the new adds (customers' handler made their contacts first)."""
    tagged = [add for add in adds if add.code.tag_ids]
    if not tagged:
        return
    customers = dict(
        ExternalContact.objects.filter(
            external_userid__in={add.external_userid for add in tagged}, customer__isnull=False
        ).values_list("external_userid", "customer_id")
    )
    by_code: dict[int, tuple[ChannelCode, set[int]]] = {}
    for add in tagged:
        customer_id = customers.get(add.external_userid)
        if customer_id is None:
            logger.warning("Channel code %s: no customer for %s yet; not tagged", add.code_id, add.external_userid)
            continue
        by_code.setdefault(add.code_id, (add.code, set()))[1].add(customer_id)
    for code, customer_ids in by_code.values():
        publish("groups.code_customers_tagging", customer_ids=sorted(customer_ids), tag_ids=list(code.tag_ids))


def _welcome_after_commit(add_id: int) -> None:
    from groups.tasks.channel_codes import welcome_send

    transaction.on_commit(lambda: welcome_send.delay(add_id))


# ---- the welcome message -------------------------------------------------------------------------------------


def welcome_body(code: ChannelCode, welcome_code: str) -> dict[str, Any]:
    body: dict[str, Any] = {"welcome_code": welcome_code}
    if code.welcome_text:
        body["text"] = {"content": code.welcome_text}
    if code.welcome_attachments:
        body["attachments"] = list(code.welcome_attachments)
    return body


def channel_code_welcome_send(*, add_id: int, now: datetime | None = None) -> tuple[str, float | None]:
    """Send the welcome message of one pending add. Returns the outcome and, for ``retry``, the seconds to wait."""
    add = ChannelCodeAdd.objects.select_related("code").filter(pk=add_id).first()
    if add is None or add.welcome != Welcome.PENDING:
        return SKIPPED, None
    remaining = (add.added_at + WELCOME_CODE_TTL - (now or timezone.now())).total_seconds()
    if remaining <= 0:
        _settle(add, Welcome.EXPIRED, _("The welcome code expired (WeCom allows 20 seconds after the add)."))
        return EXPIRED, None
    key = f"groups:welcome-send:{add_id}"
    if not cache.add(key, "1", timeout=int(WELCOME_CODE_TTL.total_seconds()) + 10):
        return SKIPPED, None  # another worker is sending it
    try:
        if not ChannelCodeAdd.objects.filter(pk=add.pk, welcome=Welcome.PENDING).exists():
            return SKIPPED, None  # settled by a worker that held the lock a moment ago
        return _send(add, remaining)
    finally:
        cache.delete(key)


def _send(add: ChannelCodeAdd, remaining: float) -> tuple[str, float | None]:
    # Bounded by what is left of the 20 seconds: an answer after that is useless.
    client = get_client("contact", timeout=(min(3.0, remaining), remaining))
    try:
        client.external_contact.send_welcome_msg(welcome_body(add.code, add.welcome_code))
    except WeComError as exc:
        if exc.errcode == ALREADY_SENT:
            _settle(add, Welcome.ALREADY_SENT, _("WeCom says a welcome message was already sent for this add."))
            return ALREADY, None
        if exc.errcode == CODE_INVALID:
            _settle(add, Welcome.EXPIRED, explain(exc))
            return EXPIRED, None
        if isinstance(exc, RETRY_LATER):
            # A write whose answer was lost may be retried: WeCom takes a welcome_code once (41051 the second time).
            left = (add.added_at + WELCOME_CODE_TTL - timezone.now()).total_seconds()
            wait = max(RETRY_PAUSE, exc.retry_after) if isinstance(exc, WeComRateLimited) else RETRY_PAUSE
            if left > wait + 0.5:
                ChannelCodeAdd.objects.filter(pk=add.pk, welcome=Welcome.PENDING).update(welcome_error=str(exc))
                return RETRY, wait
            reason = _("WeCom was busy until the welcome code expired. (%(error)s)") % {"error": exc}
            _settle(add, Welcome.FAILED, reason)
            return FAILED, None
        _settle(add, Welcome.FAILED, explain(exc))
        return FAILED, None
    _settle(add, Welcome.SENT, "", sent_at=timezone.now())
    return SENT, None


def _settle(add: ChannelCodeAdd, welcome: str, error: str, *, sent_at: datetime | None = None) -> None:
    ChannelCodeAdd.objects.filter(pk=add.pk, welcome=Welcome.PENDING).update(
        welcome=welcome, welcome_error=error, welcome_sent_at=sent_at
    )
    if welcome not in (Welcome.SENT, Welcome.ALREADY_SENT):
        logger.warning("Channel code %s: welcome message for %s not sent: %s", add.code_id, add.external_userid, error)
