"""Queueing corp-tag changes for WeCom (``mark_tag`` per follow relation), in the caller's transaction.

A corp tag put on a customer here must show in WeCom on every active follow relation of that customer; one taken
off must disappear there. The calls go into the ``WeComTagPush`` outbox, one pending row per relation, merged
with what is already pending; a drain task kicked after commit sends them (``tagging.services.wecom_tag_pushes``).
"""

from __future__ import annotations

from collections import defaultdict

from django.utils import timezone

from customers.models import FollowRelation
from tagging.models import Tag, TagKind, WeComTagPush
from tagging.services.wecom_tag_pushes import wecom_tag_pushes_kick


def wecom_tag_push_enqueue(*, changes, tags: dict[int, Tag]) -> int:
    """Queue the WeCom side of ``changes`` (a ``TagChanges`` of customers); returns the outbox rows written."""
    wecom_id = {pk: tag.tag_id for pk, tag in tags.items() if tag.kind == TagKind.CORP and tag.tag_id}
    adds: dict[int, set[str]] = defaultdict(set)
    removes: dict[int, set[str]] = defaultdict(set)
    for customer_id, tag_pks in changes.added.items():
        adds[customer_id].update(wecom_id[pk] for pk in tag_pks if pk in wecom_id)
    for customer_id, rows in changes.removed.items():
        removes[customer_id].update(wecom_id[row["tag_id"]] for row in rows if row["tag_id"] in wecom_id)
    customers = [c for c in changes.changed_ids if adds.get(c) or removes.get(c)]
    if not customers:
        return 0
    relations = FollowRelation.objects.filter(
        contact__customer_id__in=customers, status=FollowRelation.Status.ACTIVE
    ).values_list("pk", "contact__customer_id", "wecom_tag_ids")
    return _queue({pk: (shown, adds[customer_id], removes[customer_id]) for pk, customer_id, shown in relations})


def wecom_tag_push_to_relations(*, adds: dict[int, set[str]]) -> int:
    """Queue ``mark_tag`` additions of these WeCom tag ids on these follow relations (relation pk → tag ids), merged
    with what is pending; returns the outbox rows written."""
    relations = FollowRelation.objects.filter(pk__in=adds).values_list("pk", "wecom_tag_ids")
    return _queue({pk: (shown, adds[pk], set()) for pk, shown in relations})


def _queue(wanted: dict[int, tuple[list | None, set[str], set[str]]]) -> int:
    """Merge relation pk → (tag ids WeCom shows, to add, to remove) into the outbox and kick the drain."""
    if not wanted:
        return 0
    pending = {
        push.relation_id: push
        for push in WeComTagPush.objects.select_for_update()
        .filter(relation_id__in=list(wanted), status=WeComTagPush.Status.PENDING)
        .order_by("pk")
    }
    now = timezone.now()
    new, changed, emptied = [], [], []
    for relation_id, (shown, add, remove) in wanted.items():
        shown, push = set(shown or []), pending.get(relation_id)
        queued_add = set(push.add_tag_ids) if push else set()
        queued_remove = set(push.remove_tag_ids) if push else set()
        # Against what WeCom shows plus what is queued: the later change wins for a tag named in both.
        final_add = (queued_add - remove) | (add - shown)
        final_remove = (queued_remove - add) | (remove & shown)
        if push is None:
            if final_add or final_remove:
                new.append(
                    WeComTagPush(
                        relation_id=relation_id,
                        add_tag_ids=sorted(final_add),
                        remove_tag_ids=sorted(final_remove),
                        due_at=now,
                    )
                )
        elif not (final_add or final_remove):
            emptied.append(push.pk)
        elif (final_add, final_remove) != (queued_add, queued_remove):
            push.add_tag_ids, push.remove_tag_ids = sorted(final_add), sorted(final_remove)
            changed.append(push)
    WeComTagPush.objects.bulk_create(new)
    WeComTagPush.objects.bulk_update(changed, ["add_tag_ids", "remove_tag_ids"])
    WeComTagPush.objects.filter(pk__in=emptied).delete()
    if new or changed:
        wecom_tag_pushes_kick()
    return len(new) + len(changed) + len(emptied)
