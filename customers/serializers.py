"""Shapes of the customers API: what a request may carry and what a response holds. Shape only: the rules
(who may see what, one customer per phone, idempotent orders …) live in the services and selectors.

Phone numbers leave the API masked (``phone_masked``); the full number only through the audited reveal.
"""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from customers.models import Customer, Employee, Lifecycle, OpportunityStage
from customers.phones import phone_normalize
from customers.profile import profile_sections, timeline_cursor_decode
from customers.services.timeline import NOTE_MAX_LENGTH

# ---- references -------------------------------------------------------------------------------------------------


class EmployeeRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    userid = serializers.CharField()
    name = serializers.CharField()


class StageRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    outcome = serializers.ChoiceField(choices=OpportunityStage.Outcome.choices)


class TierRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class CustomerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    phone_masked = serializers.CharField(source="masked_phone")


# ---- customers --------------------------------------------------------------------------------------------------


class CustomerSerializer(serializers.Serializer):
    """A customer as lists show it."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    phone_masked = serializers.CharField(source="masked_phone")
    owner = EmployeeRefSerializer(allow_null=True)
    origin = serializers.ChoiceField(choices=Customer.Origin.choices)
    lifecycle_stage = serializers.ChoiceField(choices=Lifecycle.choices)
    opportunity_stage = StageRefSerializer(allow_null=True)
    tier = TierRefSerializer(allow_null=True)
    total_spend = serializers.DecimalField(max_digits=14, decimal_places=2)
    order_count = serializers.IntegerField()
    marketing_opt_out = serializers.BooleanField()
    last_contact_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class CustomerProfileSerializer(CustomerSerializer):
    """A customer as the 360 view and the writes show it."""

    referred_by = CustomerRefSerializer(allow_null=True)
    updated_at = serializers.DateTimeField()


class CustomerCreateSerializer(serializers.Serializer):
    phone = serializers.CharField(required=False, allow_blank=True, max_length=64)
    name = serializers.CharField(required=False, allow_blank=True, max_length=128)
    owner = serializers.PrimaryKeyRelatedField(
        queryset=Employee.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Employee id; left out, the signed-in user's employee owns the new customer."),
    )

    def validate_phone(self, value: str) -> str:
        return phone_normalize(value) if value.strip() else ""


class CustomerUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=128)
    owner = serializers.PrimaryKeyRelatedField(queryset=Employee.objects.all(), required=False, allow_null=True)
    marketing_opt_out = serializers.BooleanField(required=False)

    def validate(self, attrs):
        # a client sending {"phone": …} here must hear that nothing changed, not get a silent 200
        unknown = sorted(set(self.initial_data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: _("This field cannot be changed here.") for name in unknown})
        if not attrs:
            raise serializers.ValidationError(_("Give at least one of name, owner, marketing_opt_out."))
        return attrs


class CustomerFilterSerializer(serializers.Serializer):
    """The list's query parameters."""

    q = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text=_("A phone number in any spelling (exact match), its last 4 digits, or part of a name."),
    )
    owner = serializers.IntegerField(required=False, help_text=_("Employee id of the owner."))
    opportunity_stage = serializers.IntegerField(required=False, help_text=_("Opportunity stage id."))
    lifecycle_stage = serializers.ChoiceField(choices=Lifecycle.choices, required=False)
    contacted_after = serializers.DateTimeField(required=False, help_text=_("Last contact at or after."))
    contacted_before = serializers.DateTimeField(required=False, help_text=_("Last contact before."))
    marketing_opt_out = serializers.BooleanField(required=False)


class PhoneQuerySerializer(serializers.Serializer):
    phone = serializers.CharField(help_text=_("A phone number in any spelling."))

    def validate_phone(self, value: str) -> str:
        return phone_normalize(value)


class PhoneTakenSerializer(serializers.Serializer):
    """The error envelope of a create refused because another customer holds the number."""

    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    request_id = serializers.CharField()
    existing_customer_id = serializers.IntegerField(
        required=False, help_text=_("Only when the signed-in user may see that customer.")
    )


# ---- the 360 view -----------------------------------------------------------------------------------------------


class FollowRelationSerializer(serializers.Serializer):
    employee = EmployeeRefSerializer()
    remark = serializers.CharField()
    description = serializers.CharField()
    state = serializers.CharField(help_text=_("The channel code's state the contact was added through."))
    add_way = serializers.IntegerField()
    added_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField()
    status_changed_at = serializers.DateTimeField(allow_null=True)


class ContactSerializer(serializers.Serializer):
    external_userid = serializers.CharField()
    name = serializers.CharField()
    avatar = serializers.CharField()
    type = serializers.IntegerField(allow_null=True)
    gender = serializers.IntegerField()
    corp_name = serializers.CharField()
    relations = FollowRelationSerializer(many=True)


class StageChangeSerializer(serializers.Serializer):
    pipeline = serializers.CharField()
    from_value = serializers.CharField()
    to_value = serializers.CharField()
    actor = serializers.CharField(
        source="actor_username", allow_null=True, help_text=_("Username of who made the change; null for the system.")
    )
    reason = serializers.CharField()
    changed_at = serializers.DateTimeField()


class OrderSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    external_id = serializers.CharField(max_length=64)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    ordered_at = serializers.DateTimeField()
    source = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    created_at = serializers.DateTimeField(read_only=True)


class TimelineEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    channel = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    employee = EmployeeRefSerializer(allow_null=True)
    summary = serializers.CharField()
    content = serializers.CharField()
    data = serializers.JSONField()


class TimelinePageSerializer(serializers.Serializer):
    results = TimelineEntrySerializer(many=True)
    next_cursor = serializers.CharField(
        allow_null=True, help_text=_("Pass as ?cursor= for the next (older) page; null on the last page.")
    )


class TimelineQuerySerializer(serializers.Serializer):
    cursor = serializers.CharField(required=False, help_text=_("next_cursor of the previous page."))
    limit = serializers.IntegerField(
        required=False, default=20, min_value=1, max_value=100, help_text=_("Entries per page (at most 100).")
    )

    def validate_cursor(self, value: str) -> tuple[datetime, int]:
        try:
            return timeline_cursor_decode(value)
        except ValueError:
            raise serializers.ValidationError(_("This is not a timeline cursor.")) from None


class Customer360Serializer(serializers.Serializer):
    """The 360 view. Besides these keys, each section another app registers (``tags``, ``groups``)."""

    profile = CustomerProfileSerializer()
    contacts = ContactSerializer(many=True)
    stage_history = StageChangeSerializer(many=True, help_text=_("The latest 20 stage changes, newest first."))
    orders = OrderSerializer(many=True, help_text=_("The latest 10 orders, newest first."))
    timeline = TimelinePageSerializer(help_text=_("The newest 20 timeline entries."))

    def get_fields(self):
        fields = super().get_fields()
        for name, section in profile_sections().items():
            fields[name] = section.serializer(many=True) if section.serializer else serializers.JSONField()
        return fields


# ---- writes on a customer ---------------------------------------------------------------------------------------


class NoteCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=NOTE_MAX_LENGTH)


class StageSetSerializer(serializers.Serializer):
    opportunity_stage = serializers.PrimaryKeyRelatedField(
        queryset=OpportunityStage.objects.all(),
        required=False,
        allow_null=True,
        help_text=_("Opportunity stage id, or null to clear it."),
    )
    lifecycle_stage = serializers.ChoiceField(choices=Lifecycle.choices, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")

    def validate(self, attrs):
        if "opportunity_stage" not in attrs and "lifecycle_stage" not in attrs:
            raise serializers.ValidationError(_("Give opportunity_stage, lifecycle_stage or both."))
        return attrs


class StageSetResultSerializer(serializers.Serializer):
    changed = serializers.ListField(
        child=serializers.ChoiceField(choices=["opportunity", "lifecycle"]), help_text=_("The pipelines that moved.")
    )
    profile = CustomerProfileSerializer()


class OpportunityStageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    position = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=OpportunityStage.Outcome.choices)
    is_active = serializers.BooleanField()


class PhoneBindSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=64)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255, default="")

    def validate_phone(self, value: str) -> str:
        return phone_normalize(value)


class PhoneBindResultSerializer(serializers.Serializer):
    customer_id = serializers.IntegerField(help_text=_("The customer that holds the number now."))
    merged = serializers.BooleanField(help_text=_("True when this customer was merged into the number's holder."))
    phone_masked = serializers.CharField()


class PhoneRevealSerializer(serializers.Serializer):
    phone = serializers.CharField(help_text=_("The full number (mainland numbers without +86); empty if none."))
