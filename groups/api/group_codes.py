"""The group live codes API (群活码), mounted under /api/groups/: codes listed, created, read, edited and deleted
with their ordered groups (``groups``: customer group ids on write, nested rows with member counts and full state
on read); ``push/`` sends a code to WeCom again, ``pause/`` and ``resume/``; ``qr.png`` and ``qr.svg`` download
the permanent QR (it encodes our ``/g/<public_token>/`` URL, so it never changes).

Reading needs ``groups.view_groupcode`` (operations and sales); creating ``add_groupcode``, deleting
``delete_groupcode``, every other write ``change_groupcode`` (operations). Writes go through
``groups.services.group_codes``, which validates (a 400 naming the field) and audits; WeCom hears of a change
after it commits.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from groups.models import CustomerGroup, GroupCode, GroupCodeGroup
from groups.public.group_codes import group_code_public_url, group_code_qr_response
from groups.selectors.group_codes import group_codes_list
from groups.services.group_codes import (
    group_code_create,
    group_code_delete,
    group_code_pause,
    group_code_push_again,
    group_code_resume,
    group_code_update,
)
from scrm.core.pagination import StandardPagination

MAX_GROUPS = 200


class GroupCodePermission(BasePermission):
    """Reads need ``groups.view_groupcode``; each write method the permission the view names for it."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm("groups.view_groupcode")
        needed = getattr(view, "write_permissions", {}).get(request.method)
        return bool(needed) and request.user.has_perm(needed)


# ---- shapes -----------------------------------------------------------------------------------------------------


class GroupCodeGroupSerializer(serializers.ModelSerializer):
    group = serializers.IntegerField(source="group_id", read_only=True)
    chat_id = serializers.CharField(source="group.chat_id", read_only=True)
    name = serializers.CharField(source="group.name", read_only=True)
    member_count = serializers.IntegerField(source="group.member_count", read_only=True)
    group_status = serializers.CharField(source="group.status", read_only=True)
    full = serializers.SerializerMethodField(help_text=_("The group reached the threshold or was dismissed."))

    class Meta:
        model = GroupCodeGroup
        fields = [
            "group",
            "chat_id",
            "name",
            "member_count",
            "group_status",
            "position",
            "full",
            "full_at",
            "auto_created",
        ]
        read_only_fields = fields

    def get_full(self, row: GroupCodeGroup) -> bool:
        return row.full_at is not None


class GroupCodeSerializer(serializers.ModelSerializer):
    groups = GroupCodeGroupSerializer(source="code_groups", many=True, read_only=True)
    public_url = serializers.SerializerMethodField(help_text=_("The permanent URL the QR code encodes."))
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    tag_ids = serializers.ListField(
        child=serializers.IntegerField(), read_only=True, help_text=_("Tags put on each customer who joins.")
    )
    wecom_chat_ids = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text=_("The chats the join_way lists in WeCom.")
    )
    created_by = serializers.CharField(source="created_by.get_username", default=None, read_only=True)

    class Meta:
        model = GroupCode
        fields = [
            "id",
            "name",
            "state",
            "public_token",
            "public_url",
            "threshold",
            "auto_create_room",
            "room_base_name",
            "room_base_id",
            "tag_ids",
            "status",
            "status_label",
            "alerted_at",
            "remark",
            "welcome_text",
            "welcome_attachments",
            "welcome_template_id",
            "groups",
            "config_id",
            "qr_code_url",
            "wecom_sync",
            "wecom_error",
            "wecom_chat_ids",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_public_url(self, code: GroupCode) -> str:
        return group_code_public_url(code, self.context.get("request"))


class GroupCodeWriteSerializer(serializers.Serializer):
    """Shapes only: the service checks the rest (state unique and ≤ 30, threshold ≤ 200, tags, welcome …)."""

    name = serializers.CharField(max_length=100)
    groups = serializers.PrimaryKeyRelatedField(
        queryset=CustomerGroup.objects.all(),
        many=True,
        allow_empty=True,
        help_text=_("Customer group ids, in the order joiners fill them."),
    )
    state = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text=_("Blank: one is generated.")
    )
    threshold = serializers.IntegerField(required=False)
    auto_create_room = serializers.BooleanField(required=False)
    room_base_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    room_base_id = serializers.IntegerField(required=False, min_value=0)
    tag_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=100)
    remark = serializers.CharField(max_length=255, required=False, allow_blank=True)
    welcome_text = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    welcome_attachments = serializers.ListField(child=serializers.DictField(), required=False, max_length=9)

    def validate_groups(self, groups: list[CustomerGroup]) -> list[CustomerGroup]:
        if len(groups) > MAX_GROUPS:
            raise serializers.ValidationError(_("At most %(max)d groups.") % {"max": MAX_GROUPS})
        return groups


# ---- views ------------------------------------------------------------------------------------------------------


class GroupCodeAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, GroupCodePermission]
    serializer_class = GroupCodeSerializer
    write_permissions: dict[str, str] = {}

    def get_queryset(self):
        return group_codes_list()

    def code(self, pk: int) -> GroupCode:
        return get_object_or_404(self.get_queryset(), pk=pk)

    def rendered(self, pk: int, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(self.get_serializer(self.code(pk)).data, status=http_status)


class GroupCodeListView(GroupCodeAPIView):
    pagination_class = StandardPagination
    write_permissions = {"POST": "groups.add_groupcode"}

    @extend_schema(operation_id="groups_group_codes_list", responses=GroupCodeSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        operation_id="groups_group_codes_create",
        request=GroupCodeWriteSerializer,
        responses={201: GroupCodeSerializer},
        description=_("The code's join_way is made in WeCom right after it is saved (see wecom_sync)."),
    )
    def post(self, request):
        given = GroupCodeWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        code = group_code_create(**given.validated_data, actor=request.user)
        return self.rendered(code.pk, status.HTTP_201_CREATED)


class GroupCodeDetailView(GroupCodeAPIView):
    write_permissions = {"PATCH": "groups.change_groupcode", "DELETE": "groups.delete_groupcode"}

    @extend_schema(operation_id="groups_group_codes_retrieve", responses=GroupCodeSerializer)
    def get(self, request, id: int):
        return self.rendered(id)

    @extend_schema(
        operation_id="groups_group_codes_partial_update",
        request=GroupCodeWriteSerializer,
        responses=GroupCodeSerializer,
        description=_("``groups`` replaces the code's groups in that order; groups it keeps keep their full state."),
    )
    def patch(self, request, id: int):
        code = self.code(id)
        given = GroupCodeWriteSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        group_code_update(code=code, actor=request.user, **given.validated_data)
        return self.rendered(id)

    @extend_schema(
        operation_id="groups_group_codes_destroy",
        responses={204: None},
        description=_("Its join_way and welcome template are deleted in WeCom; its groups stay."),
    )
    def delete(self, request, id: int):
        group_code_delete(code=self.code(id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class GroupCodeActionView(GroupCodeAPIView):
    write_permissions = {"POST": "groups.change_groupcode"}


class GroupCodePushView(GroupCodeActionView):
    @extend_schema(
        operation_id="groups_group_codes_push",
        request=None,
        responses=GroupCodeSerializer,
        description=_("Send the code to WeCom again now (after a failure, or to be sure WeCom has it)."),
    )
    def post(self, request, id: int):
        group_code_push_again(code=self.code(id), actor=request.user)
        return self.rendered(id)


class GroupCodePauseView(GroupCodeActionView):
    @extend_schema(
        operation_id="groups_group_codes_pause",
        request=None,
        responses=GroupCodeSerializer,
        description=_("Stop taking joiners: the join_way is deleted in WeCom; the QR page says the code is paused."),
    )
    def post(self, request, id: int):
        group_code_pause(code=self.code(id), actor=request.user)
        return self.rendered(id)


class GroupCodeResumeView(GroupCodeActionView):
    @extend_schema(
        operation_id="groups_group_codes_resume",
        request=None,
        responses=GroupCodeSerializer,
        description=_("Take joiners again: a new join_way is made in WeCom behind the same permanent QR."),
    )
    def post(self, request, id: int):
        group_code_resume(code=self.code(id), actor=request.user)
        return self.rendered(id)


class GroupCodeQRView(GroupCodeAPIView):
    kind = "png"

    def get(self, request, id: int):
        code = get_object_or_404(GroupCode, pk=id)
        return group_code_qr_response(code, request=request, kind=self.kind)


class GroupCodeQRPngView(GroupCodeQRView):
    @extend_schema(
        operation_id="groups_group_codes_qr_png",
        responses={(200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description=_("The permanent QR code."))},
    )
    def get(self, request, id: int):
        return super().get(request, id)


class GroupCodeQRSvgView(GroupCodeQRView):
    kind = "svg"

    @extend_schema(
        operation_id="groups_group_codes_qr_svg",
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description=_("The permanent QR code."))
        },
    )
    def get(self, request, id: int):
        return super().get(request, id)


urlpatterns = [
    path("group-codes/", GroupCodeListView.as_view(), name="groups-group-codes"),
    path("group-codes/<int:id>/", GroupCodeDetailView.as_view(), name="groups-group-codes-detail"),
    path("group-codes/<int:id>/push/", GroupCodePushView.as_view(), name="groups-group-codes-push"),
    path("group-codes/<int:id>/pause/", GroupCodePauseView.as_view(), name="groups-group-codes-pause"),
    path("group-codes/<int:id>/resume/", GroupCodeResumeView.as_view(), name="groups-group-codes-resume"),
    path("group-codes/<int:id>/qr.png", GroupCodeQRPngView.as_view(), name="groups-group-codes-qr-png"),
    path("group-codes/<int:id>/qr.svg", GroupCodeQRSvgView.as_view(), name="groups-group-codes-qr-svg"),
]
