"""Reads of customer groups and members, each with the joins its callers need."""

from __future__ import annotations

from django.db.models import QuerySet

from groups.models import CustomerGroup, GroupMember


def group_get(*, chat_id: str) -> CustomerGroup | None:
    return CustomerGroup.objects.filter(chat_id=chat_id).first()


def group_members(*, chat_id: str, include_left: bool = False) -> QuerySet[GroupMember]:
    """A group's members (current ones unless ``include_left``), group joined in: one query."""
    members = GroupMember.objects.filter(group__chat_id=chat_id).select_related("group")
    if not include_left:
        members = members.current()
    return members.order_by("join_time", "id")


def groups_of_member(*, member_id: str, include_left: bool = False) -> QuerySet[CustomerGroup]:
    """The groups a userid or external_userid is in (or was in): one query."""
    memberships = GroupMember.objects.filter(member_id=member_id)
    if not include_left:
        memberships = memberships.current()
    return CustomerGroup.objects.filter(pk__in=memberships.values("group_id")).order_by("-created_at")


def groups_owned_by(*, userid: str, include_dismissed: bool = False) -> QuerySet[CustomerGroup]:
    groups = CustomerGroup.objects.filter(owner_userid=userid)
    if not include_dismissed:
        groups = groups.filter(status=CustomerGroup.Status.NORMAL)
    return groups.order_by("-created_at")


def groups_without_detail(*, limit: int = 1000) -> QuerySet[CustomerGroup]:
    """Placeholders made from callbacks whose groupchat/get detail has not been fetched yet (for the gateway)."""
    return CustomerGroup.objects.filter(synced_at__isnull=True).order_by("created_at", "id")[:limit]
