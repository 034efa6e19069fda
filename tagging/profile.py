"""The "tags" section of the customer 360 view: the corp tags the customer's followers put on their contacts."""

from __future__ import annotations

from django.db.models import F
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from customers.models import Customer, FollowRelation
from customers.profile import register_profile_section
from tagging.models import Tag


class ProfileTagSerializer(serializers.Serializer):
    tag_id = serializers.CharField()
    name = serializers.CharField()
    group_id = serializers.CharField(allow_null=True)
    group_name = serializers.CharField()
    tagged_by = serializers.ListField(child=serializers.CharField(), help_text=_("userids of the employees who tagged"))


def customer_tags(customer: Customer, contacts: list[dict]) -> list[dict]:
    """Each live tag once, in WeCom's order, with who put it on: one query (none without tags). Tags sit on a
    follow relation, so only active relations count: an ended one's tags are no longer shown in WeCom."""
    tagged_by: dict[str, set[str]] = {}
    for contact in contacts:
        for relation in contact["relations"]:
            if relation["status"] == FollowRelation.Status.ACTIVE:
                for tag_id in relation["wecom_tag_ids"]:
                    tagged_by.setdefault(tag_id, set()).add(relation["employee"]["userid"])
    if not tagged_by:
        return []
    tags = (
        Tag.objects.live()
        .filter(tag_id__in=list(tagged_by))
        .order_by("-group__order", "group_id", "-order", "id")
        .values("tag_id", "name", group_wecom_id=F("group__group_id"), group_name=F("group__name"))
    )
    return [
        {
            "tag_id": tag["tag_id"],
            "name": tag["name"],
            "group_id": tag["group_wecom_id"],
            "group_name": tag["group_name"] or "",
            "tagged_by": sorted(tagged_by[tag["tag_id"]]),
        }
        for tag in tags
    ]


register_profile_section("tags", customer_tags, serializer=ProfileTagSerializer)
