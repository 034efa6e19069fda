"""Reads of corp tags and tag groups."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from tagging.models import SyncState, Tag, TagGroup, TagKind, TagTarget


def tag_groups_with_tags(*, include_deleted: bool = False, target: str | None = None) -> QuerySet[TagGroup]:
    """Tag groups in WeCom's order (larger ``order`` first), each with its tags prefetched in the same order: two
    queries. ``target``: only the groups for customers, or for customer groups."""
    tags = Tag.objects.all() if include_deleted else Tag.objects.live()
    groups = TagGroup.objects.all() if include_deleted else TagGroup.objects.live()
    if target:
        groups = groups.filter(target=target)
    return groups.prefetch_related(Prefetch("tags", queryset=tags))


def corp_tags_used() -> int:
    """Corp tags counted against WeCom's 3,000: the live ones, sent or waiting to be, and the deleted ones WeCom
    still has (the deletion not sent yet, or refused)."""
    in_wecom_still = Q(deleted=True) & ~Q(tag_id="") & ~Q(sync_state=SyncState.SYNCED)
    return Tag.objects.filter(Q(kind=TagKind.CORP) & (Q(deleted=False) | in_wecom_still)).count()


def tags_by_ids(*, tag_ids: list[str]) -> dict[str, Tag]:
    """WeCom tag id → tag (group joined in), for resolving ids such as FollowRelation.wecom_tag_ids."""
    return {tag.tag_id: tag for tag in Tag.objects.filter(tag_id__in=tag_ids).select_related("group")}


def tags_without_detail() -> QuerySet[Tag]:
    """Placeholders made from callbacks (id only) that the next tag sync fills in."""
    return Tag.objects.filter(name="", deleted=False)


def tags_settable_on_customers() -> QuerySet[Tag]:
    """What staff, rules and bulk jobs may put on customers: live tags of a live customer-target group (or none
    yet), not an employee's personal WeCom tags."""
    return (
        Tag.objects.live()
        .exclude(kind=TagKind.PERSONAL)
        .filter(Q(group__isnull=True) | Q(group__target=TagTarget.CUSTOMER, group__deleted=False))
        .select_related("group")
    )
