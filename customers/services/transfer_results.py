"""Customer transfer results: WeCom only *starts* a transfer, so a beat tick asks ``transfer_result`` (or
``resigned/transfer_result``) about the due ones until each is final, and a ``transfer_fail`` callback can end one.

- 1 done: the old relation is marked transferred and the takeover employee's relation made active, the takeover
  employee owns the customer if the handover employee did, and the customer's timeline and the audit log say so;
- 2 waiting: checked again later (hourly; closer together around the 24-hour mark when WeCom completes it);
- 3 refused by the customer, 4 takeover employee at the limit: failed with the reason, and an alert.

A row whose request got no answer (pending with ``requested_at``) is checked the same way: listed, it takes the
listed status; not listed, it never started and fails so that staff can ask again (it is never re-sent by itself).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, CustomerTransfer, FollowRelation, TimelineEntry
from customers.services.alerts import transfer_failure_alerts_raise
from customers.services.timeline import timeline_add
from customers.services.transfers import (
    NOT_STARTED,
    rows_save,
    transfer_next_check,
    transfers_send,
)
from customers.services.wecom import FollowChange, follow_relations_apply
from customers.transfer_selectors import OPEN_STATUSES, open_transfer_for, transfers_due, transfers_unsent
from scrm.core.services import audit_record
from scrm.core.upsert import as_int, as_text, wecom_time
from scrm.wecom.client import get_client
from scrm.wecom.errors import WeComConfigError, WeComError

logger = logging.getLogger(__name__)

Kind, Status = CustomerTransfer.Kind, CustomerTransfer.Status
POLL_LEASE = timedelta(minutes=10)  # a claimed result check; a tick that dies leaves it due again after this
UNSENT_GRACE = timedelta(minutes=2)  # the request's own task normally sends within seconds
MATCH_SLACK = timedelta(hours=1)  # clocks differ: a result whose takeover time is this much before our request
ADD_WAY_ASSIGNED = 202  # WeCom's add_way for 管理员/负责人分配

# transfer_result statuses
RESULT_DONE, RESULT_WAITING, RESULT_REFUSED, RESULT_FULL = 1, 2, 3, 4
RESULT_REASONS = {
    RESULT_REFUSED: _("The customer refused the transfer."),
    RESULT_FULL: _("The takeover employee has reached the customer limit."),
}
FAIL_REASON_CODES = {"customer_refused": RESULT_REFUSED, "customer_limit_exceed": RESULT_FULL}


def transfers_tick(*, now: datetime | None = None, client=None) -> Counter:
    """The beat tick: send what a lost task left unsent, then check the results that are due."""
    now = now or timezone.now()
    counts: Counter = Counter()
    unsent = list(transfers_unsent(created_before=now - UNSENT_GRACE).values_list("pk", flat=True)[:10_000])
    if unsent:
        counts.update(transfers_send(transfer_ids=unsent, client=client))
    counts.update(transfers_poll(now=now, client=client))
    return counts


def transfers_poll(*, now: datetime | None = None, client=None) -> Counter:
    """Check the due transfers with WeCom, one paged ``transfer_result`` read per (handover, takeover, kind), and
    apply what it says. Returns how many rows became done, failed, or stay waiting."""
    now = now or timezone.now()
    counts: Counter = Counter()
    groups = list(transfers_due(now=now).values_list("handover_id", "takeover_id", "kind").distinct().order_by())
    if not groups:
        return counts
    try:
        client = client or get_client("contact")
    except WeComConfigError as exc:
        logger.warning("Transfer results not checked: %s", exc)
        return counts
    for handover_id, takeover_id, kind in groups:
        rows = _claim_due(handover_id, takeover_id, kind, now)
        if not rows:
            continue
        try:
            results = _results(client, rows[0].handover.userid, rows[0].takeover.userid, kind)
        except WeComError as exc:  # the claim's lease runs out and the next tick asks again
            logger.warning("Transfer results of %s → %s not read: %s", rows[0].handover, rows[0].takeover, exc)
            continue
        counts.update(_apply_results(rows, results, now))
    return counts


def _claim_due(handover_id: int, takeover_id: int, kind: str, now: datetime) -> list[CustomerTransfer]:
    with transaction.atomic():
        rows = list(
            transfers_due(now=now)
            .filter(handover_id=handover_id, takeover_id=takeover_id, kind=kind)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("contact__customer", "handover", "takeover")
        )
        CustomerTransfer.objects.filter(pk__in=[row.pk for row in rows]).update(next_poll_at=now + POLL_LEASE)
    return rows


def _results(client, handover_userid: str, takeover_userid: str, kind: str) -> dict[str, list[tuple[int, int]]]:
    """external_userid → [(status, takeover_time)] for every transfer WeCom lists between the two employees."""
    read = (
        client.external_contact.transfer_result
        if kind == Kind.IN_POST
        else client.external_contact.resigned_transfer_result
    )
    results: dict[str, list[tuple[int, int]]] = defaultdict(list)
    cursor = ""
    while True:
        page = read(handover_userid, takeover_userid, cursor=cursor)
        for item in page.get("customer") or []:
            status = as_int(item.get("status"), "status")
            results[as_text(item.get("external_userid"))].append((status, int(item.get("takeover_time") or 0)))
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return results


def _match(entries: list[tuple[int, int]], requested_at: datetime) -> tuple[int, datetime | None] | None:
    """The entry of *this* transfer: WeCom lists every transfer between the two employees, older ones included,
    and a transfer's takeover time is never before it was requested."""
    earliest = (requested_at - MATCH_SLACK).timestamp()
    mine = [(takeover, status) for status, takeover in entries if takeover == 0 or takeover >= earliest]
    if not mine:
        return None
    takeover, status = max(mine)
    return status, wecom_time(takeover, field="takeover_time")


def _apply_results(rows: list[CustomerTransfer], results: dict, now: datetime) -> Counter:
    done, failed, waiting = [], [], []
    for row in rows:
        match = _match(results.get(row.contact.external_userid, []), row.requested_at)
        if match is None:
            if row.status == Status.PENDING:  # the unanswered request did not start anything
                failed.append((row, None, gettext(NOT_STARTED)))
            else:
                waiting.append((row, row.errcode))
            continue
        status, takeover_at = match
        if status == RESULT_DONE:
            done.append((row, takeover_at or now))
        elif status in RESULT_REASONS:
            failed.append((row, status, gettext(RESULT_REASONS[status])))
        else:
            waiting.append((row, status))
    return Counter(
        done=_complete(done, now=now),
        failed=_fail_started(failed, now=now),
        waiting=_keep_waiting(waiting, now=now),
    )


def _keep_waiting(waiting: list[tuple[CustomerTransfer, int | None]], *, now: datetime) -> int:
    if not waiting:
        return 0
    with transaction.atomic():
        waiting = _still_open(waiting)
        for row, status in waiting:
            row.status, row.errcode, row.reason = Status.WAITING, status, ""
            row.next_poll_at = transfer_next_check(row.requested_at, now)
        rows_save([row for row, _status in waiting], ["status", "errcode", "reason", "next_poll_at"])
    return len(waiting)


def _still_open(rows: list) -> list:
    """Those of ``(transfer, ...)`` still open, locked: a callback may have ended one since it was claimed."""
    open_ids = set(
        CustomerTransfer.objects.select_for_update()
        .filter(pk__in=[item[0].pk for item in rows], status__in=OPEN_STATUSES)
        .values_list("pk", flat=True)
    )
    return [item for item in rows if item[0].pk in open_ids]


def _complete(done: list[tuple[CustomerTransfer, datetime]], *, now: datetime) -> int:
    """WeCom finished these transfers (all of one handover and takeover): the relations move, the takeover
    employee owns the customers the handover employee owned, each gets a timeline entry and an audit record."""
    if not done:
        return 0
    handover, takeover = done[0][0].handover, done[0][0].takeover
    with transaction.atomic():
        done = _still_open(done)
        if not done:
            return 0
        contact_ids = [row.contact_id for row, _at in done]
        already = set(
            FollowRelation.objects.filter(employee=takeover, contact_id__in=contact_ids).values_list(
                "contact_id", flat=True
            )
        )
        changes = []
        for row, at in done:
            ext = row.contact.external_userid
            changes.append(FollowChange(handover.userid, ext, at, status=FollowRelation.Status.TRANSFERRED))
            values = {} if row.contact_id in already else {"added_at": at, "add_way": ADD_WAY_ASSIGNED}
            changes.append(FollowChange(takeover.userid, ext, at, values=values))
        follow_relations_apply(changes=changes)
        customer_ids = {row.contact.customer_id for row, _at in done}
        moved = set(
            Customer.objects.select_for_update()
            .filter(pk__in=customer_ids, owner_id=handover.pk)
            .values_list("pk", flat=True)
        )
        Customer.objects.filter(pk__in=moved).update(owner_id=takeover.pk, updated_at=now)
        for row, at in done:
            row.status, row.errcode, row.reason, row.takeover_at, row.next_poll_at = Status.DONE, 1, "", at, None
        rows_save([row for row, _at in done], ["status", "errcode", "reason", "takeover_at", "next_poll_at"])
        for row, at in done:
            owner_moved = row.contact.customer_id in moved
            if row.contact.customer is not None:
                timeline_add(
                    customer=row.contact.customer,
                    kind=TimelineEntry.Kind.RELATION,
                    channel=TimelineEntry.Channel.WECOM,
                    occurred_at=at,
                    source_key=f"transfer:{row.pk}",
                    employee=takeover,
                    summary=gettext("Transferred from %(from)s to %(to)s") % {"from": handover, "to": takeover},
                    data={
                        "transfer": row.pk,
                        "kind": row.kind,
                        "handover": handover.userid,
                        "owner_moved": owner_moved,
                    },
                )
            changes = {"status": [Status.WAITING, Status.DONE], "takeover_at": at}
            if owner_moved:
                changes["customer_owner"] = [handover.userid, takeover.userid]
            audit_record(actor=None, action="transfer_done", target=row, changes=changes, at=now)
    return len(done)


def _fail_started(failed: list[tuple[CustomerTransfer, int | None, str]], *, now: datetime) -> int:
    """WeCom ended these transfers without moving the customer: failed with the reason, and an alert each."""
    if not failed:
        return 0
    with transaction.atomic():
        failed = _still_open(failed)
        if not failed:
            return 0
        for row, errcode, reason in failed:
            row.status, row.errcode, row.reason, row.next_poll_at = Status.FAILED, errcode, reason[:255], None
        rows = [row for row, _code, _reason in failed]
        rows_save(rows, ["status", "errcode", "reason", "next_poll_at"])
        for row in rows:
            audit_record(actor=None, action="transfer_failed", target=row, changes={"reason": row.reason}, at=now)
        transfer_failure_alerts_raise(transfers=rows)
    return len(failed)


def transfer_fail_record(
    *, takeover_userid: str, external_userid: str, fail_reason: str, at: datetime | None = None
) -> CustomerTransfer | None:
    """WeCom's ``transfer_fail`` callback: the open transfer of this customer to this employee failed
    (``customer_refused`` or ``customer_limit_exceed``). Returns it, or None if we have no such open transfer
    (started elsewhere, or already ended: a re-delivered callback changes nothing)."""
    transfer = open_transfer_for(external_userid=external_userid, takeover_userid=takeover_userid)
    if transfer is None:
        return None
    errcode = FAIL_REASON_CODES.get(fail_reason)
    if errcode is not None:
        reason = gettext(RESULT_REASONS[errcode])
    else:
        reason = gettext("WeCom reported the transfer failed (%(reason)s).") % {"reason": fail_reason or "?"}
    return transfer if _fail_started([(transfer, errcode, reason)], now=at or timezone.now()) else None
