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

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import pgettext

from customers.models import Customer, ExternalContact, FollowRelation
from customers.models.wecom import WECOM_ID_LENGTH
from scrm.core.upsert import insert_rows
from tagging.models import CustomerTag, Source, Tag, TagGroup, TagKind, TagTarget, WeComTagPush
from tagging.services.assignments import TagChanges, _timeline, rebuild_tag_arrays

WECOM_KINDS = (TagKind.CORP, TagKind.PERSONAL)
NAME_LENGTH = Tag._meta.get_field("name").max_length
# An assignment as read (the order ``_apply`` relies on), then its tag.
HELD = ("pk", "customer_id", "tag_id", "source", "actor_id", "rule_id", "created_at")
HELD_TAG = ("tag__kind", "tag__tag_id", "tag__name", "tag__deleted", "tag__group_id", "tag__group__name")


def customer_tags_reconcile_from_wecom(*, contact_ids: Iterable[int], at: datetime | None = None) -> TagChanges:
    """Make the corp and personal tags of these contacts' customers what WeCom shows on their active relations
    (all of each customer's contacts count, not only these): add what WeCom shows and the customer lacks (source
    WeCom; unknown corp tag ids become placeholders, new personal tag names new personal tags), remove what no
    active relation shows any more — except corp tags whose pending or failed ``mark_tag`` says otherwise.
    Nothing goes back to WeCom. System tags are never touched.

    Four queries when nothing changes, at most ten otherwise. The big tables are read by key only, never joined:
    the full sync runs this on tables without statistics yet, where PostgreSQL plans a join of relations and
    contacts as a scan of every relation."""
    ids = sorted(set(contact_ids))
    if not ids:
        return TagChanges()
    with transaction.atomic(savepoint=False):  # joins the caller's (the hook's) transaction
        # The rows ``rebuild_tag_arrays`` writes, locked up front in id order like every tag write.
        customers = list(
            Customer.objects.select_for_update()
            .filter(pk__in=ExternalContact.objects.filter(pk__in=ids).values("customer_id"))
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if not customers:
            return TagChanges()
        customer_of = dict(ExternalContact.objects.filter(customer_id__in=customers).values_list("pk", "customer_id"))
        shown_ids: defaultdict[int, set[str]] = defaultdict(set)
        shown_names: defaultdict[int, set[str]] = defaultdict(set)
        unsent: dict[int, int] = {}  # active relation with a pending or failed mark_tag → its customer
        unsent_push = WeComTagPush.objects.filter(_unsent(OuterRef("updated_at")), relation_id=OuterRef("pk"))
        for relation_id, contact_id, tag_ids, names, has_unsent in (
            FollowRelation.objects.filter(contact_id__in=sorted(customer_of), status=FollowRelation.Status.ACTIVE)
            .annotate(unsent=Exists(unsent_push))
            .values_list("pk", "contact_id", "wecom_tag_ids", "personal_tags", "unsent")
        ):
            customer_id = customer_of[contact_id]
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
        return _apply(adds, removes, held, tags, at or timezone.now())


def _unsent(relation_updated_at) -> Q:
    """Our edits WeCom does not show yet: a pending push (it will be sent), and a failed one until WeCom next
    reports the relation (a failed row's ``due_at`` is when it failed; WeCom's later report is the later view)."""
    return Q(status=WeComTagPush.Status.PENDING) | Q(status=WeComTagPush.Status.FAILED, due_at__gte=relation_updated_at)


def _held(customers: list[int]) -> tuple[defaultdict[int, dict[int, tuple]], dict[int, Tag]]:
    """The customers' assignments (customer → tag pk → row) and their tags by pk, in one query: the tag tables
    are small, so joining them costs nothing. The tags are built from the row (named for the timeline), not
    loaded as model rows one by one."""
    held: defaultdict[int, dict[int, tuple]] = defaultdict(dict)
    tags: dict[int, Tag] = {}
    for row in CustomerTag.objects.filter(customer_id__in=customers).values_list(*HELD, *HELD_TAG):
        held[row[1]][row[2]] = row
        if row[2] not in tags:
            kind, tag_id, name, deleted, group_id, group_name = row[len(HELD) :]
            tags[row[2]] = Tag(pk=row[2], kind=kind, tag_id=tag_id, name=name, deleted=deleted)
            if group_id is not None:
                tags[row[2]].group = TagGroup(pk=group_id, name=group_name)
    return held, tags


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
        for tag in (
            Tag.objects.filter(
                Q(tag_id__in=unknown_ids) | Q(kind=TagKind.PERSONAL, deleted=False, name__in=unknown_names)
            )
            .select_related("group")
            .order_by("pk")
        ):
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
        WeComTagPush.objects.filter(_unsent(F("relation__updated_at")), relation_id__in=sorted(unsent))
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


def _apply(
    adds: dict[int, set[int]],
    removes: dict[int, set[int]],
    held: dict[int, dict[int, tuple]],
    tags: dict[int, Tag],
    at: datetime,
) -> TagChanges:
    """Write per-customer additions and removals as ``customer_tags_change`` does (rows, arrays, one timeline
    entry per customer), in one statement each for the whole batch. Callers hold the customers' locks."""
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
    for customer_id, tag_pks in sorted(removes.items()):
        for tag_pk in sorted(tag_pks):
            row = dict(zip(HELD, held[customer_id][tag_pk][: len(HELD)], strict=True))
            doomed.append(row.pop("pk"))
            del row["customer_id"]
            changes.removed[customer_id].append(row)
    if not changes.changed_ids:
        return changes
    insert_rows(CustomerTag, rows)
    if doomed:
        CustomerTag.objects.filter(pk__in=doomed).delete()
    rebuild_tag_arrays(target=TagTarget.CUSTOMER, ids=changes.changed_ids)
    _timeline(changes, tags, Source.WECOM, None, at)
    return changes
