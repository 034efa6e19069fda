"""群活码 rotation: a code's groups fill in order and its WeCom join_way moves on to the ones with room.

The join_way's chat list is always the first ``MAX_CHATS_PER_JOIN_WAY`` (5) of the code's groups that are not full
(``full_at`` null), in position order; ``wecom_chat_ids`` is the list WeCom last accepted, so a change that leaves
the list as it is sends nothing. A group is full once its member count reaches the code's threshold or it is
dismissed, and stays full (a group that loses a few members does not flap back in). When every group is full:

- with ``auto_create_room`` the join_way keeps its last groups; WeCom fills them to its own limit (200 by code) and
  then creates a new group, which is adopted from the join_way when it appears (``group_code_groups_adopt``);
- without it the code is ``full`` and operations are alerted once (``alerted_at``): there is no alert model for
  codes (``customers.CustomerAlert`` belongs to a customer), so the alert is a logged warning and an audit entry.

Joiners carry the code's state (``GroupMember.join_state``, from groupchat/get): their customers get the code's
tags. Lock order: customer groups, then the code (see ``groups.services.group_codes``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from customers.models import ExternalContact
from groups.models import CustomerGroup, GroupCode, GroupCodeGroup, GroupMember, WeComSync
from groups.models.group_codes import MAX_CHATS_PER_JOIN_WAY
from groups.services.members import group_ensure
from scrm.core.hooks import publish
from scrm.core.services import audit_record

logger = logging.getLogger(__name__)

Status = GroupCode.Status

# A member row that got a code's state this recently was written by the transaction now publishing
# groups.members_changed (the hook runs right after the write): those are the joiners to tag. Older rows were
# tagged when they were written, and a tag someone removed since must not come back.


def group_codes_check_groups(*, group_ids: Iterable[int]) -> list[int]:
    """The threshold check after members of these groups changed (inside the transaction that changed them):
    groups of codes that reached the threshold, or were dismissed, become full and their codes move on. Returns
    the codes that changed. One query when no code group is affected."""
    full = _full_rows().filter(group_id__in=list(group_ids))
    return _codes_move_on(full)


def group_codes_check() -> list[int]:
    """The periodic check: every code group at its threshold (from the current member counts) or dismissed
    becomes full, and every code whose WeCom chat list is not what it should be is due to be sent again (whatever
    a lost event or push left behind). Returns the codes that are due to be sent."""
    changed = set(_codes_move_on(_full_rows()))
    for code_id in _codes_out_of_step():
        with transaction.atomic():
            locked = GroupCode.objects.select_for_update().get(pk=code_id)
            if group_code_settle(locked):
                changed.add(code_id)
    return sorted(changed)


def group_codes_group_dismissed(*, chat_id: str) -> list[int]:
    """A group of some codes was dismissed (its dismiss event): it is full for them, whatever order the event's
    handlers run in."""
    return _codes_move_on(
        GroupCodeGroup.objects.filter(group__chat_id=chat_id, full_at__isnull=True).exclude(code__status=Status.PAUSED)
    )


def group_code_groups_adopt(*, code_id: int, chat_ids: Sequence[str], room_base_id: int | None = None) -> list[str]:
    """Add the groups WeCom created for the code (auto_create_room) at the end of its groups; returns the chat ids
    added. A chat unknown here becomes a placeholder group, filled in by a refresh after commit. ``room_base_id``:
    the number WeCom will give its next group, kept so that the next push does not wind it back (two groups with
    one name)."""
    added = []
    with transaction.atomic():
        groups = [group_ensure(chat_id=chat_id) for chat_id in chat_ids]  # groups first, then the code
        locked = GroupCode.objects.select_for_update().filter(pk=code_id).first()
        if locked is None:
            return []
        held = set(locked.code_groups.values_list("group_id", flat=True))
        position = (locked.code_groups.aggregate(last=Max("position"))["last"] or 0) + 1
        for group in groups:
            if group.pk in held:
                continue
            GroupCodeGroup.objects.create(code=locked, group=group, position=position, auto_created=True)
            position += 1
            added.append(group.chat_id)
            if group.is_placeholder:
                transaction.on_commit(lambda chat_id=group.chat_id: _enqueue_group_refresh(chat_id))
        if added:
            if room_base_id and room_base_id > locked.room_base_id:
                locked.room_base_id = room_base_id
                GroupCode.objects.filter(pk=locked.pk).update(room_base_id=room_base_id)
            audit_record(actor=None, action="adopt_groups", target=locked, changes={"groups": added})
            group_code_mark_full(locked)
            group_code_settle(locked)
    return added


def group_code_joiners_tag(*, group_ids: Iterable[int]) -> list[int]:
    """Members of these groups who just came through a code (their ``join_state`` is an active code's state)
    get the code's tags on their customers; a joiner in a group their code does not hold means WeCom made a new
    group for it, which is adopted after commit. Set-based: four queries however many joined. Returns the codes
    whose joiners were seen."""
    joined = list(
        GroupMember.objects.current()
        .filter(group_id__in=list(group_ids), member_type=GroupMember.MemberType.EXTERNAL_CONTACT)
        .filter(Q(code_tagged_at__isnull=True) | Q(code_tagged_at__lt=F("join_time")))
        .exclude(join_state="")
        .values_list("join_state", "member_id", "group_id", "pk")
    )
    if not joined:
        return []
    codes = {
        code.state: code
        for code in GroupCode.objects.filter(state__in={row[0] for row in joined}).exclude(status=Status.PAUSED)
    }
    joined = [row for row in joined if row[0] in codes]
    if not joined:
        return []
    customers = dict(
        ExternalContact.objects.filter(
            external_userid__in={row[1] for row in joined}, customer__isnull=False
        ).values_list("external_userid", "customer_id")
    )
    for state, code in codes.items():
        customer_ids = sorted({customers[m] for s, m, _g, _pk in joined if s == state and m in customers})
        if customer_ids and code.tag_ids:
            publish("groups.code_customers_tagging", customer_ids=customer_ids, tag_ids=list(code.tag_ids))
    # Done for this join; a member whose customer is not known yet is tried again at the next change.
    GroupMember.objects.filter(pk__in=[pk for _s, m, _g, pk in joined if m in customers]).update(
        code_tagged_at=timezone.now()
    )
    held = set(
        GroupCodeGroup.objects.filter(code__in=codes.values(), group_id__in={row[2] for row in joined}).values_list(
            "code_id", "group_id"
        )
    )
    strays = {codes[s].pk for s, _m, g, _pk in joined if codes[s].auto_create_room and (codes[s].pk, g) not in held}
    for code_id in sorted(strays):
        transaction.on_commit(lambda code_id=code_id: _enqueue_adopt(code_id))
    return sorted(code.pk for code in codes.values())


def group_code_adopt_after_commit(*, code_ids: Iterable[int]) -> None:
    for code_id in sorted(set(code_ids)):
        transaction.on_commit(lambda code_id=code_id: _enqueue_adopt(code_id))


def join_way_chat_ids(code: GroupCode) -> list[str]:
    """The chats the join_way should list: the first five groups with room, in order."""
    rows = GroupCodeGroup.objects.filter(code=code, full_at__isnull=True).order_by("position", "id")
    return list(rows.values_list("group__chat_id", flat=True)[:MAX_CHATS_PER_JOIN_WAY])


# ---- internals ---------------------------------------------------------------------------------------------------


def _full_rows():
    """Code groups not yet full whose group reached its code's threshold or is dismissed (paused codes wait)."""
    return (
        GroupCodeGroup.objects.filter(full_at__isnull=True)
        .exclude(code__status=Status.PAUSED)
        .filter(Q(group__member_count__gte=F("code__threshold")) | Q(group__status=CustomerGroup.Status.DISMISSED))
    )


def group_code_mark_full(code: GroupCode) -> None:
    _full_rows().filter(code=code).update(full_at=timezone.now())


def _codes_move_on(rows) -> list[int]:
    by_code: dict[int, list[int]] = {}
    for pk, code_id in rows.values_list("pk", "code_id"):
        by_code.setdefault(code_id, []).append(pk)
    now = timezone.now()
    for code_id in sorted(by_code):
        with transaction.atomic():
            locked = GroupCode.objects.select_for_update().filter(pk=code_id).first()
            if locked is None:
                continue
            GroupCodeGroup.objects.filter(pk__in=by_code[code_id], full_at__isnull=True).update(full_at=now)
            group_code_settle(locked)
    return sorted(by_code)


def _codes_out_of_step() -> list[int]:
    """Open or full codes whose status is not what their groups say, or whose WeCom chat list (when in step with
    WeCom) differs from what it should be. One query for the codes and one for their open groups."""
    codes = list(
        GroupCode.objects.exclude(status=Status.PAUSED).values_list(
            "pk", "wecom_chat_ids", "status", "auto_create_room", "wecom_sync"
        )
    )
    wanted: dict[int, list[str]] = {}
    rows = GroupCodeGroup.objects.filter(code_id__in=[c[0] for c in codes], full_at__isnull=True).order_by(
        "code_id", "position", "id"
    )
    for code_id, chat_id in rows.values_list("code_id", "group__chat_id"):
        wanted.setdefault(code_id, []).append(chat_id)
    due = []
    for code_id, sent, status, auto_create, sync in codes:
        chats = wanted.get(code_id, [])[:MAX_CHATS_PER_JOIN_WAY]
        expected = Status.OPEN if chats or auto_create else Status.FULL
        if status != expected or (chats and chats != sent and sync == WeComSync.SYNCED):
            due.append(code_id)
    return due


def group_code_settle(code: GroupCode, *, push: bool = False, now: datetime | None = None) -> bool:
    """With ``code`` locked and its full groups marked: its status (open, or full with the one alert) and whether
    WeCom must hear of it (its chat list changed, or ``push``). Saves what changed and queues the push after
    commit; returns True when a push was queued."""
    now = now or timezone.now()
    values: dict[str, Any] = {}
    if code.status != Status.PAUSED:
        chats = join_way_chat_ids(code)
        if chats or code.auto_create_room:  # room left, or WeCom makes the next group
            if code.status == Status.FULL:
                values.update(status=Status.OPEN, alerted_at=None)
            push = push or (bool(chats) and chats != code.wecom_chat_ids)
        else:
            if code.status != Status.FULL:
                values["status"] = Status.FULL
            if code.alerted_at is None:
                values["alerted_at"] = now
    if push:
        values.update(wecom_sync=WeComSync.PENDING, wecom_error="")
    if not values:
        return False
    for name, value in values.items():
        setattr(code, name, value)
    code.updated_at = now  # a push in flight sees the row moved and sends again
    GroupCode.objects.filter(pk=code.pk).update(**values, updated_at=now)
    if "alerted_at" in values:
        _alert_full(code)
    if push:
        transaction.on_commit(lambda pk=code.pk: _enqueue_push(pk))
    return push


def _alert_full(code: GroupCode) -> None:
    logger.warning(
        "Group live code %s (%s, state %s): every group has reached %s members and new groups are not created "
        "automatically; add a group to the code or turn on automatic group creation",
        code.pk,
        code.name,
        code.state,
        code.threshold,
    )
    audit_record(
        actor=None,
        action="full_alert",
        target=code,
        changes={"threshold": code.threshold, "groups": code.code_groups.count()},
    )


def _enqueue_push(code_id: int) -> None:
    from groups.tasks.group_codes import group_code_push

    group_code_push.delay(code_id)


def _enqueue_adopt(code_id: int) -> None:
    from groups.tasks.group_codes import group_code_adopt

    group_code_adopt.delay(code_id)


def _enqueue_group_refresh(chat_id: str) -> None:
    from scrm.wecom.tasks import refresh_group

    refresh_group.delay(chat_id)
