"""Reads of employees, external contacts and follow relations, each with the joins its callers need."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import QuerySet

from customers.models import Employee, ExternalContact, FollowRelation


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
