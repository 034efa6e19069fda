"""Reads for customer transfers (在职继承 / 离职继承): who may be transferred now, which transfers are due for a
result check, and the unassigned customers of resigned staff that ops can hand on.

WeCom lets a customer of an employee in post be transferred at most twice within 90 days (errcode 40128 past
that). The admin and the API show that rule per customer *before* asking for confirmation, from our own records
of the transfers we requested; the eligibility is computed here so every interface shows the same answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import CustomerTransfer, Employee, ExternalContact, FollowRelation
from scrm.core.upsert import wecom_time

TRANSFER_WINDOW = timedelta(days=90)
TRANSFERS_PER_WINDOW = 2
OPEN_STATUSES = (CustomerTransfer.Status.PENDING, CustomerTransfer.Status.WAITING)
# Transfers that take one of the two slots: open ones (about to be, or being, transferred), finished ones, and
# those WeCom started but the customer refused (3) or the takeover employee could not take (4); not those WeCom
# refused outright (a per-customer errcode), which never started.
COUNTED_STATUSES = (*OPEN_STATUSES, CustomerTransfer.Status.DONE)
STARTED_THEN_FAILED = (3, 4)
UNASSIGNED_CACHE_KEY = "customers:transfers:unassigned"


@dataclass(frozen=True)
class Eligibility:
    """Whether ``contact`` can be transferred now. ``possible_from`` is set when the 90-day rule refuses it: the
    moment the older of its two recent transfers leaves the window."""

    contact: ExternalContact
    allowed: bool
    reason: str = ""
    transfers_in_window: int = 0
    possible_from: datetime | None = None
    open_transfer_id: int | None = None


def transfer_eligibility(
    *,
    contacts: Iterable[ExternalContact],
    kind: str = CustomerTransfer.Kind.IN_POST,
    handover: Employee | None = None,
    at: datetime | None = None,
) -> list[Eligibility]:
    """One ``Eligibility`` per contact, in the given order, in one query (two with ``handover``):

    - a transfer already under way (pending or waiting, whoever hands over) refuses it: WeCom answers 40129;
    - in post, two transfers within the last 90 days (open, done, or ended by the customer or the takeover
      employee's limit after WeCom started them) refuse it until the older one is 90 days old; WeCom applies no
      such rule on resignation;
    - with ``handover``, the customer must be one that employee actively follows (WeCom answers 40131).
    """
    contacts = list(contacts)
    at = at or timezone.now()
    since = at - TRANSFER_WINDOW
    history: dict[int, list[tuple[datetime, int | None]]] = defaultdict(list)
    open_ids: dict[int, int] = {}
    rows = (
        CustomerTransfer.objects.filter(contact_id__in=[contact.pk for contact in contacts])
        .filter(Q(status__in=OPEN_STATUSES) | Q(requested_at__gt=since))
        .values_list("pk", "contact_id", "status", "errcode", "requested_at", "created_at")
    )
    for pk, contact_id, status, errcode, requested_at, created_at in rows:
        if status in OPEN_STATUSES:
            open_ids.setdefault(contact_id, pk)
        when = requested_at or created_at
        if (status in COUNTED_STATUSES or errcode in STARTED_THEN_FAILED) and when > since:
            history[contact_id].append((when, pk))
    followed: set[int] | None = None
    if handover is not None:
        followed = set(
            FollowRelation.objects.filter(
                employee=handover,
                contact_id__in=[contact.pk for contact in contacts],
                status=FollowRelation.Status.ACTIVE,
            ).values_list("contact_id", flat=True)
        )
    return [
        _eligibility(contact, kind, history[contact.pk], open_ids.get(contact.pk), followed, handover)
        for contact in contacts
    ]


def _eligibility(
    contact: ExternalContact,
    kind: str,
    recent: list[tuple[datetime, int | None]],
    open_id: int | None,
    followed: set[int] | None,
    handover: Employee | None,
) -> Eligibility:
    count = len(recent)
    if followed is not None and contact.pk not in followed:
        reason = _("%(employee)s does not follow this customer.") % {"employee": handover}
        return Eligibility(contact=contact, allowed=False, reason=reason, transfers_in_window=count)
    if open_id is not None:
        reason = _("A transfer of this customer is already under way.")
        return Eligibility(contact, False, reason, transfers_in_window=count, open_transfer_id=open_id)
    if kind == CustomerTransfer.Kind.IN_POST and count >= TRANSFERS_PER_WINDOW:
        times = sorted((when for when, _pk in recent), reverse=True)
        # Allowed again once at most one transfer lies within the window: when the second newest leaves it.
        possible_from = times[TRANSFERS_PER_WINDOW - 1] + TRANSFER_WINDOW
        reason = _("Transferred twice within 90 days; possible again from %(date)s.") % {
            "date": timezone.localtime(possible_from).strftime("%Y-%m-%d %H:%M")
        }
        return Eligibility(contact, False, reason, transfers_in_window=count, possible_from=possible_from)
    return Eligibility(contact=contact, allowed=True, transfers_in_window=count)


def employee_transferable_contacts(*, handover: Employee, query: str = "", limit: int = 500) -> list[ExternalContact]:
    """The contacts ``handover`` actively follows (what can be handed on), customer joined in, by name."""
    contacts = ExternalContact.objects.filter(
        follow_relations__employee=handover, follow_relations__status=FollowRelation.Status.ACTIVE
    ).select_related("customer")
    if query := (query or "").strip():
        contacts = contacts.filter(Q(name__icontains=query) | Q(external_userid=query))
    return list(contacts.order_by("name", "pk")[:limit])


def transfers_due(*, now: datetime) -> QuerySet[CustomerTransfer]:
    """Transfers WeCom has (or may have) started whose result check is due: waiting ones, and pending ones whose
    request's outcome is unknown (``requested_at`` set while still pending)."""
    return CustomerTransfer.objects.filter(
        status__in=OPEN_STATUSES, requested_at__isnull=False, next_poll_at__lte=now
    ).order_by("next_poll_at", "pk")


def transfers_unsent(*, created_before: datetime) -> QuerySet[CustomerTransfer]:
    """Pending transfers never sent (their task lost, or WeCom was busy) created before ``created_before``."""
    return CustomerTransfer.objects.filter(
        status=CustomerTransfer.Status.PENDING, requested_at__isnull=True, created_at__lt=created_before
    ).order_by("pk")


def open_transfer_for(*, external_userid: str, takeover_userid: str) -> CustomerTransfer | None:
    """The open transfer of this customer to this employee (what a ``transfer_fail`` callback names)."""
    return (
        CustomerTransfer.objects.filter(
            contact__external_userid=external_userid, takeover__userid=takeover_userid, status__in=OPEN_STATUSES
        )
        .select_related("contact", "handover", "takeover")
        .order_by("-created_at", "-pk")
        .first()
    )


# ---- unassigned customers of resigned staff (离职待分配) --------------------------------------------------------


@dataclass(frozen=True)
class UnassignedContact:
    contact: ExternalContact
    handover_userid: str
    dimission_time: datetime | None


@dataclass(frozen=True)
class UnassignedList:
    fetched_at: datetime | None  # None: never fetched (or the cache lost it): refresh from WeCom
    rows: list[UnassignedContact]


def unassigned_contacts(*, handover_userid: str = "") -> UnassignedList:
    """The last list fetched from WeCom (``unassigned_refresh``), without the customers already being
    transferred, contact and customer joined in: two queries."""
    snapshot = cache.get(UNASSIGNED_CACHE_KEY)
    if not snapshot:
        return UnassignedList(fetched_at=None, rows=[])
    items = [item for item in snapshot["rows"] if not handover_userid or item[1] == handover_userid]
    contacts = ExternalContact.objects.select_related("customer").in_bulk(
        {ext for ext, _userid, _time in items}, field_name="external_userid"
    )
    busy = set(
        CustomerTransfer.objects.filter(contact__in=list(contacts.values()), status__in=OPEN_STATUSES).values_list(
            "contact__external_userid", "handover__userid"
        )
    )
    rows = [
        UnassignedContact(contacts[ext], userid, wecom_time(dimission, field="dimission_time"))
        for ext, userid, dimission in items
        if ext in contacts and (ext, userid) not in busy
    ]
    return UnassignedList(fetched_at=snapshot["fetched_at"], rows=rows)
