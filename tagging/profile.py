"""The "tags" section of the customer 360 view: the customer's tags, with where each came from."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from customers.models import Customer
from customers.profile import register_profile_section
from tagging.assignment_selectors import customer_tag_list
from tagging.models import Source, TagKind


class AssignedTagSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text=_("The tag's id (what the tagging API adds and removes)."))
    name = serializers.CharField()
    wecom_tag_id = serializers.CharField(help_text=_("The corp tag's id in WeCom; empty for other kinds."))
    kind = serializers.ChoiceField(choices=TagKind.choices)
    group_id = serializers.IntegerField(allow_null=True)
    group_name = serializers.CharField()
    source = serializers.ChoiceField(choices=Source.choices)
    actor = serializers.CharField(
        allow_null=True, help_text=_("The staff user who tagged; empty when WeCom or a rule set the tag.")
    )
    tagged_at = serializers.DateTimeField()


def customer_tags(customer: Customer, contacts: list[dict]) -> list[dict]:
    """The customer's tag assignments (one query): corp tags as WeCom's follow relations show them (source
    "wecom") or as staff, rules and imports put them on, system and personal tags alike."""
    return customer_tag_list(customer_id=customer.pk)


register_profile_section("tags", customer_tags, serializer=AssignedTagSerializer)
