"""The auto-tagging rules API, mounted under /api/tagging/: rules listed, created, read, edited and deleted; the
preview of what evaluating one would do; enable (which runs its first evaluation in a task), disable, and
evaluate again now.

Rules are the operations team's configuration, and a preview names customers: every endpoint needs
``tagging.change_tagrule`` (operations), creating ``add_tagrule`` and deleting ``delete_tagrule`` as well. Writes
go through ``tagging.services.rules``, which validates (a 400 naming the field) and audits.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from scrm.core.pagination import StandardPagination
from tagging.models import RuleKind, Tag, TagRule
from tagging.services.rules import (
    rule_create,
    rule_delete,
    rule_disable,
    rule_enable,
    rule_evaluate_request,
    rule_preview,
    rule_update,
)


class RulePermission(BasePermission):
    """``tagging.change_tagrule`` for everything, reads included; each write method also the permission the view
    names for it."""

    def has_permission(self, request, view) -> bool:
        if not request.user.has_perm("tagging.change_tagrule"):
            return False
        if request.method in SAFE_METHODS:
            return True
        needed = getattr(view, "write_permissions", {}).get(request.method)
        return bool(needed) and request.user.has_perm(needed)


# ---- shapes -----------------------------------------------------------------------------------------------------


class RuleSerializer(serializers.ModelSerializer):
    tag_label = serializers.CharField(source="tag.label", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    removes_tag = serializers.BooleanField(
        read_only=True, help_text=_("A state condition: the rule takes its tag off again when the state ends.")
    )
    created_by = serializers.CharField(source="created_by.get_username", default=None, read_only=True)

    class Meta:
        model = TagRule
        fields = [
            "id",
            "name",
            "tag",
            "tag_label",
            "kind",
            "kind_label",
            "value",
            "removes_tag",
            "enabled",
            "last_run_at",
            "last_added",
            "last_removed",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RuleWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    tag = serializers.PrimaryKeyRelatedField(queryset=Tag.objects.all())
    kind = serializers.ChoiceField(choices=RuleKind.choices)
    value = serializers.CharField(
        max_length=255,
        help_text=_(
            "Channel code state, keyword, amount, days, group chat id or exact name, lifecycle stage (value or "
            "label) or opportunity stage name, as the condition needs."
        ),
    )


class RuleSampleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class RulePreviewSerializer(serializers.Serializer):
    gain = serializers.IntegerField(help_text=_("Customers who would get the tag."))
    lose = serializers.IntegerField(help_text=_("Customers the rule tagged who would lose it (state conditions)."))
    sample_gain = RuleSampleSerializer(many=True, help_text=_("Up to ten of those who would get it."))


# ---- views ------------------------------------------------------------------------------------------------------


class RuleAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, RulePermission]
    serializer_class = RuleSerializer
    queryset = TagRule.objects.select_related("tag__group", "created_by").order_by("name", "id")
    write_permissions: dict[str, str] = {}

    def rule(self, pk: int) -> TagRule:
        return get_object_or_404(self.get_queryset(), pk=pk)

    def rendered(self, pk: int, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(RuleSerializer(self.rule(pk)).data, status=http_status)


class RuleListView(RuleAPIView):
    pagination_class = StandardPagination
    write_permissions = {"POST": "tagging.add_tagrule"}

    @extend_schema(operation_id="tagging_rules_list", responses=RuleSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RuleSerializer(page, many=True).data)

    @extend_schema(
        operation_id="tagging_rules_create",
        request=RuleWriteSerializer,
        responses={201: RuleSerializer},
        description=_("A new rule is disabled: look at its preview, then enable it."),
    )
    def post(self, request):
        given = RuleWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        rule = rule_create(**given.validated_data, actor=request.user)
        return self.rendered(rule.pk, status.HTTP_201_CREATED)


class RuleDetailView(RuleAPIView):
    write_permissions = {"PATCH": "tagging.change_tagrule", "DELETE": "tagging.delete_tagrule"}

    @extend_schema(operation_id="tagging_rules_retrieve", responses=RuleSerializer)
    def get(self, request, id: int):
        return self.rendered(id)

    @extend_schema(
        operation_id="tagging_rules_partial_update",
        request=RuleWriteSerializer,
        responses=RuleSerializer,
        description=_("Changing the tag, condition or value of an enabled rule disables it."),
    )
    def patch(self, request, id: int):
        rule = self.rule(id)
        given = RuleWriteSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        rule_update(rule=rule, actor=request.user, **given.validated_data)
        return self.rendered(id)

    @extend_schema(
        operation_id="tagging_rules_destroy",
        responses={204: None},
        description=_("The tags the rule put on stay."),
    )
    def delete(self, request, id: int):
        rule_delete(rule=self.rule(id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RuleActionView(RuleAPIView):
    write_permissions = {"POST": "tagging.change_tagrule"}


class RulePreviewView(RuleActionView):
    @extend_schema(operation_id="tagging_rules_preview", responses=RulePreviewSerializer)
    def get(self, request, id: int):
        return Response(RulePreviewSerializer(rule_preview(rule=self.rule(id), user=request.user)).data)


class RuleEnableView(RuleActionView):
    @extend_schema(
        operation_id="tagging_rules_enable",
        request=None,
        responses=RuleSerializer,
        description=_("Enable the rule; its first evaluation over every customer runs in the background."),
    )
    def post(self, request, id: int):
        rule_enable(rule=self.rule(id), actor=request.user)
        return self.rendered(id)


class RuleDisableView(RuleActionView):
    @extend_schema(
        operation_id="tagging_rules_disable",
        request=None,
        responses=RuleSerializer,
        description=_("Stop applying the rule; the tags it put on stay."),
    )
    def post(self, request, id: int):
        rule_disable(rule=self.rule(id), actor=request.user)
        return self.rendered(id)


class RuleEvaluateView(RuleActionView):
    @extend_schema(
        operation_id="tagging_rules_evaluate",
        request=None,
        responses={202: RuleSerializer},
        description=_("Evaluate an enabled rule over every customer again, in the background."),
    )
    def post(self, request, id: int):
        rule_evaluate_request(rule=self.rule(id), actor=request.user)
        return self.rendered(id, status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("rules/", RuleListView.as_view(), name="tagging-rules"),
    path("rules/<int:id>/", RuleDetailView.as_view(), name="tagging-rules-detail"),
    path("rules/<int:id>/preview/", RulePreviewView.as_view(), name="tagging-rules-preview"),
    path("rules/<int:id>/enable/", RuleEnableView.as_view(), name="tagging-rules-enable"),
    path("rules/<int:id>/disable/", RuleDisableView.as_view(), name="tagging-rules-disable"),
    path("rules/<int:id>/evaluate/", RuleEvaluateView.as_view(), name="tagging-rules-evaluate"),
]
