"""Reads of tag assignments: a customer's (or customer group's) tags with how each came to be there."""

from __future__ import annotations

from typing import Any

from django.db.models import F, QuerySet

from tagging.models import CustomerTag, GroupTag

FIELDS = {
    "id": "tag_id",
    "name": "tag__name",
    "wecom_tag_id": "tag__tag_id",
    "kind": "tag__kind",
    "group_id": "tag__group_id",
    "group_name": "tag__group__name",
    "source": "source",
    "actor": "actor__username",
    "tagged_at": "created_at",
}


def customer_tag_list(*, customer_id: int) -> list[dict[str, Any]]:
    """The customer's live tags in the taxonomy's order, each with its group, kind, source, who and when: one
    query. A placeholder corp tag (its name not synced yet) is named by its WeCom id."""
    return _rows(CustomerTag.objects.filter(customer_id=customer_id))


def group_tag_list(*, group_id: int) -> list[dict[str, Any]]:
    """The same for a customer group's tags: one query."""
    return _rows(GroupTag.objects.filter(group_id=group_id))


def _rows(assignments: QuerySet) -> list[dict[str, Any]]:
    rows = (
        assignments.filter(tag__deleted=False)
        .order_by(F("tag__group__order").desc(nulls_last=True), "tag__group_id", "-tag__order", "tag_id")
        .values_list(*FIELDS.values())
    )
    result = [dict(zip(FIELDS, row, strict=True)) for row in rows]
    for row in result:
        row["name"] = row["name"] or row["wecom_tag_id"]
        row["group_name"] = row["group_name"] or ""
    return result
