"""The channel live codes API (渠道活码), mounted under /api/groups/: codes listed, created, read, edited and
deleted with their members nested; their figures (``…/<id>/stats/?from=&to=``); push to WeCom again, deactivate,
activate.

Reading needs ``groups.view_channelcode`` (operations and sales); each write the model permission for it
(operations). Writes go through ``groups.services.channel_codes``, which validates (a 400 naming the field),
audits, and sends the code to WeCom after commit: the answer shows ``wecom_sync`` "pending" until it is there.
"""

from __future__ import annotations

from datetime import timedelta

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from groups.models import ChannelCode, ChannelCodeMember
from groups.models.channel_codes import MAX_ATTACHMENTS, STATE_LENGTH
from groups.selectors.channel_codes import (
    MAX_STATS_DAYS,
    channel_code_get,
    channel_code_stats,
    channel_codes_decorate,
    channel_codes_queryset,
    local_today,
)
from groups.services.channel_codes import (
    channel_code_activate,
    channel_code_create,
    channel_code_deactivate,
    channel_code_delete,
    channel_code_update,
    channel_codes_push_again,
)
from scrm.core.pagination import StandardPagination

VIEW = "groups.view_channelcode"


class ChannelCodePermission(BasePermission):
    """Reads need ``groups.view_channelcode``; each write method the permission the view names for it."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm(VIEW)
        needed = getattr(view, "write_permissions", {}).get(request.method)
        return bool(needed) and request.user.has_perm(needed)


# ---- shapes -----------------------------------------------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    userid = serializers.CharField(max_length=64)
    role = serializers.ChoiceField(choices=ChannelCodeMember.Role.choices, default=ChannelCodeMember.Role.PRIMARY)
    daily_limit = serializers.IntegerField(
        min_value=1,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("Adds a day before the employee sits out until tomorrow (rota members only)."),
    )
    position = serializers.IntegerField(min_value=0, required=False, help_text=gettext_lazy("Order in the rota."))


class RotaSerializer(serializers.Serializer):
    users = serializers.ListField(child=serializers.CharField(), help_text=gettext_lazy("Who takes adds now."))
    resting = serializers.ListField(child=serializers.CharField(), help_text=gettext_lazy("At today's limit."))
    on_backup = serializers.BooleanField()
    full_without_backup = serializers.BooleanField(
        help_text=gettext_lazy("Every rota member is at their limit and there is no backup: they keep taking adds.")
    )


class ChannelCodeSerializer(serializers.ModelSerializer):
    tag_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)
    members = MemberSerializer(many=True, source="members.all", read_only=True)
    adds_today = serializers.IntegerField(read_only=True)
    adds_total = serializers.IntegerField(read_only=True)
    retained_7d = serializers.IntegerField(
        read_only=True, help_text=gettext_lazy("Adds at least 7 days old whose customer is still a friend.")
    )
    lost = serializers.IntegerField(
        read_only=True, help_text=gettext_lazy("Adds whose customer deleted the employee, or was deleted.")
    )
    today_by_member = serializers.DictField(child=serializers.IntegerField(), read_only=True)
    rota = RotaSerializer(read_only=True)
    created_by = serializers.CharField(source="created_by.get_username", default=None, read_only=True)

    class Meta:
        model = ChannelCode
        fields = [
            "id",
            "name",
            "state",
            "skip_verify",
            "tag_ids",
            "welcome_text",
            "welcome_attachments",
            "remark",
            "is_active",
            "members",
            "config_id",
            "qr_code_url",
            "wecom_sync",
            "wecom_error",
            "wecom_users",
            "rota",
            "adds_today",
            "adds_total",
            "retained_7d",
            "lost",
            "today_by_member",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ChannelCodeWriteSerializer(serializers.Serializer):
    """Shapes only: the service checks the rest (state unique, employees known, tags usable) and names the field."""

    name = serializers.CharField(max_length=100)
    state = serializers.CharField(
        max_length=STATE_LENGTH,
        allow_blank=True,
        required=False,
        help_text=gettext_lazy("Sent back by WeCom with every add; generated when left blank."),
    )
    skip_verify = serializers.BooleanField(required=False)
    tag_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    welcome_text = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    welcome_attachments = serializers.ListField(
        child=serializers.DictField(), max_length=MAX_ATTACHMENTS, required=False
    )
    remark = serializers.CharField(max_length=255, allow_blank=True, required=False)
    members = MemberSerializer(many=True, help_text=gettext_lazy("The whole list: rota members and backups."))


class StatsQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)

    def to_internal_value(self, data):
        renamed = {"date_from": data.get("from"), "date_to": data.get("to")}
        try:
            values = super().to_internal_value({key: value for key, value in renamed.items() if value})
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {}
            raise serializers.ValidationError(
                {{"date_from": "from", "date_to": "to"}.get(key, key): value for key, value in detail.items()}
            ) from exc
        date_to = values.get("date_to") or local_today()
        date_from = values.get("date_from") or date_to - timedelta(days=29)
        if date_from > date_to:
            raise serializers.ValidationError({"from": [_("The start date is after the end date.")]})
        if (date_to - date_from).days >= MAX_STATS_DAYS:
            message = _("At most %(days)d days at a time.") % {"days": MAX_STATS_DAYS}
            raise serializers.ValidationError({"from": [message]})
        return {"date_from": date_from, "date_to": date_to}


class FiguresSerializer(serializers.Serializer):
    adds = serializers.IntegerField()
    matured = serializers.IntegerField(help_text=gettext_lazy("Adds at least 7 days old."))
    retained_7d = serializers.IntegerField(help_text=gettext_lazy("Of those, still friends."))
    lost = serializers.IntegerField()


class MemberFiguresSerializer(FiguresSerializer):
    userid = serializers.CharField()


class DayFiguresSerializer(FiguresSerializer):
    date = serializers.DateField()


class StatsSerializer(serializers.Serializer):
    code = serializers.IntegerField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    totals = FiguresSerializer()
    members = MemberFiguresSerializer(many=True)
    days = DayFiguresSerializer(many=True)


# ---- views ------------------------------------------------------------------------------------------------------


class ChannelCodeAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, ChannelCodePermission]
    serializer_class = ChannelCodeSerializer
    queryset = ChannelCode.objects.all()
    write_permissions: dict[str, str] = {}

    def code(self, pk: int) -> ChannelCode:
        return get_object_or_404(ChannelCode, pk=pk)

    def rendered(self, pk: int, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(ChannelCodeSerializer(channel_code_get(pk=pk)).data, status=http_status)


class ChannelCodeListView(ChannelCodeAPIView):
    pagination_class = StandardPagination
    write_permissions = {"POST": "groups.add_channelcode"}

    @extend_schema(
        operation_id="groups_channel_codes_list",
        parameters=[OpenApiParameter("active", bool, description=gettext_lazy("Only active (or stopped) codes."))],
        responses=ChannelCodeSerializer(many=True),
    )
    def get(self, request):
        active = request.query_params.get("active")
        active = None if active in (None, "") else active.lower() in ("1", "true", "yes")
        page = self.paginate_queryset(channel_codes_queryset(active=active))
        return self.get_paginated_response(ChannelCodeSerializer(channel_codes_decorate(page), many=True).data)

    @extend_schema(
        operation_id="groups_channel_codes_create",
        request=ChannelCodeWriteSerializer,
        responses={201: ChannelCodeSerializer},
        description=gettext_lazy("The code answers with wecom_sync “pending”; WeCom makes its QR code right after."),
    )
    def post(self, request):
        given = ChannelCodeWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        code = channel_code_create(**given.validated_data, actor=request.user)
        return self.rendered(code.pk, status.HTTP_201_CREATED)


class ChannelCodeDetailView(ChannelCodeAPIView):
    write_permissions = {"PATCH": "groups.change_channelcode", "DELETE": "groups.delete_channelcode"}

    @extend_schema(operation_id="groups_channel_codes_retrieve", responses=ChannelCodeSerializer)
    def get(self, request, id: int):
        self.code(id)
        return self.rendered(id)

    @extend_schema(
        operation_id="groups_channel_codes_partial_update",
        request=ChannelCodeWriteSerializer,
        responses=ChannelCodeSerializer,
        description=gettext_lazy("Fields left out stay; members, when given, replace the whole list."),
    )
    def patch(self, request, id: int):
        code = self.code(id)
        given = ChannelCodeWriteSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        channel_code_update(code=code, actor=request.user, **given.validated_data)
        return self.rendered(id)

    @extend_schema(
        operation_id="groups_channel_codes_destroy",
        responses={204: None},
        description=gettext_lazy("Deletes the code with its adds and figures (deactivate to keep them)."),
    )
    def delete(self, request, id: int):
        channel_code_delete(code=self.code(id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChannelCodeStatsView(ChannelCodeAPIView):
    @extend_schema(
        operation_id="groups_channel_codes_stats",
        parameters=[
            OpenApiParameter("from", str, description=gettext_lazy("First day (YYYY-MM-DD); 29 days before to.")),
            OpenApiParameter("to", str, description=gettext_lazy("Last day (YYYY-MM-DD); today by default.")),
        ],
        responses=StatsSerializer,
    )
    def get(self, request, id: int):
        code = get_object_or_404(ChannelCode.objects.prefetch_related("members"), pk=id)
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(StatsSerializer(channel_code_stats(code=code, **query.validated_data)).data)


class ChannelCodeActionView(ChannelCodeAPIView):
    write_permissions = {"POST": "groups.change_channelcode"}

    def act(self, code: ChannelCode, user) -> None:
        raise NotImplementedError

    def post(self, request, id: int):
        self.act(self.code(id), request.user)
        return self.rendered(id)


class ChannelCodePushView(ChannelCodeActionView):
    @extend_schema(
        operation_id="groups_channel_codes_push",
        request=None,
        responses=ChannelCodeSerializer,
        description=gettext_lazy("Send the code's configuration to WeCom again now."),
    )
    def post(self, request, id: int):
        return super().post(request, id)

    def act(self, code, user) -> None:
        channel_codes_push_again(codes=[code], actor=user)


class ChannelCodeDeactivateView(ChannelCodeActionView):
    @extend_schema(
        operation_id="groups_channel_codes_deactivate",
        request=None,
        responses=ChannelCodeSerializer,
        description=gettext_lazy("Stop the code: its QR code stops working in WeCom; adds and figures stay."),
    )
    def post(self, request, id: int):
        return super().post(request, id)

    def act(self, code, user) -> None:
        channel_code_deactivate(code=code, actor=user)


class ChannelCodeActivateView(ChannelCodeActionView):
    @extend_schema(
        operation_id="groups_channel_codes_activate",
        request=None,
        responses=ChannelCodeSerializer,
        description=gettext_lazy("Start a stopped code again: WeCom gives it a new QR code."),
    )
    def post(self, request, id: int):
        return super().post(request, id)

    def act(self, code, user) -> None:
        channel_code_activate(code=code, actor=user)


urlpatterns = [
    path("channel-codes/", ChannelCodeListView.as_view(), name="groups-channel-codes"),
    path("channel-codes/<int:id>/", ChannelCodeDetailView.as_view(), name="groups-channel-code"),
    path("channel-codes/<int:id>/stats/", ChannelCodeStatsView.as_view(), name="groups-channel-code-stats"),
    path("channel-codes/<int:id>/push/", ChannelCodePushView.as_view(), name="groups-channel-code-push"),
    path(
        "channel-codes/<int:id>/deactivate/", ChannelCodeDeactivateView.as_view(), name="groups-channel-code-deactivate"
    ),
    path("channel-codes/<int:id>/activate/", ChannelCodeActivateView.as_view(), name="groups-channel-code-activate"),
]
