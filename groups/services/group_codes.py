"""群活码 (group live codes): editing a code and its ordered groups, and the rotation that keeps its WeCom join_way
pointed at groups with room. Sending to WeCom is ``groups.services.group_codes_wecom``; it runs after commit.

The join_way's chat list is always the first ``MAX_CHATS_PER_JOIN_WAY`` (5) of the code's groups that are not full
(``full_at`` null), in position order; ``wecom_chat_ids`` is the list WeCom last accepted, so a change that leaves
the list as it is sends nothing. A group is full once its member count reaches the code's threshold or it is
dismissed, and stays full (a group that loses a few members does not flap back in). When every group is full:

- with ``auto_create_room`` the join_way keeps its last groups; WeCom fills them to its own limit (200 by code) and
  then creates a new group, which is adopted from the join_way when it appears (``group_code_adopt``);
- without it the code is ``full`` and operations are alerted once (``alerted_at``): there is no alert model for
  codes (``customers.CustomerAlert`` belongs to a customer), so the alert is a logged warning and an audit entry.

Lock order: customer groups, then the code. The member services lock a group and publish
``groups.members_changed`` in that transaction, whose subscriber locks the codes holding it; editing a code's
groups takes the groups first too, so the two never wait for each other in a circle.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import ExternalContact
from groups.models import CustomerGroup, GroupCode, GroupCodeGroup, GroupMember, WeComSync
from groups.models.group_codes import DEFAULT_THRESHOLD, MAX_CHATS_PER_JOIN_WAY
from groups.services.members import group_ensure
from scrm.core.hooks import publish
from scrm.core.services import acting_user, audit_record

logger = logging.getLogger(__name__)

Status = GroupCode.Status

JOIN_BY_CODE_LIMIT = 200  # WeCom lets nobody more into a group by a QR code or join_way
WELCOME_TEXT_BYTES = 3000  # 入群欢迎语素材 text.content
WELCOME_PARTS = ("image", "link", "miniprogram", "file", "video")  # WeCom sends one of them beside the text
STATE_PREFIX = "gc-"
# A member row that got a code's state this recently was written by the transaction now publishing
# groups.members_changed (the hook runs right after the write): those are the joiners to tag. Older rows were
# tagged when they were written, and a tag someone removed since must not come back.
JOINER_WINDOW = timedelta(minutes=1)

EDITABLE_FIELDS = (
    "name",
    "state",
    "threshold",
    "auto_create_room",
    "room_base_name",
    "room_base_id",
    "tag_ids",
    "remark",
    "welcome_text",
    "welcome_attachments",
)
# What WeCom holds (the join_way and the welcome template): changing any of these sends the code again.
WECOM_FIELDS = (
    "name",
    "state",
    "auto_create_room",
    "room_base_name",
    "room_base_id",
    "welcome_text",
    "welcome_attachments",
)


# ---- validation --------------------------------------------------------------------------------------------------


def group_code_validate(*, code: GroupCode) -> None:
    """Every check on the code's own fields, naming the field: the model's (lengths, unique state, threshold ≥ 1,
    welcome shape), WeCom's (at most 200 members by code, the welcome template's limits) and the tags' (the
    ``groups.code_tags_checking`` hook). Raises ValidationError; writes nothing."""
    errors: dict[str, list[str]] = {}
    try:
        # Checked on their own below: tag_ids may be empty (the model field is not blank=True), and the threshold
        # gets a message naming its field rather than its CHECK constraint's.
        code.full_clean(exclude=["created_by", "tag_ids", "threshold"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        code.tag_ids = GroupCode._meta.get_field("tag_ids").to_python(code.tag_ids)
    except ValidationError as exc:
        errors["tag_ids"] = exc.messages
    if not isinstance(code.threshold, int) or not 1 <= code.threshold <= JOIN_BY_CODE_LIMIT:
        errors["threshold"] = [
            _("From 1 to %(limit)d: WeCom lets nobody more join a group by its QR code.")
            % {"limit": JOIN_BY_CODE_LIMIT}
        ]
    if "welcome_text" not in errors and len((code.welcome_text or "").encode()) > WELCOME_TEXT_BYTES:
        errors["welcome_text"] = [
            _("At most %(max)d bytes (about 1,000 Chinese characters).") % {"max": WELCOME_TEXT_BYTES}
        ]
    if "welcome_attachments" not in errors and (problem := _welcome_attachments_problem(code.welcome_attachments)):
        errors["welcome_attachments"] = [problem]
    if "tag_ids" not in errors and code.tag_ids:
        try:
            publish("groups.code_tags_checking", tag_ids=list(code.tag_ids))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)


def _welcome_attachments_problem(attachments: list) -> str:
    if len(attachments) > 1:
        return _("A group welcome message takes the text and at most one attachment.")
    for attachment in attachments:
        kind = attachment.get("msgtype")
        if kind not in WELCOME_PARTS:
            return _("The attachment's msgtype must be one of: %(kinds)s.") % {"kinds": ", ".join(WELCOME_PARTS)}
        if not isinstance(attachment.get(kind), dict) or not attachment[kind]:
            return _("The %(kind)s attachment needs its %(kind)s object.") % {"kind": kind}
    return ""


def group_code_groups_validate(*, groups: Sequence[CustomerGroup], code: GroupCode | None = None) -> None:
    """The ordered groups of a code: at least one, each once, and each group new to the code a normal one (a
    group already in it may have been dismissed since; it stays, full)."""
    if not groups:
        raise ValidationError({"groups": _("Choose at least one customer group.")})
    if len({group.pk for group in groups}) != len(groups):
        raise ValidationError({"groups": _("A group can be in the code only once.")})
    held = set(code.code_groups.values_list("group_id", flat=True)) if code is not None and code.pk else set()
    dismissed = [group for group in groups if group.pk not in held and group.status != CustomerGroup.Status.NORMAL]
    if dismissed:
        raise ValidationError(
            {"groups": _("%(group)s is dismissed: joiners cannot go there.") % {"group": dismissed[0]}}
        )


# ---- editing -----------------------------------------------------------------------------------------------------


def group_code_create(
    *,
    name: str,
    groups: Sequence[CustomerGroup],
    actor,
    state: str = "",
    threshold: int = DEFAULT_THRESHOLD,
    auto_create_room: bool = True,
    room_base_name: str = "",
    room_base_id: int = 1,
    tag_ids: Iterable[int] = (),
    remark: str = "",
    welcome_text: str = "",
    welcome_attachments: list | None = None,
) -> GroupCode:
    """A new code over ``groups`` (in this order), sent to WeCom after commit (a join_way, and a welcome template
    when it has a welcome message). A blank ``state`` is generated."""
    groups = list(groups)
    code = GroupCode(
        name=name,
        state=state or new_state(),
        threshold=threshold,
        auto_create_room=auto_create_room,
        room_base_name=room_base_name or (name[:40] if auto_create_room else ""),
        room_base_id=room_base_id,
        tag_ids=list(tag_ids),
        remark=remark,
        welcome_text=welcome_text,
        welcome_attachments=list(welcome_attachments or []),
        created_by=acting_user(actor),
        wecom_sync=WeComSync.PENDING,
    )
    group_code_validate(code=code)
    group_code_groups_validate(groups=groups)
    with transaction.atomic():
        _lock_groups(groups)
        _save_unique(code, lambda: code.save())
        GroupCodeGroup.objects.bulk_create(
            [GroupCodeGroup(code=code, group=group, position=n) for n, group in enumerate(groups)]
        )
        _mark_full(code)
        audit_record(actor=actor, action="create", target=code, changes=_described(code, groups))
        _settle(code, push=True)
    return code


def group_code_update(
    *, code: GroupCode, actor, groups: Sequence[CustomerGroup] | None = None, **values: Any
) -> list[str]:
    """Change the fields in ``EDITABLE_FIELDS`` and, when given, the ordered groups (groups kept keep their full
    state; groups left out leave the code). Returns the names that changed (``groups`` among them); a change WeCom
    holds is sent after commit. A blank ``state`` keeps the current one."""
    unknown = set(values) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({name: _("This field cannot be changed here.") for name in sorted(unknown)})
    if not values.get("state", True):
        values.pop("state")
    groups = list(groups) if groups is not None else None
    with transaction.atomic():
        if groups is not None:
            _lock_groups(groups)
        locked = GroupCode.objects.select_for_update().get(pk=code.pk)
        before = {name: getattr(locked, name) for name in EDITABLE_FIELDS}
        for name, value in values.items():
            setattr(locked, name, list(value) if name in ("tag_ids", "welcome_attachments") else value)
        if locked.auto_create_room and not locked.room_base_name:
            locked.room_base_name = locked.name[:40]
        group_code_validate(code=locked)
        if groups is not None:
            group_code_groups_validate(groups=groups, code=locked)
        changes = {name: [before[name], getattr(locked, name)] for name in EDITABLE_FIELDS}
        changes = {name: pair for name, pair in changes.items() if pair[0] != pair[1]}
        if changes:
            _save_unique(locked, lambda: locked.save(update_fields=[*changes, "updated_at"]))
        if groups is not None and (moved := _set_groups(locked, groups)):
            changes["groups"] = moved
        if not changes:
            return []
        _mark_full(locked)
        audit_record(actor=actor, action="update", target=locked, changes=changes)
        _settle(locked, push=bool(set(changes) & {*WECOM_FIELDS, "groups"}))
    code.refresh_from_db()
    return list(changes)


def group_code_delete(*, code: GroupCode, actor) -> None:
    """Delete the code; its join_way and welcome template are deleted in WeCom after commit. Its groups stay."""
    with transaction.atomic():
        locked = GroupCode.objects.select_for_update().get(pk=code.pk)
        config_id, template_id = locked.config_id, locked.welcome_template_id
        audit_record(actor=actor, action="delete", target=locked, changes={"state": locked.state})
        locked.delete()
        if config_id or template_id:
            transaction.on_commit(lambda: _enqueue_wecom_delete(config_id, template_id))


def group_code_pause(*, code: GroupCode, actor) -> bool:
    """Stop taking joiners: the join_way is deleted in WeCom (the permanent QR then shows a paused page), tags
    are no longer put on. False when already paused."""
    with transaction.atomic():
        locked = GroupCode.objects.select_for_update().get(pk=code.pk)
        if locked.status == Status.PAUSED:
            return False
        before = locked.status
        locked.status = Status.PAUSED
        locked.save(update_fields=["status", "updated_at"])
        audit_record(actor=actor, action="pause", target=locked, changes={"status": [before, locked.status]})
        _settle(locked, push=True)
    return True


def group_code_resume(*, code: GroupCode, actor) -> bool:
    """Take joiners again: a join_way is made in WeCom after commit (the code may turn out full right away).
    False when it was not paused."""
    with transaction.atomic():
        locked = GroupCode.objects.select_for_update().get(pk=code.pk)
        if locked.status != Status.PAUSED:
            return False
        locked.status, locked.alerted_at = Status.OPEN, None
        locked.save(update_fields=["status", "alerted_at", "updated_at"])
        audit_record(actor=actor, action="resume", target=locked, changes={"status": [Status.PAUSED, Status.OPEN]})
        _mark_full(locked)
        _settle(locked, push=True)
    return True


def group_code_push_again(*, code: GroupCode, actor) -> None:
    """Send the code to WeCom again now, whatever its state (after a failure, or to be sure WeCom has it)."""
    with transaction.atomic():
        locked = GroupCode.objects.select_for_update().get(pk=code.pk)
        before = locked.wecom_sync
        audit_record(actor=actor, action="push_again", target=locked, changes={"wecom_sync": [before, "pending"]})
        _settle(locked, push=True)


# ---- rotation ------------------------------------------------------------------------------------------------


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
            if _settle(locked):
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
            _mark_full(locked)
            _settle(locked)
    return added


def group_code_joiners_tag(*, group_ids: Iterable[int]) -> list[int]:
    """Members of these groups who just came through a code (their ``join_state`` is an active code's state)
    get the code's tags on their customers; a joiner in a group their code does not hold means WeCom made a new
    group for it, which is adopted after commit. Set-based: four queries however many joined. Returns the codes
    whose joiners were seen."""
    joined = list(
        GroupMember.objects.current()
        .filter(
            group_id__in=list(group_ids),
            member_type=GroupMember.MemberType.EXTERNAL_CONTACT,
            updated_at__gte=timezone.now() - JOINER_WINDOW,
        )
        .exclude(join_state="")
        .values_list("join_state", "member_id", "group_id")
    )
    if not joined:
        return []
    codes = {
        code.state: code
        for code in GroupCode.objects.filter(state__in={state for state, _m, _g in joined}).exclude(
            status=Status.PAUSED
        )
    }
    joined = [row for row in joined if row[0] in codes]
    if not joined:
        return []
    customers = dict(
        ExternalContact.objects.filter(
            external_userid__in={member for _s, member, _g in joined}, customer__isnull=False
        ).values_list("external_userid", "customer_id")
    )
    for state, code in codes.items():
        customer_ids = sorted({customers[m] for s, m, _g in joined if s == state and m in customers})
        if customer_ids and code.tag_ids:
            publish("groups.code_customers_tagging", customer_ids=customer_ids, tag_ids=list(code.tag_ids))
    held = set(
        GroupCodeGroup.objects.filter(code__in=codes.values(), group_id__in={g for _s, _m, g in joined}).values_list(
            "code_id", "group_id"
        )
    )
    strays = {codes[s].pk for s, _m, g in joined if codes[s].auto_create_room and (codes[s].pk, g) not in held}
    for code_id in sorted(strays):
        transaction.on_commit(lambda code_id=code_id: _enqueue_adopt(code_id))
    return sorted(code.pk for code in codes.values())


def group_code_adopt_after_commit(*, code_ids: Iterable[int]) -> None:
    for code_id in sorted(set(code_ids)):
        transaction.on_commit(lambda code_id=code_id: _enqueue_adopt(code_id))


def group_codes_push_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send the codes whose push was lost or whose retry is due (``groups.codes_push_due``, every minute); see
    ``groups.services.group_codes_wecom``. Returns how many WeCom took."""
    from groups.services.group_codes_wecom import group_codes_push_due as push_due  # it imports this module

    return push_due(now=now, limit=limit)


def join_way_chat_ids(code: GroupCode) -> list[str]:
    """The chats the join_way should list: the first five groups with room, in order."""
    rows = GroupCodeGroup.objects.filter(code=code, full_at__isnull=True).order_by("position", "id")
    return list(rows.values_list("group__chat_id", flat=True)[:MAX_CHATS_PER_JOIN_WAY])


# ---- internals ---------------------------------------------------------------------------------------------------


def new_state() -> str:
    return STATE_PREFIX + secrets.token_hex(6)


def _lock_groups(groups: Sequence[CustomerGroup]) -> None:
    list(CustomerGroup.objects.select_for_update().filter(pk__in=[g.pk for g in groups]).order_by("pk"))


def _save_unique(code: GroupCode, save) -> None:
    """Save; two codes saved with one state at the same moment: the loser gets the field error full_clean gives."""
    try:
        with transaction.atomic():
            save()
    except IntegrityError as exc:
        if "state" in str(exc) or GroupCode.objects.filter(state=code.state).exclude(pk=code.pk).exists():
            raise ValidationError({"state": _("A group live code with this channel state already exists.")}) from exc
        raise


def _set_groups(code: GroupCode, groups: list[CustomerGroup]) -> list[list[str]]:
    """Make the code's groups exactly ``groups`` in this order; returns [before, after] chat ids, or [] when equal."""
    rows = {row.group_id: row for row in GroupCodeGroup.objects.filter(code=code).select_related("group")}
    before = [row.group.chat_id for row in sorted(rows.values(), key=lambda row: (row.position, row.pk))]
    after = [group.chat_id for group in groups]
    if before == after:
        return []
    GroupCodeGroup.objects.filter(code=code).exclude(group_id__in=[g.pk for g in groups]).delete()
    for position, group in enumerate(groups):
        row = rows.get(group.pk)
        if row is None:
            GroupCodeGroup.objects.create(code=code, group=group, position=position)
        elif row.position != position:
            GroupCodeGroup.objects.filter(pk=row.pk).update(position=position)
    return [before, after]


def _full_rows():
    """Code groups not yet full whose group reached its code's threshold or is dismissed (paused codes wait)."""
    return (
        GroupCodeGroup.objects.filter(full_at__isnull=True)
        .exclude(code__status=Status.PAUSED)
        .filter(Q(group__member_count__gte=F("code__threshold")) | Q(group__status=CustomerGroup.Status.DISMISSED))
    )


def _mark_full(code: GroupCode) -> None:
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
            _settle(locked)
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


def _settle(code: GroupCode, *, push: bool = False, now: datetime | None = None) -> bool:
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


def _described(code: GroupCode, groups: Sequence[CustomerGroup]) -> dict[str, Any]:
    return {**{name: getattr(code, name) for name in EDITABLE_FIELDS}, "groups": [g.chat_id for g in groups]}


def _enqueue_push(code_id: int) -> None:
    from groups.tasks.group_codes import group_code_push

    group_code_push.delay(code_id)


def _enqueue_adopt(code_id: int) -> None:
    from groups.tasks.group_codes import group_code_adopt

    group_code_adopt.delay(code_id)


def _enqueue_wecom_delete(config_id: str, template_id: str) -> None:
    from groups.tasks.group_codes import group_code_wecom_delete

    group_code_wecom_delete.delay(config_id, template_id)


def _enqueue_group_refresh(chat_id: str) -> None:
    from scrm.wecom.tasks import refresh_group

    refresh_group.delay(chat_id)
