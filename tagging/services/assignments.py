"""Putting tags on customers and customer groups, and taking them off.

Every path (staff by hand, rules, WeCom, imports, bulk jobs) goes through ``customer_tags_change`` or
``group_tags_change`` (an undone bulk removal through ``customer_tags_restore``). Each call, in one transaction:
locks the rows it tags (id order, so concurrent calls cannot deadlock or lose an update), writes the assignment
rows, rebuilds the indexed ``tag_ids`` array of every row it changed from those assignment rows, and for customers
records one timeline entry per changed customer and queues the WeCom ``mark_tag`` calls that make corp tags show
in WeCom too (sent after commit). A call that would change nothing writes nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, TimelineEntry
from groups.models import CustomerGroup
from scrm.core.services import acting_user, audit_record
from scrm.core.upsert import insert_rows, update_rows
from tagging.models import CustomerTag, GroupTag, Source, Tag, TagBulkJob, TagKind, TagRule, TagTarget

# Customers per transaction when a caller passes more: keeps locks short and memory flat for a 100k segment.
CHUNK = 2000


@dataclass
class TagChanges:
    """What a call changed: owner id → tag pks added; owner id → the assignments removed, as they were."""

    added: dict[int, list[int]] = field(default_factory=lambda: defaultdict(list))
    removed: dict[int, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))

    @property
    def changed_ids(self) -> list[int]:
        return sorted(self.added.keys() | self.removed.keys())

    def merge(self, other: TagChanges) -> None:
        for owner, tags in other.added.items():
            self.added[owner].extend(tags)
        for owner, rows in other.removed.items():
            self.removed[owner].extend(rows)


@dataclass(frozen=True)
class _Kind:
    owner: type[models.Model]
    assignment: type[models.Model]
    owner_field: str  # the assignment's foreign key to the owner
    target: str


CUSTOMERS = _Kind(Customer, CustomerTag, "customer", TagTarget.CUSTOMER)
GROUPS = _Kind(CustomerGroup, GroupTag, "group", TagTarget.GROUP)


def customer_tags_change(
    *,
    customer_ids: Iterable[int],
    add: Iterable[int] = (),
    remove: Iterable[int] = (),
    source: str,
    actor=None,
    rule: TagRule | None = None,
    job: TagBulkJob | None = None,
    only_rule: bool = False,
    push_to_wecom: bool = True,
    at: datetime | None = None,
) -> TagChanges:
    """Add the tags ``add`` (pks) to these customers and remove ``remove``. ``only_rule=True`` removes only what
    ``rule`` itself put on (a rule never takes off a tag someone set by hand). ``push_to_wecom=False`` when the
    change came from WeCom. Customers that no longer exist are skipped."""
    return _change(
        CUSTOMERS,
        owner_ids=customer_ids,
        add=add,
        remove=remove,
        source=source,
        actor=actor,
        rule=rule,
        job=job,
        only_rule=only_rule,
        push_to_wecom=push_to_wecom,
        at=at,
    )


def group_tags_change(
    *, group_ids: Iterable[int], add: Iterable[int] = (), remove: Iterable[int] = (), source: str, actor=None
) -> TagChanges:
    """Tag customer groups (with tags of a group-target tag group). WeCom has no group tags: nothing is sent."""
    return _change(GROUPS, owner_ids=group_ids, add=add, remove=remove, source=source, actor=actor)


def tags_for(*, target: str, tag_ids: Iterable[int], adding: bool, source: str) -> dict[int, Tag]:
    """The tags by pk, checked for use on ``target``: every id must exist; tags being added must be live, apply to
    that target, and be corp or system tags unless WeCom itself reports them (personal tags are read-only)."""
    wanted = set(tag_ids)
    tags = {tag.pk: tag for tag in Tag.objects.filter(pk__in=wanted).select_related("group")}
    missing = wanted - tags.keys()
    if missing:
        raise ValidationError({"tags": _("No such tag: %(ids)s.") % {"ids": ", ".join(map(str, sorted(missing)))}})
    if adding:
        for tag in tags.values():
            if tag.deleted:
                raise ValidationError({"tags": _("The tag “%(name)s” has been deleted.") % {"name": tag}})
            group_target = tag.group.target if tag.group else TagTarget.CUSTOMER
            if group_target != target:
                raise ValidationError(
                    {
                        "tags": _("The tag “%(name)s” does not apply to %(target)s.")
                        % {"name": tag, "target": TagTarget(target).label}
                    }
                )
    for tag in tags.values():  # adding or removing: WeCom would put a removed one back at the next sync
        if tag.kind == TagKind.PERSONAL and source != Source.WECOM:
            raise ValidationError(
                {
                    "tags": _("“%(name)s” is an employee's personal WeCom tag: it can only be changed in WeCom.")
                    % {"name": tag}
                }
            )
    return tags


def _change(
    kind: _Kind,
    *,
    owner_ids: Iterable[int],
    add: Iterable[int],
    remove: Iterable[int],
    source: str,
    actor=None,
    rule: TagRule | None = None,
    job: TagBulkJob | None = None,
    only_rule: bool = False,
    push_to_wecom: bool = False,
    at: datetime | None = None,
) -> TagChanges:
    if source not in Source.values:
        raise ValidationError({"source": _("Unknown tag source “%(source)s”.") % {"source": source}})
    add, remove = set(add), set(remove)
    if add & remove:
        raise ValidationError({"tags": _("A tag cannot be added and removed at once.")})
    tags = tags_for(target=kind.target, tag_ids=add, adding=True, source=source)
    tags |= tags_for(target=kind.target, tag_ids=remove, adding=False, source=source)
    ids = sorted(set(owner_ids))
    result = TagChanges()
    if not ids or not (add or remove):
        return result
    at = at or timezone.now()
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            chunk = _change_chunk(
                kind, ids[start : start + CHUNK], add, remove, source, acting_user(actor), rule, job, only_rule, at
            )
            _recorded(kind, chunk, tags, source, actor, at, push_to_wecom=push_to_wecom)
            if kind is CUSTOMERS and chunk.changed_ids and actor is not None and job is None and len(ids) == 1:
                audit_record(
                    actor=actor, action="tags", target=Customer(pk=ids[0]), changes=_names(chunk, tags, ids[0])
                )
        result.merge(chunk)
    return result


def customer_tags_restore(*, assignments: Iterable[dict[str, Any]], actor=None) -> TagChanges:
    """Put back assignments that a change took off, each as ``TagChanges.removed`` reported it plus its
    ``customer_id``, with their original source, actor, rule and time: the undo of a bulk removal. The same path
    as a change (locks, ``tag_ids``, one timeline entry per customer by ``actor``, WeCom ``mark_tag``); the tags
    pass the checks of putting them on. A customer who carries the tag again by now keeps that assignment; an
    actor or rule deleted since is restored as none, as their deletion would have left it."""
    rows = list(assignments)
    tags: dict[int, Tag] = {}
    for source in {row["source"] for row in rows}:
        wanted = {row["tag_id"] for row in rows if row["source"] == source}
        tags |= tags_for(target=TagTarget.CUSTOMER, tag_ids=wanted, adding=True, source=source)
    users = set(
        get_user_model().objects.filter(pk__in={row["actor_id"] for row in rows} - {None}).values_list("pk", flat=True)
    )
    rules = set(TagRule.objects.filter(pk__in={row["rule_id"] for row in rows} - {None}).values_list("pk", flat=True))
    by_customer: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_customer[row["customer_id"]].append(row)
    ids = sorted(by_customer)
    at, result = timezone.now(), TagChanges()
    for start in range(0, len(ids), CHUNK):
        with transaction.atomic():
            locked = _lock(CUSTOMERS, ids[start : start + CHUNK])
            have = set(
                CustomerTag.objects.filter(customer_id__in=locked, tag_id__in=tags).values_list("customer_id", "tag_id")
            )
            chunk, new_rows = TagChanges(), []
            for customer_id in locked:
                for row in by_customer[customer_id]:
                    if (customer_id, row["tag_id"]) in have:
                        continue
                    have.add((customer_id, row["tag_id"]))
                    new_rows.append(
                        {
                            "customer_id": customer_id,
                            "tag_id": row["tag_id"],
                            "source": row["source"],
                            "actor_id": row["actor_id"] if row["actor_id"] in users else None,
                            "rule_id": row["rule_id"] if row["rule_id"] in rules else None,
                            "job_id": None,
                            "created_at": row["created_at"],
                        }
                    )
                    chunk.added[customer_id].append(row["tag_id"])
            customer_tags_write(
                changes=chunk, new_rows=new_rows, doomed=[], tags=tags, source=Source.MANUAL, actor=actor, at=at
            )
        result.merge(chunk)
    return result


def _lock(kind: _Kind, ids: list[int]) -> list[int]:
    """Lock these owners' rows in id order (concurrent calls then cannot deadlock); returns the ids that exist."""
    return list(
        kind.owner._default_manager.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
    )


def customer_tags_write(
    *,
    changes: TagChanges,
    new_rows: list[dict[str, Any]],
    doomed: list[int],
    tags: dict[int, Tag],
    source: str,
    actor,
    at: datetime,
    push_to_wecom: bool = True,
) -> None:
    """Store customer tag changes a caller already worked out under the customers' locks (``new_rows`` to insert,
    ``doomed`` assignment pks to delete, ``changes`` what they amount to): the rows, the arrays, the timeline
    entries and (unless the change came from WeCom) the ``mark_tag`` calls, as ``customer_tags_change`` does."""
    _write(CUSTOMERS, changes, new_rows, doomed)
    _recorded(CUSTOMERS, changes, tags, source, actor, at, push_to_wecom=push_to_wecom)


def _write(kind: _Kind, changes: TagChanges, new_rows: list[dict[str, Any]], doomed: list[int]) -> None:
    insert_rows(kind.assignment, new_rows)
    if doomed:
        kind.assignment._default_manager.filter(pk__in=doomed).delete()
    _rebuild_arrays(kind, changes.changed_ids)


def _recorded(kind: _Kind, changes: TagChanges, tags, source: str, actor, at, *, push_to_wecom: bool) -> None:
    """A customer chunk's timeline entries and WeCom ``mark_tag`` calls, in its transaction."""
    if kind is not CUSTOMERS or not changes.changed_ids:
        return
    _timeline(changes, tags, source, actor, at)
    if push_to_wecom:
        from tagging.services.wecom_push import wecom_tag_push_enqueue

        wecom_tag_push_enqueue(changes=changes, tags=tags)


def _change_chunk(kind, ids, add, remove, source, user, rule, job, only_rule, at) -> TagChanges:
    owner_attname = f"{kind.owner_field}_id"
    locked = _lock(kind, ids)
    existing = list(
        kind.assignment._default_manager.filter(**{f"{owner_attname}__in": locked, "tag_id__in": add | remove}).values(
            "pk", owner_attname, "tag_id", "source", "actor_id", "rule_id", "created_at"
        )
    )
    have = {(row[owner_attname], row["tag_id"]) for row in existing}
    changes = TagChanges()
    new_rows = []
    for owner_id in locked:
        for tag_id in sorted(add):
            if (owner_id, tag_id) not in have:
                new_rows.append(
                    {
                        owner_attname: owner_id,
                        "tag_id": tag_id,
                        "source": source,
                        "actor_id": user.pk if user else None,
                        "rule_id": rule.pk if rule else None,
                        "job_id": job.pk if job else None,
                        "created_at": at,
                    }
                )
                changes.added[owner_id].append(tag_id)
    doomed = []
    for row in existing:
        if row["tag_id"] in remove and (not only_rule or (rule is not None and row["rule_id"] == rule.pk)):
            doomed.append(row["pk"])
            changes.removed[row[owner_attname]].append(
                {key: row[key] for key in ("tag_id", "source", "actor_id", "rule_id", "created_at")}
            )
    _write(kind, changes, new_rows, doomed)
    return changes


def rebuild_tag_arrays(*, target: str, ids: list[int]) -> None:
    """Set ``tag_ids`` of these customers (or groups) from their assignment rows. Callers hold the row locks."""
    _rebuild_arrays(CUSTOMERS if target == TagTarget.CUSTOMER else GROUPS, ids)


def _rebuild_arrays(kind: _Kind, ids: list[int]) -> None:
    if not ids:
        return
    owner_attname = f"{kind.owner_field}_id"
    if connection.vendor == "postgresql":
        quote = connection.ops.quote_name
        owner, assignment = quote(kind.owner._meta.db_table), quote(kind.assignment._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {owner} o SET tag_ids = ARRAY(SELECT a.tag_id FROM {assignment} a "  # noqa: S608 - model names
                f"WHERE a.{quote(owner_attname)} = o.id ORDER BY a.tag_id) WHERE o.id = ANY(%s)",
                [ids],
            )
        return
    arrays: dict[int, list[int]] = {owner_id: [] for owner_id in ids}
    for owner_id, tag_id in (
        kind.assignment._default_manager.filter(**{f"{owner_attname}__in": ids})
        .order_by("tag_id")
        .values_list(owner_attname, "tag_id")
    ):
        arrays[owner_id].append(tag_id)
    update_rows(kind.owner, {owner_id: {"tag_ids": tag_ids} for owner_id, tag_ids in arrays.items()})


def _names(changes: TagChanges, tags: dict[int, Tag], owner_id: int) -> dict[str, list[str]]:
    return {
        "added": [tags[tag_id].label for tag_id in changes.added.get(owner_id, [])],
        "removed": [tags[row["tag_id"]].label for row in changes.removed.get(owner_id, [])],
    }


def _timeline(changes: TagChanges, tags: dict[int, Tag], source: str, actor, at: datetime) -> None:
    """One timeline entry per changed customer (what was added and removed, by whom), in one INSERT."""
    user = acting_user(actor)
    employee_id = getattr(getattr(user, "employee", None), "pk", None)
    channel = (
        TimelineEntry.Channel.WECOM
        if source == Source.WECOM
        else TimelineEntry.Channel.STAFF
        if user
        else TimelineEntry.Channel.SYSTEM
    )
    call = uuid.uuid4().hex
    tagged, untagged = _("Tagged: %(tags)s"), _("Untagged: %(tags)s")  # once per call: a bulk job has 100,000
    rows = []
    for customer_id in changes.changed_ids:
        names = _names(changes, tags, customer_id)
        parts = []
        if names["added"]:
            parts.append(tagged % {"tags": "、".join(names["added"])})
        if names["removed"]:
            parts.append(untagged % {"tags": "、".join(names["removed"])})
        rows.append(
            {
                "customer_id": customer_id,
                "kind": TimelineEntry.Kind.TAG_CHANGE,
                "channel": channel,
                "occurred_at": at,
                "employee_id": employee_id,
                "summary": "；".join(parts)[:255],
                "content": "",
                "data": {**names, "source": source},
                "source_key": f"tag:{call}:{customer_id}",
            }
        )
    insert_rows(TimelineEntry, rows)
