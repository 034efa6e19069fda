"""Reads of corp tags and tag groups."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from tagging.models import Tag, TagGroup


def tag_groups_with_tags(*, include_deleted: bool = False) -> QuerySet[TagGroup]:
    """Tag groups in WeCom's order, each with its tags prefetched: two queries."""
    tags = Tag.objects.all() if include_deleted else Tag.objects.live()
    groups = TagGroup.objects.all() if include_deleted else TagGroup.objects.live()
    return groups.prefetch_related(Prefetch("tags", queryset=tags))


def tags_by_ids(*, tag_ids: list[str]) -> dict[str, Tag]:
    """WeCom tag id → tag (group joined in), for resolving ids such as FollowRelation.wecom_tag_ids."""
    return {tag.tag_id: tag for tag in Tag.objects.filter(tag_id__in=tag_ids).select_related("group")}


def tags_without_detail() -> QuerySet[Tag]:
    """Placeholders made from callbacks (id only) that the next tag sync fills in."""
    return Tag.objects.filter(name="", deleted=False)
