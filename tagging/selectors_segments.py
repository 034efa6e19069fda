"""Reads of segments: saved ones, and any expression's live count and members, as the asking user may see them.

Members come newest first (``-id``), a page at a time by keyset (``before`` = the last id of the previous page):
PostgreSQL walks the primary key backwards and filters on ``tag_ids``, or for a narrow segment reads the GIN
index and sorts the few rows, and any page costs what the first does. Phones leave here masked; the full number
only ever through the audited reveal (``customers.services.customer_phone_reveal``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from customers.models import Customer
from groups.models import CustomerGroup
from tagging.models import Segment, TagTarget
from tagging.segments import customers_in_segment, groups_in_segment

SAMPLE_SIZE = 20
MAX_PAGE = 200


@dataclass(frozen=True)
class Preview:
    count: int
    sample: list[Customer] | list[CustomerGroup]


def segments_list(*, target: str | None = None) -> QuerySet[Segment]:
    segments = Segment.objects.select_related("created_by").order_by("name", "id")
    return segments.filter(target=target) if target else segments


def segment_members_queryset(*, expression: str, target: str, user) -> QuerySet:
    """Everything in the segment the user may see (customers: ``customers_visible_to``; groups: all), with the
    joins a member list shows. Raises SegmentError for a bad expression."""
    if target == TagTarget.CUSTOMER:
        return customers_in_segment(expression, user=user).select_related("owner", "opportunity_stage", "tier")
    return groups_in_segment(expression)


def segment_count(*, expression: str, target: str, user) -> int:
    """How many the user may see are in the segment: one COUNT over the index, after resolving the names."""
    return segment_members_queryset(expression=expression, target=target, user=user).count()


def segment_members(
    *, expression: str, target: str, user, before: int | None = None, limit: int = SAMPLE_SIZE
) -> list[Customer] | list[CustomerGroup]:
    """A page of members, newest first: those with an id below ``before`` (the previous page's last id)."""
    members = segment_members_queryset(expression=expression, target=target, user=user)
    return _page(members, before=before, limit=limit)


def segment_preview(*, expression: str, target: str, user, limit: int = SAMPLE_SIZE) -> Preview:
    """The live count and the first ``limit`` members, for a user typing an expression or opening a segment:
    the names resolved once, then two queries (the count, the page)."""
    members = segment_members_queryset(expression=expression, target=target, user=user)
    return Preview(count=members.count(), sample=_page(members, before=None, limit=limit))


def _page(members: QuerySet, *, before: int | None, limit: int) -> list:
    if before is not None:
        members = members.filter(pk__lt=before)
    return list(members.order_by("-id")[: max(1, min(limit, MAX_PAGE))])
