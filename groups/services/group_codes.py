"""群活码 (group live codes): editing a code and its ordered groups. How a code moves through its groups is
``groups.services.group_codes_rotation``; sending it to WeCom, after commit, ``groups.services.group_codes_wecom``.

Lock order: customer groups, then the code. The member services lock a group and publish
``groups.members_changed`` in that transaction, whose subscriber locks the codes holding it; editing a code's
groups takes the groups first too, so the two never wait for each other in a circle.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from groups.models import ChannelCode, CustomerGroup, GroupCode, GroupCodeGroup, WeComSync
from groups.models.group_codes import DEFAULT_THRESHOLD
from groups.services.group_codes_rotation import group_code_mark_full, group_code_settle
from scrm.core.hooks import publish
from scrm.core.services import acting_user, audit_record

logger = logging.getLogger(__name__)

Status = GroupCode.Status

JOIN_BY_CODE_LIMIT = 200  # WeCom lets nobody more into a group by a QR code or join_way
WELCOME_TEXT_BYTES = 3000  # 入群欢迎语素材 text.content
WELCOME_PARTS = ("image", "link", "miniprogram", "file", "video")  # WeCom sends one of them beside the text
STATE_PREFIX = "gc-"

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
        # The threshold is checked below, with a message naming its field rather than its CHECK constraint's.
        code.full_clean(exclude=["created_by", "threshold"])
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if not isinstance(code.threshold, int) or not 1 <= code.threshold <= JOIN_BY_CODE_LIMIT:
        errors["threshold"] = [
            _("From 1 to %(limit)d: WeCom lets nobody more join a group by its QR code.")
            % {"limit": JOIN_BY_CODE_LIMIT}
        ]
    if "state" not in errors and any(char.isspace() for char in code.state):
        errors["state"] = [_("The state cannot contain spaces.")]
    if "state" not in errors and ChannelCode.objects.filter(state=code.state).exists():
        # one state, one live code: the tags and figures that follow a state must not mix two codes
        errors["state"] = [_("A channel live code already uses this state.")]
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
        group_code_mark_full(code)
        audit_record(actor=actor, action="create", target=code, changes=_described(code, groups))
        group_code_settle(code, push=True)
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
        group_code_mark_full(locked)
        audit_record(actor=actor, action="update", target=locked, changes=changes)
        group_code_settle(locked, push=bool(set(changes) & {*WECOM_FIELDS, "groups"}))
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
        group_code_settle(locked, push=True)
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
        group_code_mark_full(locked)
        group_code_settle(locked, push=True)
    return True


def group_code_push_again(*, code: GroupCode, actor) -> None:
    """Send the code to WeCom again now, whatever its state (after a failure, or to be sure WeCom has it)."""
    with transaction.atomic():
        locked = GroupCode.objects.select_for_update().get(pk=code.pk)
        before = locked.wecom_sync
        audit_record(actor=actor, action="push_again", target=locked, changes={"wecom_sync": [before, "pending"]})
        group_code_settle(locked, push=True)


def group_codes_push_due(*, now: datetime | None = None, limit: int = 100) -> int:
    """Send the codes whose push was lost or whose retry is due (``groups.codes_push_due``, every minute); see
    ``groups.services.group_codes_wecom``. Returns how many WeCom took."""
    from groups.services.group_codes_wecom import group_codes_push_due as push_due  # it imports this module

    return push_due(now=now, limit=limit)


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


def _described(code: GroupCode, groups: Sequence[CustomerGroup]) -> dict[str, Any]:
    return {**{name: getattr(code, name) for name in EDITABLE_FIELDS}, "groups": [g.chat_id for g in groups]}


def _enqueue_wecom_delete(config_id: str, template_id: str) -> None:
    from groups.tasks.group_codes import group_code_wecom_delete

    group_code_wecom_delete.delay(config_id, template_id)
