"""Writes to corp tags and tag groups: the list from get_corp_tag_list, and what change_external_tag callbacks
announce. Idempotent: rows are keyed by WeCom's ids, only differing fields are written, nothing is deleted."""

from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from scrm.core.upsert import as_int, as_text, lock_or_create, require_id, update_changed, wecom_time
from tagging.models import Tag, TagGroup

M = TypeVar("M", bound=models.Model)


def corp_tags_upsert_from_wecom(*, tag_groups: list[dict], complete: bool = False) -> tuple[int, int]:
    """Apply get_corp_tag_list's ``tag_group`` list: ``[{group_id, group_name, create_time, order, deleted,
    tag: [{id, name, create_time, order, deleted}]}]``. Returns (tag groups, tags) in the list.

    ``complete=True`` says the list is the whole corp (the call had no tag_id/group_id filter): groups and tags
    we have that it does not mention were deleted in WeCom and are marked so. A filtered list never marks.
    """
    if not isinstance(tag_groups, list) or not all(isinstance(group, dict) for group in tag_groups):
        raise ValidationError({"tag_group": _("Must be a list of objects.")})
    groups: dict[str, dict[str, Any]] = {}
    tags: dict[str, tuple[str, dict[str, Any]]] = {}
    for data in tag_groups:
        group_id = as_text(data.get("group_id"))
        require_id(group_id, "group_id")
        groups[group_id] = _common(data, name_key="group_name")
        tag_list = data.get("tag") or []
        if not isinstance(tag_list, list) or not all(isinstance(tag, dict) for tag in tag_list):
            raise ValidationError({"tag": _("Must be a list of objects.")})
        for tag in tag_list:
            tag_id = as_text(tag.get("id"))
            require_id(tag_id, "tag.id")
            values = _common(tag, name_key="name")
            if groups[group_id].get("deleted"):  # deleting a group deletes its tags (WeCom sends no tag events)
                values["deleted"] = True
            tags[tag_id] = (group_id, values)

    with transaction.atomic():
        group_rows = _upsert_many(TagGroup, key="group_id", rows=groups)
        tag_rows = {tag_id: {**values, "group": group_rows[group_id]} for tag_id, (group_id, values) in tags.items()}
        _upsert_many(Tag, key="tag_id", rows=tag_rows, related=("group",))
        if complete:
            for model, key, seen in ((TagGroup, "group_id", groups), (Tag, "tag_id", tags)):
                for row in (
                    model.objects.select_for_update().filter(deleted=False).exclude(**{f"{key}__in": list(seen)})
                ):
                    update_changed(row, {"deleted": True})
    return len(groups), len(tags)


def tag_ensure(*, tag_id: str) -> Tag:
    """The tag row, as a placeholder (id only, no group) if we have not seen it yet. A known tag is left as it
    is: ids are never reused, so a late 'create' must not undelete a tag."""
    require_id(tag_id, "tag_id")
    with transaction.atomic():
        tag, _created = lock_or_create(Tag, lookup={"tag_id": tag_id}, defaults={})
    return tag


def tag_group_ensure(*, group_id: str) -> TagGroup:
    require_id(group_id, "group_id")
    with transaction.atomic():
        group, _created = lock_or_create(TagGroup, lookup={"group_id": group_id}, defaults={})
    return group


def tag_mark_deleted(*, tag_id: str) -> Tag:
    """The tag was deleted in WeCom: keep the row, mark it (a tag we never saw is recorded as deleted)."""
    require_id(tag_id, "tag_id")
    with transaction.atomic():
        tag, created = lock_or_create(Tag, lookup={"tag_id": tag_id}, defaults={"deleted": True})
        if not created:
            update_changed(tag, {"deleted": True})
    return tag


def tag_group_mark_deleted(*, group_id: str) -> TagGroup:
    """The group was deleted in WeCom, and with it all its tags (WeCom sends no event per tag)."""
    require_id(group_id, "group_id")
    with transaction.atomic():
        group, created = lock_or_create(TagGroup, lookup={"group_id": group_id}, defaults={"deleted": True})
        if not created:
            update_changed(group, {"deleted": True})
        for tag in Tag.objects.select_for_update().filter(group=group, deleted=False):
            update_changed(tag, {"deleted": True})
    return group


def _common(data: dict, *, name_key: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if name_key in data:
        values["name"] = as_text(data[name_key])
    if data.get("order") not in (None, ""):
        values["order"] = as_int(data["order"], "order")
    if "deleted" in data:
        values["deleted"] = bool(data["deleted"])
    if data.get("create_time"):
        values["wecom_created_at"] = wecom_time(data["create_time"], field="create_time")
    return values


def _upsert_many(
    model: type[M], *, key: str, rows: dict[str, dict[str, Any]], related: tuple[str, ...] = ()
) -> dict[str, M]:
    """Lock the existing rows in one query, update what differs, create the rest; returns key → row."""
    locked = model.objects.select_for_update(of=("self",) if related else ()).select_related(*related)
    existing = {getattr(row, key): row for row in locked.filter(**{f"{key}__in": list(rows)})}
    new = []
    for value, values in rows.items():
        row = existing.get(value)
        if row is None:
            row = model(**{key: value}, **values)
            row.full_clean(validate_unique=False, validate_constraints=False)
            new.append(row)
            existing[value] = row
        else:
            update_changed(row, values)
    model.objects.bulk_create(new)
    return existing
