"""WeCom → here: a customer's corp and personal tags follow what WeCom shows on its follow relations.

WeCom keeps tags per follow relation (employee × contact); here they belong to the customer. A customer carries a
corp tag while any of its active relations shows it, and a personal tag (个人标签, an employee's own words, which
have no id) while any active relation lists it. Called for every batch of contacts whose relations were written —
a callback, a single-contact refresh, each page of the full sync — inside that transaction, with a fixed number of
queries however many contacts, customers and tags the batch holds.

Last writer wins: a corp tag we put on or took off here whose ``mark_tag`` is still pending is a newer edit than
what WeCom shows, so WeCom's view does not undo it; nor while the push has failed, until WeCom next reports that
relation (then an employee's edit in WeCom is the later one).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import pgettext

from customers.models import Customer, ExternalContact, FollowRelation
from customers.models.wecom import WECOM_ID_LENGTH
from tagging.models import CustomerTag, Source, Tag, TagGroup, TagKind, TagTarget, WeComTagPush
from tagging.services.assignments import TagChanges, customer_tags_write

WECOM_KINDS = (TagKind.CORP, TagKind.PERSONAL)
NAME_LENGTH = Tag._meta.get_field("name").max_length
# Our edits WeCom does not show yet: a pending push (it will be sent), and a failed one until WeCom next reports
# the relation (a failed row's due_at is when it failed; WeCom's later report is the later view).
UNSENT_PENDING, UNSENT_FAILED = WeComTagPush.Status.PENDING, WeComTagPush.Status.FAILED
# A removed assignment as ``TagChanges`` keeps it.
REMOVED = ("customer_id", "tag_id", "source", "actor_id", "rule_id", "created_at")
# A tag (``t``) with its group (``g``) as the plain-SQL reads take it; ``_tag`` builds it.
TAG_COLUMNS = "t.id, t.kind, t.tag_id, t.name, t.deleted, t.group_id, g.name"


def customer_tags_reconcile_from_wecom(*, contact_ids: Iterable[int], at: datetime | None = None) -> TagChanges:
    """Make the corp and personal tags of these contacts' customers what WeCom shows on their active relations
    (all of each customer's contacts count, not only these): add what WeCom shows and the customer lacks (source
    WeCom; unknown corp tag ids become placeholders, new personal tag names new personal tags), remove what no
    active relation shows any more — except corp tags whose pending or failed ``mark_tag`` says otherwise.
    Nothing goes back to WeCom. System tags are never touched.

    Four queries when nothing changes (customers, their contacts, the active relations, the assignments), a few
    more when something does; never one per contact, customer or tag."""
    ids = sorted(set(contact_ids))
    if not ids:
        return TagChanges()
    with transaction.atomic(savepoint=False):  # joins the caller's (the hook's) transaction
        customers = _locked_customers(ids)
        if not customers:
            return TagChanges()
        shown_ids: defaultdict[int, set[str]] = defaultdict(set)
        shown_names: defaultdict[int, set[str]] = defaultdict(set)
        unsent: dict[int, int] = {}  # active relation with a pending or failed mark_tag → its customer
        for relation_id, customer_id, tag_ids, names, has_unsent in _active_relations(customers):
            shown_ids[customer_id].update(tag_id for tag_id in tag_ids if len(tag_id) <= WECOM_ID_LENGTH)
            shown_names[customer_id].update(name[:NAME_LENGTH] for name in names)
            if has_unsent:
                unsent[relation_id] = customer_id
        held, tags = _held(customers)
        corp, personal = _shown_tags(
            tag_ids=set().union(*shown_ids.values()), names=set().union(*shown_names.values()), tags=tags
        )

        adds: dict[int, set[int]] = {}
        removes: dict[int, set[int]] = {}
        for customer_id in customers:
            shown = {corp[tag_id].pk for tag_id in shown_ids[customer_id] if not corp[tag_id].deleted}
            shown |= {personal[name].pk for name in shown_names[customer_id]}
            mine = {pk for pk in held[customer_id] if tags[pk].kind in WECOM_KINDS}  # system tags are ours alone
            if add := shown - mine:
                adds[customer_id] = add
            if remove := mine - shown:
                removes[customer_id] = remove
        _keep_unsent_edits(adds, removes, tags, unsent)
        _carry_to_new_relations(removes, tags)
        return _apply(adds, removes, tags, at or timezone.now())


# ---- reads: plain SQL by key ------------------------------------------------------------------------------------
# The full sync runs these for every page. As ORM queries, building them cost more CPU than the whole page's
# contact upsert; as SQL they are a string and a fetch. Only key lookups on the big tables, no joins between them:
# on tables without statistics yet (a first sync) PostgreSQL plans such a join as a scan of every row.


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _marks(values: list) -> str:
    return ", ".join(["%s"] * len(values))


def _locked_customers(contact_ids: list[int]) -> list[int]:
    """The contacts' customers, locked in id order like every tag write (``rebuild_tag_arrays`` writes them)."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = (
        f"SELECT id FROM {_table(Customer)} WHERE id IN "  # noqa: S608 - table names from the models
        f"(SELECT customer_id FROM {_table(ExternalContact)} WHERE id IN ({_marks(contact_ids)})) ORDER BY id{lock}"
    )
    return [pk for (pk,) in _fetch(sql, contact_ids)]


def _active_relations(customers: list[int]) -> Iterator[tuple[int, int, list[str], list[str], bool]]:
    """(relation, customer, corp tag ids, personal tag names, has an unsent push) for every active relation of
    every contact of these customers."""
    customer_of = dict(
        _fetch(
            f"SELECT id, customer_id FROM {_table(ExternalContact)} "  # noqa: S608 - table names from the models
            f"WHERE customer_id IN ({_marks(customers)})",
            customers,
        )
    )
    if not customer_of:
        return
    pushes = _table(WeComTagPush)
    sql = (
        "SELECT r.id, r.contact_id, r.wecom_tag_ids, r.personal_tags, EXISTS ("  # noqa: S608 - table names
        f"SELECT 1 FROM {pushes} p WHERE p.relation_id = r.id "
        "AND (p.status = %s OR (p.status = %s AND p.due_at >= r.updated_at))"
        f") FROM {_table(FollowRelation)} r WHERE r.contact_id IN ({_marks(list(customer_of))}) AND r.status = %s"
    )
    params = [UNSENT_PENDING, UNSENT_FAILED, *customer_of, FollowRelation.Status.ACTIVE]
    for relation_id, contact_id, tag_ids, names, has_unsent in _fetch(sql, params):
        yield relation_id, customer_of[contact_id], _json(tag_ids), _json(names), bool(has_unsent)


def _json(value) -> list:
    return value if isinstance(value, list) else json.loads(value)


def _held(customers: list[int]) -> tuple[defaultdict[int, set[int]], dict[int, Tag]]:
    """The tags each customer carries (customer → tag pks) and those tags by pk, named for the timeline: one
    query (the tag tables are small, joining them costs nothing)."""
    sql = (
        f"SELECT a.customer_id, {TAG_COLUMNS} FROM {_table(CustomerTag)} a "  # noqa: S608 - table names
        f"JOIN {_table(Tag)} t ON t.id = a.tag_id "
        f"LEFT JOIN {_table(TagGroup)} g ON g.id = t.group_id WHERE a.customer_id IN ({_marks(customers)})"
    )
    held: defaultdict[int, set[int]] = defaultdict(set)
    tags: dict[int, Tag] = {}
    for customer_id, *tag in _fetch(sql, customers):
        held[customer_id].add(tag[0])
        if tag[0] not in tags:
            tags[tag[0]] = _tag(*tag)
    return held, tags


def _tags_named(*, tag_ids: list[str], names: list[str]) -> list[Tag]:
    """Corp tags by WeCom id and live personal tags by name, oldest first."""
    wanted = [f"t.tag_id IN ({_marks(tag_ids)})"] if tag_ids else []
    if names:
        wanted.append(f"(t.kind = %s AND t.deleted = %s AND t.name IN ({_marks(names)}))")
    sql = (
        f"SELECT {TAG_COLUMNS} FROM {_table(Tag)} t LEFT JOIN {_table(TagGroup)} g ON g.id = t.group_id "  # noqa: S608
        f"WHERE {' OR '.join(wanted)} ORDER BY t.id"
    )
    params = [*tag_ids, *([TagKind.PERSONAL, False, *names] if names else [])]
    return [_tag(*row) for row in _fetch(sql, params)]


def _tag(pk: int, kind: str, tag_id: str, name: str, deleted, group_id: int | None, group_name: str | None) -> Tag:
    """A tag as read with ``TAG_COLUMNS``: enough of it to compare and to name in the timeline."""
    tag = Tag(pk=pk, kind=kind, tag_id=tag_id, name=name, deleted=bool(deleted))
    if group_id is not None:
        tag.group = TagGroup(pk=group_id, name=group_name)
    return tag


def _shown_tags(*, tag_ids: set[str], names: set[str], tags: dict[int, Tag]) -> tuple[dict[str, Tag], dict[str, Tag]]:
    """The shown corp tags by WeCom id and personal tags by name, from ``tags`` (the ones customers hold, which
    this completes) and one query for the rest, if any. Unknown corp tag ids become placeholders (id only; the
    tag sync names them) as ``tag_ensure`` makes them, in bulk; a concurrent insert of the same id is skipped and
    read back. Unknown personal tag names become personal tags in the personal tag group."""
    corp = {tag.tag_id: tag for tag in tags.values() if tag.kind == TagKind.CORP and tag.tag_id in tag_ids}
    personal: dict[str, Tag] = {}
    for pk in sorted(tags):  # the oldest of a name, should a race have made two
        if tags[pk].kind == TagKind.PERSONAL and not tags[pk].deleted and tags[pk].name in names:
            personal.setdefault(tags[pk].name, tags[pk])
    unknown_ids, unknown_names = tag_ids - corp.keys(), names - personal.keys()
    if unknown_ids or unknown_names:
        for tag in _tags_named(tag_ids=sorted(unknown_ids), names=sorted(unknown_names)):
            if tag.tag_id in unknown_ids:
                corp[tag.tag_id] = tag
            elif tag.kind == TagKind.PERSONAL:
                personal.setdefault(tag.name, tag)
    if missing := sorted(tag_ids - corp.keys()):
        Tag.objects.bulk_create([Tag(tag_id=tag_id) for tag_id in missing], ignore_conflicts=True)
        corp |= {tag.tag_id: tag for tag in Tag.objects.filter(tag_id__in=missing).select_related("group")}
    if missing := names - personal.keys():
        group = _personal_group()
        personal |= _personal_by_name(missing)  # made by a writer that held the group's lock before us
        if still := sorted(missing - personal.keys()):
            Tag.objects.bulk_create([Tag(kind=TagKind.PERSONAL, group=group, name=name) for name in still])
            personal |= _personal_by_name(set(still))
    tags |= {tag.pk: tag for tag in [*corp.values(), *personal.values()]}
    return corp, personal


def _personal_by_name(names: set[str]) -> dict[str, Tag]:
    found: dict[str, Tag] = {}
    for tag in Tag.objects.live().filter(kind=TagKind.PERSONAL, name__in=names).select_related("group").order_by("pk"):
        found.setdefault(tag.name, tag)
    return found


def _personal_group() -> TagGroup:
    """The group personal tags are filed in (the oldest personal group), created on first use, locked."""
    group = TagGroup.objects.select_for_update().filter(kind=TagKind.PERSONAL, deleted=False).order_by("pk").first()
    if group is None:
        with translation.override(settings.LANGUAGE_CODE):  # a stored name: in the product's language
            name = pgettext("tag group", "Personal tags")
        group = TagGroup(kind=TagKind.PERSONAL, name=name, target=TagTarget.CUSTOMER)
        group.full_clean()
        group.save()
    return group


def _keep_unsent_edits(
    adds: dict[int, set[int]], removes: dict[int, set[int]], tags: dict[int, Tag], unsent: dict[int, int]
) -> None:
    """Drop from ``adds``/``removes`` the corp tags whose latest pending or failed ``mark_tag`` on one of the
    customer's active relations (``unsent``: relation → customer) goes the other way: our edit is newer than
    what WeCom shows."""
    if not unsent or not (adds or removes):
        return
    pk_of = {tag.tag_id: pk for pk, tag in tags.items() if tag.kind == TagKind.CORP and tag.tag_id}
    ours: defaultdict[int, dict[int, bool]] = defaultdict(dict)  # customer → tag pk → we added it (else removed)
    for relation_id, add_ids, remove_ids in (
        WeComTagPush.objects.filter(
            Q(status=UNSENT_PENDING) | Q(status=UNSENT_FAILED, due_at__gte=F("relation__updated_at")),
            relation_id__in=sorted(unsent),
        )
        .order_by("pk")  # the later push wins
        .values_list("relation_id", "add_tag_ids", "remove_tag_ids")
    ):
        edits = ours[unsent[relation_id]]
        edits |= {pk_of[tag_id]: True for tag_id in add_ids if tag_id in pk_of}
        edits |= {pk_of[tag_id]: False for tag_id in remove_ids if tag_id in pk_of}
    for customer_id, edits in ours.items():
        for changes, added in ((adds, False), (removes, True)):
            if customer_id in changes:
                changes[customer_id] -= {pk for pk, ours_added in edits.items() if ours_added is added}
                if not changes[customer_id]:
                    del changes[customer_id]


def _carry_to_new_relations(removes: dict[int, set[int]], tags: dict[int, Tag]) -> None:
    """Keep, and send to WeCom, the corp tags we put on a customer that a relation newer than the tag does not show
    yet: WeCom cannot show what was never sent to it. A customer tagged before it had an active relation (an
    imported customer, a relation added or re-added later) would otherwise lose the tag to the first WeCom report.
    Once a ``mark_tag`` for that tag has been queued on the relation, WeCom's view counts again (an employee may
    take the tag off there). Costs nothing unless a corp tag is about to be removed."""
    corp = {
        (customer_id, pk)
        for customer_id, pks in removes.items()
        for pk in pks
        if tags[pk].kind == TagKind.CORP and tags[pk].tag_id
    }
    if not corp:
        return
    ours = {
        (customer_id, tag_pk): created_at
        for customer_id, tag_pk, created_at in CustomerTag.objects.filter(
            customer_id__in={c for c, _pk in corp}, tag_id__in={pk for _c, pk in corp}
        )
        .exclude(source=Source.WECOM)
        .values_list("customer_id", "tag_id", "created_at")
        if (customer_id, tag_pk) in corp
    }
    if not ours:
        return
    relations = list(
        FollowRelation.objects.filter(
            contact__customer_id__in={c for c, _pk in ours}, status=FollowRelation.Status.ACTIVE
        ).values_list("pk", "contact__customer_id", "created_at", "status_changed_at")
    )
    queued: defaultdict[int, set[str]] = defaultdict(set)  # relation → WeCom tag ids a push ever named
    for relation_id, add_ids, remove_ids in WeComTagPush.objects.filter(
        relation_id__in=[pk for pk, *_rest in relations]
    ).values_list("relation_id", "add_tag_ids", "remove_tag_ids"):
        queued[relation_id].update(add_ids, remove_ids)
    carry: defaultdict[int, set[str]] = defaultdict(set)
    for relation_id, customer_id, created_at, status_changed_at in relations:
        active_since = max(created_at, status_changed_at or created_at)
        for (owner, tag_pk), tagged_at in ours.items():
            tag_id = tags[tag_pk].tag_id
            if owner == customer_id and active_since >= tagged_at and tag_id not in queued[relation_id]:
                carry[relation_id].add(tag_id)
                removes[customer_id].discard(tag_pk)
    for customer_id in [c for c, pks in removes.items() if not pks]:
        del removes[customer_id]
    if carry:
        from tagging.services.wecom_push import wecom_tag_push_to_relations

        wecom_tag_push_to_relations(adds=carry)


def _apply(
    adds: dict[int, set[int]],
    removes: dict[int, set[int]],
    tags: dict[int, Tag],
    at: datetime,
) -> TagChanges:
    """Write per-customer additions and removals through ``customer_tags_write`` (rows, arrays, one timeline
    entry per customer; nothing goes back to WeCom), one statement each for the whole batch. Callers hold the
    customers' locks."""
    changes = TagChanges()
    rows = []
    for customer_id, tag_pks in sorted(adds.items()):
        for tag_pk in sorted(tag_pks):
            rows.append(
                {
                    "customer_id": customer_id,
                    "tag_id": tag_pk,
                    "source": Source.WECOM,
                    "actor_id": None,
                    "rule_id": None,
                    "job_id": None,
                    "created_at": at,
                }
            )
            changes.added[customer_id].append(tag_pk)
    doomed = []
    if removes:
        for row in (
            CustomerTag.objects.filter(customer_id__in=removes, tag_id__in=set().union(*removes.values()))
            .order_by("customer_id", "tag_id")
            .values("pk", *REMOVED)
        ):
            if row["tag_id"] in removes[row["customer_id"]]:
                doomed.append(row.pop("pk"))
                changes.removed[row.pop("customer_id")].append(row)
    if changes.changed_ids:
        customer_tags_write(
            changes=changes,
            new_rows=rows,
            doomed=doomed,
            tags=tags,
            source=Source.WECOM,
            actor=None,
            at=at,
            push_to_wecom=False,
        )
    return changes
