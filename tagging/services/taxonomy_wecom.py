"""Corp tags and tag groups as WeCom reports them: the list from get_corp_tag_list, and what change_external_tag
callbacks announce. Idempotent: rows are keyed by WeCom's ids, only differing fields are written, nothing is
deleted (a tag deleted in WeCom is marked).

Last writer wins. A row edited here that WeCom does not have yet (``pending``, or ``failed``: refused) is not
silently overwritten: where WeCom's name, order or deleted flag differ, WeCom's change time is compared with
``local_changed_at``. The later one wins; if WeCom wins, the pending push is cancelled (``synced``). Either way an
audit entry says what each side had and who won. A deletion in WeCom always stands: ids never come back.

WeCom's change time: the callback handlers record each event's CreateTime on the row it names
(``wecom_changed_at``), and the refresh the event schedules reads it from there (``dated_by_events``), so an event
about one tag never decides for another. A full sync knows no times: it uses the time it fetched the list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scrm.core.services import audit_record
from scrm.core.upsert import as_int, as_text, lock_or_create, require_id, update_changed, wecom_time
from tagging.models import SyncState, Tag, TagGroup, TagKind

M = TypeVar("M", bound=models.Model)

# What an edit here and WeCom can disagree about.
CONTESTED = ("name", "order", "deleted")
UNSENT = (SyncState.PENDING, SyncState.FAILED)


def corp_tags_upsert_from_wecom(
    *,
    tag_groups: list[dict],
    complete: bool = False,
    fetched_at: datetime | None = None,
    dated_by_events: bool = False,
) -> tuple[int, int]:
    """Apply get_corp_tag_list's ``tag_group`` list: ``[{group_id, group_name, create_time, order, deleted,
    tag: [{id, name, create_time, order, deleted}]}]``. Returns (tag groups, tags) in the list.

    ``complete=True`` says the list is the whole corp (the call had no tag_id/group_id filter): corp groups and
    tags we have that it does not mention were deleted in WeCom and are marked so — except rows changed here after
    ``fetched_at`` (the time the list was read, default now), which the next list judges. A filtered list never
    marks. ``dated_by_events``: WeCom's change time of a row is the last callback's (see the module docstring),
    else ``fetched_at``.
    """
    fetched_at = fetched_at or timezone.now()
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

    def reconcile(row: Tag | TagGroup, values: dict[str, Any]) -> dict[str, Any]:
        return _reconcile(row, values, wecom_at=row.wecom_changed_at if dated_by_events else fetched_at)

    with transaction.atomic():
        group_rows = _upsert_many(TagGroup, key="group_id", rows=groups, reconcile=reconcile)
        tag_rows = {tag_id: {**values, "group": group_rows[group_id]} for tag_id, (group_id, values) in tags.items()}
        _upsert_many(Tag, key="tag_id", rows=tag_rows, related=("group",), reconcile=reconcile)
        if complete:
            for model, key, seen in ((TagGroup, "group_id", groups), (Tag, "tag_id", tags)):
                gone = (
                    model.objects.select_for_update()
                    .filter(kind=TagKind.CORP, deleted=False, updated_at__lte=fetched_at)
                    .exclude(**{key: ""})
                    .exclude(**{f"{key}__in": list(seen)})
                )
                for row in gone.order_by("pk"):
                    update_changed(row, reconcile(row, {"deleted": True}))
    return len(groups), len(tags)


def tag_ensure(*, tag_id: str, changed_at: datetime | None = None) -> Tag:
    """The tag row, as a placeholder (id only, no group) if we have not seen it yet, with the time WeCom changed
    it (a callback's CreateTime) recorded. A known tag keeps its fields: ids are never reused, so a late 'create'
    must not undelete a tag."""
    require_id(tag_id, "tag_id")
    with transaction.atomic():
        tag, created = lock_or_create(Tag, lookup={"tag_id": tag_id}, defaults={"wecom_changed_at": changed_at})
        if not created:
            update_changed(tag, _dated(tag, changed_at))
    return tag


def tag_group_ensure(*, group_id: str, changed_at: datetime | None = None) -> TagGroup:
    require_id(group_id, "group_id")
    with transaction.atomic():
        group, created = lock_or_create(
            TagGroup, lookup={"group_id": group_id}, defaults={"wecom_changed_at": changed_at}
        )
        if not created:
            update_changed(group, _dated(group, changed_at))
    return group


def tag_mark_deleted(*, tag_id: str, changed_at: datetime | None = None) -> Tag:
    """The tag was deleted in WeCom: keep the row, mark it (a tag we never saw is recorded as deleted)."""
    require_id(tag_id, "tag_id")
    with transaction.atomic():
        tag, created = lock_or_create(
            Tag, lookup={"tag_id": tag_id}, defaults={"deleted": True, "wecom_changed_at": changed_at}
        )
        if not created:
            update_changed(tag, _reconcile(tag, {"deleted": True, **_dated(tag, changed_at)}, wecom_at=changed_at))
    return tag


def tag_group_mark_deleted(*, group_id: str, changed_at: datetime | None = None) -> TagGroup:
    """The group was deleted in WeCom, and with it all its tags (WeCom sends no event per tag)."""
    require_id(group_id, "group_id")
    with transaction.atomic():
        group, created = lock_or_create(
            TagGroup, lookup={"group_id": group_id}, defaults={"deleted": True, "wecom_changed_at": changed_at}
        )
        if not created:
            values = {"deleted": True, **_dated(group, changed_at)}
            update_changed(group, _reconcile(group, values, wecom_at=changed_at))
        for tag in Tag.objects.select_for_update().filter(group=group, deleted=False).order_by("pk"):
            update_changed(tag, _reconcile(tag, {"deleted": True}, wecom_at=changed_at))
    return group


def _dated(row: Tag | TagGroup, changed_at: datetime | None) -> dict[str, Any]:
    """``wecom_changed_at`` moves forward only: events may arrive out of order."""
    if changed_at is None or (row.wecom_changed_at and row.wecom_changed_at >= changed_at):
        return {}
    return {"wecom_changed_at": changed_at}


def _reconcile(row: Tag | TagGroup, values: dict[str, Any], *, wecom_at: datetime | None) -> dict[str, Any]:
    """The values to write from WeCom on ``row``: all of them, unless the row has an edit WeCom does not have and
    it is the later writer (see the module docstring). A real disagreement is audited."""
    if row.kind != TagKind.CORP or row.sync_state not in UNSENT or row.local_changed_at is None:
        return values
    here = {name: getattr(row, name) for name in CONTESTED if name in values and getattr(row, name) != values[name]}
    if not here:
        return values
    deleted_in_wecom = "deleted" in here and values["deleted"]
    wecom_won = bool(deleted_in_wecom or (wecom_at and wecom_at > row.local_changed_at))
    audit_record(
        actor=None,
        action="sync_conflict",
        target=row,
        changes={
            **{name: {"here": value, "wecom": values[name]} for name, value in here.items()},
            "changed_here_at": row.local_changed_at,
            "changed_in_wecom_at": wecom_at,
            "winner": "wecom" if wecom_won else "here",
        },
    )
    if wecom_won:
        return {**values, "sync_state": SyncState.SYNCED, "sync_error": "", "sync_attempts": 0}
    return {name: value for name, value in values.items() if name not in here}


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
    model: type[M], *, key: str, rows: dict[str, dict[str, Any]], reconcile, related: tuple[str, ...] = ()
) -> dict[str, M]:
    """Lock the existing rows in one query, update what differs (as ``reconcile`` allows), create the rest;
    returns key → row."""
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
            update_changed(row, reconcile(row, values))
    model.objects.bulk_create(new)
    return existing
