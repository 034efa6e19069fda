"""The customer groups API, mounted under /api/groups/: groups listed and filtered (``/api/groups/``), one group
with its members (``/api/groups/<id>/``), and the groups a customer's WeCom contacts are in
(``/api/groups/by-customer/<customer_id>/``).

Groups are WeCom's (callbacks and the sync write them), so the API only reads them; the one thing staff change
about a group here is which bot runs it, through the bots API. Reading needs ``groups.view_customergroup``
(operations and sales). A customer's groups start from ``customers_visible_to``: a customer the user may not see
is a 404, as in the customers API.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response

from customers.selectors import customers_visible_to
from groups.models import CustomerGroup, GroupMember
from groups.selectors import group_members
from groups.selectors.members import groups_filtered, memberships_of_customer
from scrm.core.pagination import StandardPagination


class GroupReadPermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("groups.view_customergroup")


# ---- shapes -----------------------------------------------------------------------------------------------------


class CustomerGroupBotSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    userid = serializers.CharField()
    name = serializers.CharField()


class GroupSerializer(serializers.ModelSerializer):
    tag_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True, help_text=_("Group tag ids."))
    bot = serializers.SerializerMethodField(help_text=_("The bot that runs the group, or null."))

    class Meta:
        model = CustomerGroup
        fields = [
            "id",
            "chat_id",
            "name",
            "owner_userid",
            "status",
            "member_count",
            "tag_ids",
            "bot",
            "wecom_created_at",
            "dismissed_at",
            "synced_at",
        ]
        read_only_fields = fields

    @extend_schema_field(CustomerGroupBotSerializer(allow_null=True))
    def get_bot(self, group: CustomerGroup) -> dict | None:
        assignment = getattr(group, "bot_assignment", None)  # a missing reverse one-to-one raises, caught here
        return CustomerGroupBotSerializer(assignment.bot).data if assignment else None


class GroupMemberSerializer(serializers.ModelSerializer):
    in_group = serializers.BooleanField(read_only=True)

    class Meta:
        model = GroupMember
        fields = [
            "member_id",
            "member_type",
            "name",
            "group_nickname",
            "join_time",
            "join_scene",
            "invitor_userid",
            "join_state",
            "in_group",
            "left_at",
            "quit_scene",
        ]
        read_only_fields = fields


class GroupDetailSerializer(GroupSerializer):
    members = serializers.SerializerMethodField()

    class Meta(GroupSerializer.Meta):
        fields = [*GroupSerializer.Meta.fields, "notice", "admin_userids", "members"]
        read_only_fields = fields

    @extend_schema_field(GroupMemberSerializer(many=True))
    def get_members(self, group: CustomerGroup) -> list[dict]:
        return GroupMemberSerializer(self.context["members"], many=True).data


class CustomerMembershipSerializer(serializers.Serializer):
    group = GroupSerializer()
    member_id = serializers.CharField(help_text=_("The external_userid of the customer's contact in this group."))
    group_nickname = serializers.CharField()
    join_time = serializers.DateTimeField(allow_null=True)
    join_scene = serializers.ChoiceField(choices=GroupMember.JoinScene.choices, allow_null=True)
    left_at = serializers.DateTimeField(allow_null=True)


class CustomerGroupFilterSerializer(serializers.Serializer):
    owner_userid = serializers.CharField(required=False, help_text=_("The owner's userid."))
    status = serializers.ChoiceField(choices=CustomerGroup.Status.choices, required=False)
    tag = serializers.IntegerField(required=False, help_text=_("A group tag id."))
    bot = serializers.RegexField(
        r"^(none|[0-9]+)$", required=False, help_text=_('A bot id, or "none" for groups no bot runs.')
    )
    q = serializers.CharField(required=False, help_text=_("Part of the name, or the exact chat id."))


class GroupIncludeLeftSerializer(serializers.Serializer):
    include_left = serializers.BooleanField(default=False, help_text=_("Also those who left."))


# ---- views ------------------------------------------------------------------------------------------------------


class GroupAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, GroupReadPermission]
    filter_backends: list = []  # filters are explicit query parameters, validated by a serializer
    serializer_class = GroupSerializer
    queryset = CustomerGroup.objects.none()  # for the schema; each view builds its own


class GroupListView(GroupAPIView):
    pagination_class = StandardPagination

    @extend_schema(
        operation_id="groups_list", parameters=[CustomerGroupFilterSerializer], responses=GroupSerializer(many=True)
    )
    def get(self, request):
        given = CustomerGroupFilterSerializer(data=request.query_params.dict())
        given.is_valid(raise_exception=True)
        page = self.paginate_queryset(groups_filtered(**given.validated_data))
        return self.get_paginated_response(GroupSerializer(page, many=True).data)


class GroupDetailView(GroupAPIView):
    @extend_schema(
        operation_id="groups_retrieve", parameters=[GroupIncludeLeftSerializer], responses=GroupDetailSerializer
    )
    def get(self, request, id: int):
        given = GroupIncludeLeftSerializer(data=request.query_params.dict())
        given.is_valid(raise_exception=True)
        group = get_object_or_404(CustomerGroup.objects.select_related("bot_assignment__bot"), pk=id)
        members = group_members(chat_id=group.chat_id, include_left=given.validated_data["include_left"])
        return Response(GroupDetailSerializer(group, context={"members": members}).data)


class CustomerGroupsView(GroupAPIView):
    @extend_schema(
        operation_id="groups_by_customer",
        parameters=[GroupIncludeLeftSerializer],
        responses=CustomerMembershipSerializer(many=True),
        description=_("The groups the customer's WeCom contacts are in (a customer you may not see is a 404)."),
    )
    def get(self, request, customer_id: int):
        given = GroupIncludeLeftSerializer(data=request.query_params.dict())
        given.is_valid(raise_exception=True)
        customer = get_object_or_404(customers_visible_to(user=request.user).only("pk"), pk=customer_id)
        memberships = memberships_of_customer(
            customer_id=customer.pk, include_left=given.validated_data["include_left"]
        )
        return Response(CustomerMembershipSerializer(memberships, many=True).data)


urlpatterns = [
    path("", GroupListView.as_view(), name="groups-list"),
    path("<int:id>/", GroupDetailView.as_view(), name="groups-detail"),
    path("by-customer/<int:customer_id>/", CustomerGroupsView.as_view(), name="groups-by-customer"),
]
