"""Reads of customer groups and members, each with the joins its callers need."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from customers.models import ExternalContact
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


NO_BOT = "none"  # the bot filter's value for groups no bot runs


def groups_filtered(
    *,
    owner_userid: str = "",
    status: str = "",
    tag: int | None = None,
    bot: str = "",
    q: str = "",
) -> QuerySet[CustomerGroup]:
    """Groups by owner, status, group tag (``tagging.GroupTag`` id), bot (an id, or ``"none"``: no bot runs
    them) and ``q`` (part of the name, or the exact chat id), newest first, each with its bot: one query."""
    groups = CustomerGroup.objects.select_related("bot_assignment__bot")
    if owner_userid:
        groups = groups.filter(owner_userid=owner_userid)
    if status:
        groups = groups.filter(status=status)
    if tag is not None:
        groups = groups.filter(tag_ids__has_all=[tag])
    if bot == NO_BOT:
        groups = groups.filter(bot_assignment__isnull=True)
    elif bot:
        groups = groups.filter(bot_assignment__bot_id=int(bot))
    if q:
        groups = groups.filter(Q(name__icontains=q) | Q(chat_id=q))
    return groups.order_by("-created_at", "-pk")


def memberships_of_customer(*, customer_id: int, include_left: bool = False) -> QuerySet[GroupMember]:
    """The group memberships of the customer's WeCom contacts, newest join first, each with its group and the
    group's bot: one query."""
    contacts = ExternalContact.objects.filter(customer_id=customer_id).values("external_userid")
    memberships = GroupMember.objects.filter(member_id__in=contacts).select_related("group__bot_assignment__bot")
    if not include_left:
        memberships = memberships.current()
    return memberships.order_by("-join_time", "-pk")
