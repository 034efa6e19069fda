"""Writes to customer groups and their members: the full detail from groupchat/get, and the changes that
change_external_chat callbacks announce. All idempotent, all keep ``member_count`` equal to current members.

Every member change locks the group row first, so changes to one group apply one at a time. Each change carries
the time WeCom says it happened: a join older than the member's last departure (or a departure older than their
last join) is news that has been overtaken, and is ignored. An event about a group we do not know yet creates a
placeholder row (chat_id only) so nothing is lost; the sync fills it in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.selectors import employee_userids_known
from groups.models import CustomerGroup, GroupMember
from scrm.core.hooks import publish
from scrm.core.upsert import as_int, as_text, given, lock_or_create, require_id, update_changed, wecom_time

EXTERNAL_ID_PREFIXES = ("wm", "wo")  # WeCom's external_userid: wm… (WeChat user) / wo… (WeCom user)


# ---- groups ------------------------------------------------------------------------------------------------------


def group_ensure(*, chat_id: str, created_at: datetime | None = None) -> CustomerGroup:
    """The group row, as a placeholder (chat_id only, status normal) if we have not seen it yet."""
    require_id(chat_id, "chat_id")
    with transaction.atomic():
        group, created = lock_or_create(
            CustomerGroup, lookup={"chat_id": chat_id}, defaults=given(wecom_created_at=created_at)
        )
        if not created and created_at and group.wecom_created_at is None:
            update_changed(group, {"wecom_created_at": created_at})
    return group


def group_update_fields(
    *, chat_id: str, name: str | None = None, owner_userid: str | None = None, notice: str | None = None
) -> CustomerGroup:
    """Rename, change owner or notice (``None`` leaves a field as it is)."""
    require_id(chat_id, "chat_id")
    values = given(name=name, owner_userid=owner_userid, notice=notice)
    with transaction.atomic():
        group, created = lock_or_create(CustomerGroup, lookup={"chat_id": chat_id}, defaults=values)
        if not created:
            update_changed(group, values)
    return group


def group_dismiss(*, chat_id: str, at: datetime) -> CustomerGroup:
    """The group was dismissed (解散) at ``at``. Members keep their rows as they were at dismissal; the bot that
    ran the group gets its slot back (in this transaction, the group's row locked as the bot services lock it)."""
    from groups.services.bots import bot_groups_release_dismissed

    require_id(chat_id, "chat_id")
    values = {"status": CustomerGroup.Status.DISMISSED, "dismissed_at": at}
    with transaction.atomic():
        group, created = lock_or_create(CustomerGroup, lookup={"chat_id": chat_id}, defaults=values)
        if not created and group.status != CustomerGroup.Status.DISMISSED:
            update_changed(group, values)
        if not created:
            bot_groups_release_dismissed(group=group)
    return group


def group_upsert_from_wecom(*, detail: dict, at: datetime | None = None) -> CustomerGroup:
    """Apply groupchat/get's ``group_chat`` object (or the whole response holding it), fetched at ``at``
    (default now): the group's fields and its full member list. Listed members are in the group; members we
    had who are not listed left at ``at`` (unless they joined after the detail was fetched)."""
    data = detail.get("group_chat", detail) if isinstance(detail, dict) else None
    if not isinstance(data, dict):
        raise ValidationError({"group_chat": _("WeCom detail has no group_chat object.")})
    chat_id = as_text(data.get("chat_id"))
    require_id(chat_id, "chat_id")
    at = at or timezone.now()

    values: dict[str, Any] = {}
    for key, field in (("name", "name"), ("owner", "owner_userid"), ("notice", "notice")):
        if key in data:
            values[field] = as_text(data[key])
    if data.get("create_time"):
        values["wecom_created_at"] = wecom_time(data["create_time"], field="create_time")
    if "admin_list" in data:
        values["admin_userids"] = [as_text(admin.get("userid")) for admin in _objects(data["admin_list"], "admin_list")]
    listed = {}
    for item in _objects(data.get("member_list") or [], "member_list"):
        member = _member_values(item)
        listed[member["member_id"]] = member

    with transaction.atomic():
        group, created = lock_or_create(
            CustomerGroup, lookup={"chat_id": chat_id}, defaults={**values, "synced_at": at}
        )
        if not created:
            update_changed(group, {**values, "synced_at": group.synced_at or at})
        _set_member_version(group, as_text(data.get("member_version")), at)
        existing = {member.member_id: member for member in group.members.all()}
        new_members = []
        for member_id, member_values in listed.items():
            member = existing.get(member_id)
            if member is None:
                new_members.append(GroupMember(group=group, **member_values))
            elif not (member.left_at and member.left_at > at):  # left after the detail was fetched: keep that
                update_changed(member, {**member_values, "left_at": None, "quit_scene": None})
        for member_id, member in existing.items():
            if member_id not in listed and member.left_at is None and not (member.join_time and member.join_time > at):
                update_changed(member, {"left_at": at})
        _create_members(new_members)
        _recount(group)
    return group


def _member_values(item: dict) -> dict[str, Any]:
    member_id = as_text(item.get("userid"))
    require_id(member_id, "member_list.userid")
    invitor = item.get("invitor")
    values: dict[str, Any] = {
        "member_id": member_id,
        "member_type": as_int(item.get("type"), "member_list.type"),
        "unionid": as_text(item.get("unionid")),
        "name": as_text(item.get("name")),
        "group_nickname": as_text(item.get("group_nickname")),
        "join_time": wecom_time(item.get("join_time"), field="member_list.join_time"),
        "invitor_userid": as_text(invitor.get("userid")) if isinstance(invitor, dict) else "",
        "join_state": as_text(item.get("state")),
    }
    if item.get("join_scene") not in (None, ""):
        values["join_scene"] = as_int(item["join_scene"], "member_list.join_scene")
    return values


# ---- member changes (change_external_chat / update) ------------------------------------------------------------


def group_members_joined(
    *,
    chat_id: str,
    member_ids: Iterable[str],
    join_scene: int | None,
    at: datetime,
    member_version: str = "",
) -> CustomerGroup:
    """These members joined at ``at`` (add_member). Already in: nothing changes. Left before ``at``: back in.
    Left after ``at``: this join is old news, ignored. Members we never saw get a row; whether each is an
    employee or a contact is guessed from the id until the group's detail says."""

    def rejoin(member: GroupMember) -> None:
        if member.left_at is not None and member.left_at <= at:  # back in after leaving
            update_changed(
                member, {"left_at": None, "quit_scene": None, "join_time": at} | given(join_scene=join_scene)
            )

    return _change_members(
        chat_id=chat_id,
        member_ids=member_ids,
        at=at,
        member_version=member_version,
        new_member={"join_time": at, "join_scene": join_scene},
        change=rejoin,
    )


def group_members_left(
    *,
    chat_id: str,
    member_ids: Iterable[str],
    quit_scene: int | None,
    at: datetime,
    member_version: str = "",
) -> CustomerGroup:
    """These members left at ``at`` (del_member; quit_scene 0 left, 1 removed). Already gone: nothing changes.
    Joined after ``at``: this departure is old news, ignored. A member we never saw is recorded as having
    left, so the departure is not lost."""

    def leave(member: GroupMember) -> None:
        if member.left_at is None and not (member.join_time and member.join_time > at):
            update_changed(member, {"left_at": at, "quit_scene": quit_scene})

    return _change_members(
        chat_id=chat_id,
        member_ids=member_ids,
        at=at,
        member_version=member_version,
        new_member={"left_at": at, "quit_scene": quit_scene},
        change=leave,
    )


def _change_members(
    *,
    chat_id: str,
    member_ids: Iterable[str],
    at: datetime,
    member_version: str,
    new_member: dict,
    change: Callable[[GroupMember], None],
) -> CustomerGroup:
    """Apply one member event: ``change`` each member we know, create the ones we never saw with ``new_member``
    (their kind guessed from the id until the group's detail says), and recount."""
    require_id(chat_id, "chat_id")
    member_ids = _ids(member_ids)
    with transaction.atomic():
        group = _group_for_update(chat_id, member_version, at)
        existing = {m.member_id: m for m in group.members.filter(member_id__in=member_ids)}
        employees = employee_userids_known(userids=[i for i in member_ids if i not in existing])
        new_members = []
        for member_id in member_ids:
            if (member := existing.get(member_id)) is not None:
                change(member)
            else:
                kind = _guess_member_type(member_id, employees)
                new_members.append(GroupMember(group=group, member_id=member_id, member_type=kind, **new_member))
        _create_members(new_members)
        _recount(group)
    return group


def _group_for_update(chat_id: str, member_version: str, at: datetime) -> CustomerGroup:
    group, _created = lock_or_create(CustomerGroup, lookup={"chat_id": chat_id}, defaults={})
    _set_member_version(group, member_version, at)
    return group


def _set_member_version(group: CustomerGroup, member_version: str, at: datetime) -> None:
    if member_version == group.member_version:
        return  # the time a version was first seen is kept, so re-applying changes nothing
    if member_version and (group.member_version_at is None or at >= group.member_version_at):
        update_changed(group, {"member_version": member_version, "member_version_at": at})


def _guess_member_type(member_id: str, employees: set[str]) -> int:
    if member_id not in employees and member_id.startswith(EXTERNAL_ID_PREFIXES):
        return GroupMember.MemberType.EXTERNAL_CONTACT
    return GroupMember.MemberType.EMPLOYEE


def _create_members(members: list[GroupMember]) -> None:
    for member in members:
        member.full_clean(validate_unique=False, validate_constraints=False)
    GroupMember.objects.bulk_create(members)


def _recount(group: CustomerGroup) -> None:
    update_changed(group, {"member_count": group.members.current().count()})
    publish("groups.members_changed", group_ids=[group.pk])


def _ids(member_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(as_text(i) for i in member_ids))
    if not all(ids):
        raise ValidationError({"member_ids": _("Member ids must not be empty.")})
    return ids


def _objects(value: Any, field: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValidationError({field: _("Must be a list of objects.")})
    return value
