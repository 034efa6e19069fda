"""Reads of customers, employees, external contacts and follow relations, each with the joins its callers need.

What a user may see is decided here (``customers_visible_to``): the API, the admin and the sidebar all start from it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.db.models.functions import Right

from customers.models import Customer, Employee, ExternalContact, FollowRelation, TimelineEntry
from customers.phones import last4_or_none, phone_normalize, phone_or_none


def contact_relations(*, external_userid: str, active_only: bool = False) -> QuerySet[FollowRelation]:
    """Everyone who follows (or followed) this contact, employee and contact joined in: one query."""
    relations = FollowRelation.objects.filter(contact__external_userid=external_userid).select_related(
        "employee", "contact"
    )
    if active_only:
        relations = relations.filter(status=FollowRelation.Status.ACTIVE)
    return relations.order_by("added_at", "id")


def employee_relations(*, userid: str, active_only: bool = True) -> QuerySet[FollowRelation]:
    """This employee's contacts (active ones by default), contact joined in: one query."""
    relations = FollowRelation.objects.filter(employee__userid=userid).select_related("employee", "contact")
    if active_only:
        relations = relations.filter(status=FollowRelation.Status.ACTIVE)
    return relations.order_by("-added_at", "-id")


def employee_get(*, userid: str) -> Employee | None:
    return Employee.objects.filter(userid=userid).first()


def external_contact_get(*, external_userid: str) -> ExternalContact | None:
    return ExternalContact.objects.filter(external_userid=external_userid).first()


def employee_userids_known(*, userids: Iterable[str]) -> set[str]:
    """Which of these ids are employees we know (groups use it to tell members from contacts)."""
    return set(Employee.objects.filter(userid__in=list(userids)).values_list("userid", flat=True))


def external_contacts_without_detail(*, limit: int = 1000) -> QuerySet[ExternalContact]:
    """Placeholders created from callbacks whose WeCom detail has not been fetched yet (for the gateway)."""
    return ExternalContact.objects.filter(synced_at__isnull=True).order_by("created_at", "id")[:limit]


def employees_without_detail(*, limit: int = 1000) -> QuerySet[Employee]:
    """Placeholder employees (userid only) that the directory sync has not filled in yet."""
    return Employee.objects.filter(name="").order_by("created_at", "id")[:limit]


# ---- customers -----------------------------------------------------------------------------------------------


def user_employee(user) -> Employee | None:
    """The employee a staff login belongs to (``Employee.user``), or None."""
    if not getattr(user, "is_authenticated", False):
        return None
    return Employee.objects.filter(user=user).first()


def can_see_all_customers(user) -> bool:
    return bool(getattr(user, "is_active", False)) and user.has_perm("customers.view_all_customers")


def customers_visible_to(*, user) -> QuerySet[Customer]:
    """Every customer for ops; for sales, the customers their employee owns or follows (an active relation)."""
    if can_see_all_customers(user):
        return Customer.objects.all()
    employee = user_employee(user) if getattr(user, "is_active", False) else None
    if employee is None:
        return Customer.objects.none()
    return Customer.objects.filter(pk__in=sorted(customer_ids_of(employee=employee)))


def of_visible_customers(queryset: QuerySet, *, user, customer_path: str = "customer") -> QuerySet:
    """Rows (orders, alerts, transfers …) of customers ``user`` may see, reached by ``customer_path``; no filter
    at all for ops (a subquery over every customer would only cost)."""
    if can_see_all_customers(user):
        return queryset
    return queryset.filter(**{f"{customer_path}__in": customers_visible_to(user=user)})


def customer_ids_of(*, employee: Employee) -> set[int]:
    """The customers an employee owns or follows (an active relation), as ids: two index lookups. Filtering
    customers by "owner = e OR EXISTS(relation)" instead makes PostgreSQL walk every customer, seconds at a
    million; an employee has at most a few tens of thousands (WeCom's own per-employee limit)."""
    owned = Customer.objects.filter(owner=employee).values_list("pk", flat=True)
    followed = ExternalContact.objects.filter(
        follow_relations__employee=employee, follow_relations__status=FollowRelation.Status.ACTIVE
    ).values_list("customer_id", flat=True)
    return set(owned) | {pk for pk in followed if pk is not None}


def customers_search(
    *,
    user,
    query: str = "",
    owner_id: int | None = None,
    opportunity_stage_id: int | None = None,
    lifecycle_stage: str = "",
    contacted_after: datetime | None = None,
    contacted_before: datetime | None = None,
    marketing_opt_out: bool | None = None,
) -> QuerySet[Customer]:
    """The customer list: ``query`` is a phone number (exact), its last four digits, or part of a name."""
    customers = customers_matching(
        customers_visible_to(user=user).select_related("owner", "opportunity_stage", "tier"), query
    )
    filters = {
        "owner_id": owner_id,
        "opportunity_stage_id": opportunity_stage_id,
        "lifecycle_stage": lifecycle_stage or None,
        "last_contact_at__gte": contacted_after,
        "last_contact_at__lt": contacted_before,
        "marketing_opt_out": marketing_opt_out,
    }
    return customers.filter(**{name: value for name, value in filters.items() if value is not None})


@dataclass(frozen=True)
class CustomerFilter:
    """A list filter another app adds (``?<name>=<value>``): ``apply(customers, value, user=user)`` narrows the
    queryset or raises ValidationError."""

    name: str
    apply: Callable[..., QuerySet[Customer]]
    description: str = ""


_customer_filters: dict[str, CustomerFilter] = {}


def register_customer_filter(name: str, apply: Callable[..., QuerySet[Customer]], *, description: str = "") -> None:
    """Let an app that depends on customers (tagging's ``?segment=``) filter the customer list without customers
    importing it. Register at import time of a module the app's ``ready`` loads."""
    _customer_filters[name] = CustomerFilter(name, apply, description)


def customer_filters() -> list[CustomerFilter]:
    return list(_customer_filters.values())


def customers_filter_by(customers: QuerySet[Customer], params: Mapping[str, str], *, user) -> QuerySet[Customer]:
    """The registered filters whose parameter is given (non-empty); a refused value is a ValidationError naming
    that parameter, whatever field the filter's own error named."""
    for registered in _customer_filters.values():
        value = params.get(registered.name)
        if not value:
            continue
        try:
            customers = registered.apply(customers, value, user=user)
        except ValidationError as exc:
            raise ValidationError({registered.name: exc.messages}) from None
    return customers


def customers_matching(customers: QuerySet[Customer], query: str) -> QuerySet[Customer]:
    """Staff type a phone number (any spelling: exact match), its last four digits, or part of a name."""
    query = (query or "").strip()
    if not query:
        return customers
    if last4 := last4_or_none(query):
        return customers.exclude(phone="").annotate(last4=Right("phone", 4)).filter(last4=last4)
    if phone := phone_or_none(query):
        return customers.filter(phone=phone)
    return customers.filter(name__icontains=query)


def customer_by_phone(*, phone: str) -> Customer | None:
    """The customer with this number (any accepted spelling), or None; invalid numbers raise ValidationError."""
    return Customer.objects.filter(phone=phone_normalize(phone)).first()


def customer_timeline(
    *, customer: Customer, before: tuple[datetime, int] | None = None, limit: int = 20
) -> list[TimelineEntry]:
    """A page of the timeline, newest first: entries older than ``before`` = (occurred_at, id) of the last entry
    of the previous page. Keyset pagination on the (customer, occurred_at, id) index: any page costs the same."""
    entries = TimelineEntry.objects.filter(customer=customer).select_related("employee")
    if before is not None:
        at, pk = before
        entries = entries.filter(Q(occurred_at__lt=at) | Q(occurred_at=at, id__lt=pk))
    return list(entries.order_by("-occurred_at", "-id")[:limit])
