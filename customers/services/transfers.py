"""Customer transfers (在职继承 / 离职继承): the company keeps its customers when staff change.

A request becomes ``CustomerTransfer`` rows (pending) in one transaction; after commit a task sends them to WeCom,
at most 100 customers per call. WeCom answers per customer: errcode 0 starts a 24-hour handover (the row waits),
anything else refuses that customer (the row fails with the code and a plain reason). A beat tick then checks the
results until each row is final (``customers.services.transfer_results``).

States of a row: pending without ``requested_at`` = not sent yet; pending *with* ``requested_at`` = being sent, or
sent without an answer (``WeComOutcomeUnknown``). Such a call is never repeated: the result check later finds out
from WeCom whether the transfer started, and fails the row (so staff can ask again) if it did not.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from customers.models import CustomerTransfer, Employee, ExternalContact, FollowRelation
from customers.services.wecom import FollowChange, employee_mark_resigned, follow_relations_apply
from customers.transfer_selectors import (
    UNASSIGNED_CACHE_KEY,
    Eligibility,
    transfer_eligibility,
)
from scrm.core.services import audit_record
from scrm.core.upsert import as_text, wecom_time
from scrm.wecom.client import get_client
from scrm.wecom.client.api import MAX_TRANSFER
from scrm.wecom.errors import (
    WeComConfigError,
    WeComError,
    WeComOutcomeUnknown,
    WeComRateLimited,
    WeComTokenError,
    WeComTransientError,
)

logger = logging.getLogger(__name__)

Kind, Status = CustomerTransfer.Kind, CustomerTransfer.Status
MAX_SUCCESS_MSG = 200  # WeCom's limit on transfer_success_msg
# A call without an answer: when to ask transfer_result whether it started (also the claim's lease while sending).
OUTCOME_CHECK_DELAY = timedelta(minutes=10)
HANDOVER_DELAY = timedelta(hours=24)  # WeCom completes a transfer 24 h after it started
UNASSIGNED_TTL = 24 * 3600

# Per-customer errcodes of transfer_customer / resigned/transfer_customer, in plain words.
ERRCODE_REASONS = {
    40128: _("transferred twice within 90 days"),
    40129: _("the customer is already being transferred"),
    40131: _("the handover employee does not follow this customer"),
    40096: _("WeCom does not know this customer"),
    40097: _("the handover employee has not resigned"),
    40130: _("handover and takeover are the same employee"),
    40003: _("the takeover employee is not an active member"),
}
OUTCOME_UNKNOWN = _(
    "WeCom may have started this transfer (the request got no answer); its result will be checked. "
    "It is not sent again automatically."
)
NOT_STARTED = _("WeCom did not start this transfer (the request got no answer); request it again.")


@dataclass
class TransferRequest:
    """What ``customers_transfer`` did: the rows it created, the contacts it refused (with the reason), and the
    customers that had no contact the handover employee follows."""

    created: list[CustomerTransfer] = field(default_factory=list)
    refused: list[Eligibility] = field(default_factory=list)
    customers_without_contact: list[int] = field(default_factory=list)


def customers_transfer(
    *,
    handover: Employee,
    takeover: Employee,
    kind: str,
    actor=None,
    contacts: Iterable[ExternalContact] | None = None,
    customer_ids: Iterable[int] | None = None,
    success_msg: str = "",
    at: datetime | None = None,
) -> TransferRequest:
    """Request the transfer of ``contacts`` (or of the contacts of ``customer_ids`` that ``handover`` follows) to
    ``takeover``. Ineligible contacts (``transfer_eligibility``) are refused and reported, the others become
    pending rows, sent to WeCom by a task once this transaction has committed."""
    _check_request(handover=handover, takeover=takeover, kind=kind, success_msg=success_msg)
    if (contacts is None) == (customer_ids is None):
        raise ValueError("pass exactly one of contacts and customer_ids")
    result = TransferRequest()
    if customer_ids is not None:
        customer_ids = set(customer_ids)
        pairs = ExternalContact.objects.filter(
            customer_id__in=customer_ids,
            follow_relations__employee=handover,
            follow_relations__status=FollowRelation.Status.ACTIVE,
        ).values_list("pk", "customer_id")
        contact_ids = {pk for pk, _customer_id in pairs}
        result.customers_without_contact = sorted(customer_ids - {customer_id for _pk, customer_id in pairs})
    else:
        contact_ids = {contact.pk for contact in contacts}
    if not contact_ids and not result.customers_without_contact:
        raise ValidationError({"contacts": _("Choose at least one customer to transfer.")}, code="required")
    at = at or timezone.now()
    with transaction.atomic():
        # Locking the contacts serializes two requests for the same customers, so the rule is checked against
        # every transfer that exists (the partial unique constraint is the last guard).
        locked = list(ExternalContact.objects.select_for_update().filter(pk__in=contact_ids).order_by("pk"))
        for eligibility in transfer_eligibility(contacts=locked, kind=kind, handover=handover, at=at):
            if not eligibility.allowed:
                result.refused.append(eligibility)
        refused = {eligibility.contact.pk for eligibility in result.refused}
        rows = [
            CustomerTransfer(kind=kind, contact=contact, handover=handover, takeover=takeover, actor=actor)
            for contact in locked
            if contact.pk not in refused
        ]
        for row in rows:
            row.full_clean(
                validate_unique=False, validate_constraints=False, exclude=["contact", "handover", "takeover", "actor"]
            )
        result.created = CustomerTransfer.objects.bulk_create(rows)
        if result.created or result.refused:
            audit_record(
                actor=actor,
                action="transfer_request",
                target=handover,
                changes={
                    "kind": kind,
                    "takeover": takeover.userid,
                    "transfers": [row.pk for row in result.created],
                    "refused": {e.contact.external_userid: str(e.reason) for e in result.refused},
                },
            )
        if ids := [row.pk for row in result.created]:
            transaction.on_commit(lambda: _enqueue_send(ids, success_msg))
    return result


def _enqueue_send(ids: list[int], success_msg: str) -> None:
    from customers.tasks import send_transfers

    send_transfers.delay(ids, success_msg)


def _check_request(*, handover: Employee, takeover: Employee, kind: str, success_msg: str) -> None:
    errors = {}
    if kind not in Kind.values:
        errors["kind"] = _("Choose in post or resigned.")
    if handover.pk == takeover.pk:
        errors["takeover"] = _("The takeover employee must differ from the handover employee.")
    elif takeover.status == Employee.Status.RESIGNED:
        errors["takeover"] = _("%(employee)s has resigned and cannot take over customers.") % {"employee": takeover}
    if kind == Kind.RESIGNED and handover.status != Employee.Status.RESIGNED:
        errors["handover"] = _("%(employee)s has not resigned: use an in-post transfer.") % {"employee": handover}
    elif kind == Kind.IN_POST and handover.status == Employee.Status.RESIGNED:
        errors["handover"] = _("%(employee)s has resigned: use a transfer on resignation.") % {"employee": handover}
    if success_msg and kind != Kind.IN_POST:
        errors["success_msg"] = _("Only an in-post transfer sends a message to the customer.")
    elif len(success_msg) > MAX_SUCCESS_MSG:
        errors["success_msg"] = _("At most %(max)s characters.") % {"max": MAX_SUCCESS_MSG}
    if errors:
        raise ValidationError(errors)


# ---- sending ---------------------------------------------------------------------------------------------------


def transfers_send(*, transfer_ids: Iterable[int] | None = None, success_msg: str = "", client=None) -> Counter:
    """Send pending, never-sent transfers (these ids, or all) to WeCom: one call per ≤ 100 customers of the same
    handover, takeover and kind. Returns how many rows ended waiting, failed, unknown or released (not sent:
    WeCom busy or limited; the beat tick sends them later)."""
    unsent = CustomerTransfer.objects.filter(status=Status.PENDING, requested_at__isnull=True)
    if transfer_ids is not None:
        unsent = unsent.filter(pk__in=list(transfer_ids))
    counts: Counter = Counter()
    groups = list(unsent.values_list("handover_id", "takeover_id", "kind").distinct().order_by())
    if not groups:
        return counts
    try:
        client = client or get_client("contact")
    except WeComConfigError as exc:
        counts["failed"] += _fail_unsent(unsent, exc)
        return counts
    employees = Employee.objects.in_bulk({pk for group in groups for pk in group[:2]})
    for handover_id, takeover_id, kind in groups:
        group = unsent.filter(handover_id=handover_id, takeover_id=takeover_id, kind=kind)
        while batch := _claim_unsent(group):
            outcome = _send_batch(client, batch, employees[handover_id], employees[takeover_id], kind, success_msg)
            counts.update(outcome)
            if outcome.get("released") or outcome.get("unknown") == len(batch):
                break  # WeCom is busy or unreachable: leave the rest of this group for the tick
    return counts


def _claim_unsent(group) -> list[CustomerTransfer]:
    with transaction.atomic():
        batch = list(
            group.select_for_update(skip_locked=True, of=("self",))
            .select_related("contact")
            .order_by("pk")[:MAX_TRANSFER]
        )
        if batch:
            now = timezone.now()
            CustomerTransfer.objects.filter(pk__in=[row.pk for row in batch]).update(
                requested_at=now, next_poll_at=now + OUTCOME_CHECK_DELAY, updated_at=now
            )
            for row in batch:
                row.requested_at, row.next_poll_at = now, now + OUTCOME_CHECK_DELAY
    return batch


def _send_batch(client, batch, handover: Employee, takeover: Employee, kind: str, success_msg: str) -> Counter:
    externals = [row.contact.external_userid for row in batch]
    try:
        if kind == Kind.IN_POST:
            answer = client.external_contact.transfer_customer(
                handover.userid, takeover.userid, externals, transfer_success_msg=success_msg or None
            )
        else:
            answer = client.external_contact.resigned_transfer_customer(handover.userid, takeover.userid, externals)
    except WeComOutcomeUnknown as exc:
        logger.warning("Transfer of %s customers from %s: outcome unknown (%s)", len(batch), handover.userid, exc)
        rows_save(batch, ["reason"], reason=gettext(OUTCOME_UNKNOWN))
        return Counter(unknown=len(batch))
    except (WeComTransientError, WeComRateLimited, WeComTokenError) as exc:
        # WeCom answered "busy"/"limited" or nothing was sent: not applied, so sending again later is safe.
        logger.warning("Transfer of %s customers from %s postponed: %s", len(batch), handover.userid, exc)
        rows_save(
            batch,
            ["requested_at", "next_poll_at", "reason"],
            requested_at=None,
            next_poll_at=None,
            reason=str(exc)[:255],
        )
        return Counter(released=len(batch))
    except WeComError as exc:  # WeCom refused the whole call: nothing started
        reason = _errcode_reason(exc.errcode, str(exc))
        rows_save(
            batch,
            ["status", "errcode", "reason", "next_poll_at"],
            status=Status.FAILED,
            errcode=exc.errcode,
            reason=reason,
            next_poll_at=None,
        )
        return Counter(failed=len(batch))
    codes = {as_text(item.get("external_userid")): item.get("errcode") for item in answer.get("customer") or []}
    counts: Counter = Counter()
    for row in batch:
        code = codes.get(row.contact.external_userid)
        if code is None:  # WeCom left this customer out of its answer: find out from the result check
            row.reason = gettext(OUTCOME_UNKNOWN)
            counts["unknown"] += 1
        elif int(code) == 0:
            row.status, row.errcode, row.reason = Status.WAITING, 0, ""
            row.next_poll_at = transfer_next_check(row.requested_at, row.requested_at)
            counts["waiting"] += 1
        else:
            row.status, row.errcode, row.next_poll_at = Status.FAILED, int(code), None
            row.reason = _errcode_reason(int(code))
            counts["failed"] += 1
    rows_save(batch, ["status", "errcode", "reason", "next_poll_at"])
    return counts


def transfer_next_check(requested_at: datetime, now: datetime) -> datetime:
    """Hourly while the customer may still refuse; closer together around the 24-hour mark when WeCom completes
    it; rarely once something has kept it waiting for days."""
    age = now - requested_at
    if age < HANDOVER_DELAY - timedelta(hours=1):
        return now + timedelta(hours=1)
    if age < HANDOVER_DELAY + timedelta(hours=2):
        return now + timedelta(minutes=15)
    if age < timedelta(days=3):
        return now + timedelta(hours=1)
    return now + timedelta(hours=6)


def _errcode_reason(errcode: int | None, detail: str = "") -> str:
    if errcode in ERRCODE_REASONS:
        return f"{ERRCODE_REASONS[errcode]} (errcode {errcode})"
    text = gettext("WeCom refused the transfer (errcode %(code)s).") % {"code": errcode}
    return f"{text} {detail}"[:255] if detail else text


def rows_save(rows: list[CustomerTransfer], fields: list[str], **values) -> None:
    now = timezone.now()
    for row in rows:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = now
    CustomerTransfer.objects.bulk_update(rows, [*fields, "updated_at"])


def _fail_unsent(unsent, exc: WeComError) -> int:
    return unsent.update(
        status=Status.FAILED, errcode=exc.errcode, reason=str(exc)[:255], next_poll_at=None, updated_at=timezone.now()
    )


# ---- unassigned customers of resigned staff ------------------------------------------------------------------


def unassigned_refresh(*, client=None, page_size: int = 1000) -> int:
    """Read WeCom's list of resigned staff's customers awaiting a new owner (``get_unassigned_list``, by cursor),
    keep it for the admin page, and make sure each contact, its resigned employee (marked resigned) and their
    relation exist here, so a transfer can name them. Returns how many customers are listed."""
    client = client or get_client("contact")
    now = timezone.now()
    rows: list[tuple[str, str, int]] = []
    for item in client.external_contact.iter_unassigned(page_size=page_size):
        ext, userid = as_text(item.get("external_userid")), as_text(item.get("handover_userid"))
        if ext and userid:
            rows.append((ext, userid, int(item.get("dimission_time") or 0)))
    for start in range(0, len(rows), 1000):
        follow_relations_apply(
            changes=[
                FollowChange(userid, ext, wecom_time(dimission, field="dimission_time") or now)
                for ext, userid, dimission in rows[start : start + 1000]
            ]
        )
    handovers = {userid for _ext, userid, _time in rows}
    for userid in (
        Employee.objects.filter(userid__in=handovers)
        .exclude(status=Employee.Status.RESIGNED)
        .values_list("userid", flat=True)
    ):
        employee_mark_resigned(userid=userid)
    cache.set(UNASSIGNED_CACHE_KEY, {"fetched_at": now, "rows": rows}, timeout=UNASSIGNED_TTL)
    return len(rows)
