"""Tag groups and tags as staff edit them here. What WeCom reports is written by ``taxonomy_wecom``; what staff
change here reaches WeCom through ``taxonomy_push``.

Kinds (``tagging.models.taxonomy``): corp tags are WeCom's 企业标签, kept in two-way sync; system tags, and every tag
group for customer groups, live here only (``sync_state = local``, never sent); personal tags are WeCom's and
read-only here.

Every edit is checked against WeCom's rules before anything is stored or sent: a name of 1–30 characters, unique
in its group (a group's among the live groups of its kind), at most 3,000 corp tags counting those not sent yet,
and an app changes only the corp tags it created unless it holds the 客户联系 secret. A corp edit is stamped
``local_changed_at``, marked ``pending`` and pushed after commit. Deleting keeps the row, marked ``deleted``; a
deleted group takes its tags along. Every edit is audited.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.core.services import audit_record
from tagging.models import MAX_CORP_TAGS, TAG_NAME_MAX_LENGTH, SyncState, Tag, TagGroup, TagKind, TagTarget
from tagging.selectors import corp_tags_used
from tagging.services.taxonomy_push import may_edit_any_corp_tag, push_after_commit, push_in_flight

MAX_ORDER = 2**32 - 1  # WeCom's order is a uint32


def tag_group_create(
    *, name: str, kind: str = TagKind.CORP, target: str = TagTarget.CUSTOMER, order: int = 0, actor
) -> TagGroup:
    """A new tag group. A corp group reaches WeCom with its first tag (WeCom has no empty tag groups)."""
    if kind == TagKind.PERSONAL:
        _refuse(_("Personal tags come from WeCom and are read-only here."), code="read_only", field="kind")
    corp = kind == TagKind.CORP
    group = TagGroup(
        name=_clean_name(name),
        kind=kind,
        target=target,
        order=_clean_order(order),
        sync_state=SyncState.PENDING if corp else SyncState.LOCAL,
        local_changed_at=timezone.now() if corp else None,
    )
    group.full_clean(validate_unique=False, validate_constraints=False)  # kind, target, and the two together
    with transaction.atomic():
        _check_group_name(group)
        group.save()
        audit_record(
            actor=actor,
            action="create",
            target=group,
            changes={"name": group.name, "kind": kind, "target": target, "order": group.order},
        )
    return group


def tag_group_update(*, group: TagGroup, name: str | None = None, order: int | None = None, actor) -> TagGroup:
    """Rename or reorder a tag group; ``None`` leaves a field as it is. A change of nothing writes nothing."""
    values = _given(name=name, order=order)
    with transaction.atomic():
        group = TagGroup.objects.select_for_update().get(pk=group.pk)
        return _update(group, values, check_name=_check_group_name, actor=actor)


def tag_group_delete(*, group: TagGroup, actor) -> TagGroup:
    """Delete a tag group and its tags (WeCom deletes a group's tags with it). Deleting twice is a no-op."""
    with transaction.atomic():
        group = TagGroup.objects.select_for_update().get(pk=group.pk)
        if group.deleted:
            return group
        check_editable(group)
        tags = list(group.tags.select_for_update().filter(deleted=False).order_by("pk"))
        push = _mark_edited(group)
        group.deleted = True
        group.save()
        for tag in tags:
            # A corp group's tags follow it: pending until WeCom has deleted the group (see taxonomy_push.carrier).
            _mark_edited(tag)
            tag.deleted = True
            tag.save()
        audit_record(
            actor=actor,
            action="delete",
            target=group,
            changes={"deleted": [False, True], "tags": [tag.name for tag in tags]},
        )
        if push:
            push_after_commit(group)
    return group


def tag_create(*, group: TagGroup, name: str, order: int = 0, actor) -> Tag:
    """A new tag in ``group``, of the group's kind."""
    name, order = _clean_name(name), _clean_order(order)
    with transaction.atomic():
        group = TagGroup.objects.select_for_update().get(pk=group.pk)  # one writer per group: names stay unique
        if group.kind == TagKind.PERSONAL:
            _refuse(_("Personal tags come from WeCom and are read-only here."), code="read_only", field="group")
        if group.deleted:
            _refuse(_("This tag group is deleted."), code="deleted", field="group")
        tag = Tag(group=group, name=name, order=order, kind=group.kind)
        _check_tag_name(tag)
        corp = group.kind == TagKind.CORP
        if corp and (used := corp_tags_used()) >= MAX_CORP_TAGS:
            _refuse(
                _(
                    "WeCom allows at most %(limit)s corp tags per company, and %(used)s are in use or waiting to be "
                    "sent. Delete tags that are no longer used first."
                )
                % {"limit": f"{MAX_CORP_TAGS:,}", "used": f"{used:,}"},
                code="quota",
            )
        tag.sync_state = SyncState.PENDING if corp else SyncState.LOCAL
        tag.local_changed_at = timezone.now() if corp else None
        tag.full_clean(validate_unique=False, validate_constraints=False)
        tag.save()
        audit_record(
            actor=actor, action="create", target=tag, changes={"group": group.name, "name": name, "order": order}
        )
        if corp:
            push_after_commit(tag)
    return tag


def tag_update(*, tag: Tag, name: str | None = None, order: int | None = None, actor) -> Tag:
    """Rename or reorder a tag; ``None`` leaves a field as it is. A change of nothing writes nothing."""
    values = _given(name=name, order=order)
    with transaction.atomic():
        if tag.group_id:
            TagGroup.objects.select_for_update().get(pk=tag.group_id)  # as tag_create: group first, then tag
        tag = Tag.objects.select_for_update().get(pk=tag.pk)
        return _update(tag, values, check_name=_check_tag_name, actor=actor)


def tag_delete(*, tag: Tag, actor) -> Tag:
    """Delete a tag (the row stays, marked). Deleting twice is a no-op."""
    with transaction.atomic():
        tag = Tag.objects.select_for_update().get(pk=tag.pk)
        if tag.deleted:
            return tag
        check_editable(tag)
        push = _mark_edited(tag)
        tag.deleted = True
        tag.save()
        audit_record(actor=actor, action="delete", target=tag, changes={"deleted": [False, True]})
        if push:
            push_after_commit(tag)
    return tag


# --- checks -------------------------------------------------------------------------------------------------------


def _clean_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        _refuse(_("A name is required."), code="required", field="name")
    if len(name) > TAG_NAME_MAX_LENGTH:
        _refuse(
            _("At most %(limit)d characters (WeCom's limit); this name has %(length)d.")
            % {"limit": TAG_NAME_MAX_LENGTH, "length": len(name)},
            code="max_length",
            field="name",
        )
    return name


def _clean_order(order: int | None) -> int:
    if isinstance(order, bool) or not isinstance(order, int) or not 0 <= order <= MAX_ORDER:
        _refuse(
            _("A whole number from 0 to %(max)d (WeCom's range); larger comes first.") % {"max": MAX_ORDER},
            code="invalid",
            field="order",
        )
    return order


def _given(*, name: str | None, order: int | None) -> dict:
    values = {}
    if name is not None:
        values["name"] = _clean_name(name)
    if order is not None:
        values["order"] = _clean_order(order)
    return values


def _check_group_name(group: TagGroup) -> None:
    # WeCom keys corp tag groups by name too: add_corp_tag with an existing group name adds to that group.
    others = TagGroup.objects.live().filter(kind=group.kind, target=group.target, name=group.name)
    if others.exclude(pk=group.pk).exists():
        _refuse(
            _("A tag group named “%(name)s” already exists.") % {"name": group.name}, code="duplicate", field="name"
        )


def _check_tag_name(tag: Tag) -> None:
    if Tag.objects.live().filter(group_id=tag.group_id, name=tag.name).exclude(pk=tag.pk).exists():
        _refuse(
            _("This group already has a tag named “%(name)s”.") % {"name": tag.name}, code="duplicate", field="name"
        )


def check_editable(node: Tag | TagGroup) -> None:
    """Refuse (``ValidationError``) an edit or deletion of ``node``, saying why: personal tags are WeCom's,
    deleted rows stay as they are, and WeCom lets an app change only the corp tags it created."""
    if node.kind == TagKind.PERSONAL:
        _refuse(_("Personal tags come from WeCom and are read-only here."), code="read_only")
    if node.deleted:
        _refuse(_("“%(name)s” is deleted.") % {"name": node.name}, code="deleted")
    if isinstance(node, Tag) and node.group_id is None:
        _refuse(
            _("This tag's details have not arrived from WeCom yet: try again after the next sync."), code="incomplete"
        )
    wecom_id = node.group_id if isinstance(node, TagGroup) else node.tag_id
    if node.kind == TagKind.CORP and wecom_id and not node.created_here and not may_edit_any_corp_tag():
        _refuse(
            _(
                "WeCom lets this system change only the corp tags it created, and “%(name)s” was created elsewhere "
                "(in the WeCom admin console or by another app). Change it in the WeCom admin console "
                "(客户联系 → 客户标签), or configure the 客户联系 secret (WECOM_CONTACT_SECRET) to manage every corp "
                "tag here."
            )
            % {"name": node.name},
            code="not_own",
        )


def _refuse(message: str, *, code: str, field: str | None = None) -> None:
    """Refuse the edit, naming the field at fault; a rule about the whole edit names none (the API shows it as
    ``non_field_errors``, the admin above the form)."""
    error = ValidationError(message, code=code)
    raise ValidationError({field: error}) if field else error


# --- writing ------------------------------------------------------------------------------------------------------


def _update(node: Tag | TagGroup, values: dict, *, check_name, actor) -> Tag | TagGroup:
    """The edit of a locked tag or tag group: refused if not ours to edit, nothing written if nothing changes, a
    new name checked against its siblings, audited, and a corp row pushed to WeCom after commit."""
    check_editable(node)
    changes = _apply(node, values)
    if not changes:
        return node
    if "name" in changes:
        check_name(node)
    push = _mark_edited(node)
    node.full_clean(validate_unique=False, validate_constraints=False)
    node.save()
    audit_record(actor=actor, action="update", target=node, changes=changes)
    if push:
        push_after_commit(node)
    return node


def _apply(node: Tag | TagGroup, values: dict) -> dict:
    """Set the values that differ; returns ``{field: [before, after]}`` for the audit."""
    changes = {name: [getattr(node, name), value] for name, value in values.items() if getattr(node, name) != value}
    for name, (_before, after) in changes.items():
        setattr(node, name, after)
    return changes


def _mark_edited(node: Tag | TagGroup) -> bool:
    """Stamp a corp row as edited here and waiting for WeCom; returns whether to push it now. Not while a push
    of it may be on the way: that push sees this newer edit when it ends and queues the next one."""
    if node.kind != TagKind.CORP:
        return False
    now = timezone.now()
    push = not push_in_flight(node, now=now)
    node.local_changed_at, node.sync_state, node.sync_error = now, SyncState.PENDING, ""
    if push:
        node.sync_attempts = 0
    return push
