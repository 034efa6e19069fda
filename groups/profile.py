"""The "groups" section of the customer 360 view: the customer groups the customer's WeCom contacts are in now."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from customers.models import Customer
from customers.profile import register_profile_section
from groups.models import CustomerGroup, GroupMember


class ProfileGroupSerializer(serializers.Serializer):
    chat_id = serializers.CharField()
    name = serializers.CharField()
    owner_userid = serializers.CharField()
    status = serializers.ChoiceField(choices=CustomerGroup.Status.choices)
    member_count = serializers.IntegerField()
    member_id = serializers.CharField(help_text=_("the external_userid of the customer’s contact in this group"))
    group_nickname = serializers.CharField()
    join_time = serializers.DateTimeField(allow_null=True)
    join_scene = serializers.ChoiceField(choices=GroupMember.JoinScene.choices, allow_null=True)


def customer_groups(customer: Customer, contacts: list[dict]) -> list[dict]:
    """Current memberships of any of the customer's contacts, newest join first: one query (none without contacts)."""
    member_ids = [contact["external_userid"] for contact in contacts]
    if not member_ids:
        return []
    memberships = (
        GroupMember.objects.current()
        .filter(member_id__in=member_ids)
        .order_by("-join_time", "-id")
        .values(
            "member_id",
            "group_nickname",
            "join_time",
            "join_scene",
            "group__chat_id",
            "group__name",
            "group__owner_userid",
            "group__status",
            "group__member_count",
        )
    )
    return [
        {
            "chat_id": row["group__chat_id"],
            "name": row["group__name"],
            "owner_userid": row["group__owner_userid"],
            "status": row["group__status"],
            "member_count": row["group__member_count"],
            "member_id": row["member_id"],
            "group_nickname": row["group_nickname"],
            "join_time": row["join_time"],
            "join_scene": row["join_scene"],
        }
        for row in memberships
    ]


register_profile_section("groups", customer_groups, serializer=ProfileGroupSerializer)
