"""The bots API, mounted under /api/groups/: bots listed with their utilization, created, read, edited and
deleted; the groups a bot runs, assigned (``POST bots/<id>/groups/``), released (``DELETE`` there, or ``POST
…/release/``) and moved to it from other bots; the rebalance proposal (``GET bots/rebalance/``) and applying it
(``POST``).

Reading needs ``groups.view_bot`` (operations and sales); creating ``add_bot``, deleting ``delete_bot``, every
other write ``change_bot`` (operations). Writes go through ``groups.services.bots``, which keeps the cap and
audits; a refusal is a 400 naming the field (``group_ids`` with the free slots, ``capacity``, ``userid`` …).
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

from groups.models import Bot, CustomerGroup
from groups.selectors.bots import bot_groups, bot_rebalance_proposal, bots_with_utilization
from groups.services.bots import (
    bot_create,
    bot_delete,
    bot_groups_assign,
    bot_groups_move,
    bot_groups_release,
    bot_rebalance_apply,
    bot_update,
)
from scrm.core.pagination import StandardPagination

MAX_GROUP_IDS = 1000


class BotPermission(BasePermission):
    """Reads need ``groups.view_bot``; each write method the permission the view names for it."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm("groups.view_bot")
        needed = getattr(view, "write_permissions", {}).get(request.method)
        return bool(needed) and request.user.has_perm(needed)


# ---- shapes -----------------------------------------------------------------------------------------------------


class BotSerializer(serializers.ModelSerializer):
    limit = serializers.IntegerField(
        source="limit_now",
        read_only=True,
        help_text=_("The most groups it may run now: capacity, capped by the setting."),
    )
    free = serializers.IntegerField(read_only=True, help_text=_("Slots left (0 when over its limit)."))
    utilization = serializers.FloatField(
        source="utilization_ratio", read_only=True, help_text=_("Groups run / limit (above 1 when over its limit).")
    )

    class Meta:
        model = Bot
        fields = [
            "id",
            "userid",
            "name",
            "capacity",
            "limit",
            "group_count",
            "free",
            "utilization",
            "is_active",
            "note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class BotWriteSerializer(serializers.Serializer):
    # Ranges and the employee are checked by the service, with the cap in the message.
    userid = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=64, required=False, allow_blank=True)
    capacity = serializers.IntegerField(required=False, help_text=_("Defaults to SOP_MAX_GROUPS_PER_BOT."))
    is_active = serializers.BooleanField(required=False)
    note = serializers.CharField(required=False, allow_blank=True)


class BotGroupSerializer(serializers.ModelSerializer):
    assigned_at = serializers.DateTimeField(source="bot_assignment.assigned_at", read_only=True)
    assigned_by = serializers.CharField(source="bot_assignment.assigned_by.get_username", default=None, read_only=True)

    class Meta:
        model = CustomerGroup
        fields = ["id", "chat_id", "name", "owner_userid", "status", "member_count", "assigned_at", "assigned_by"]
        read_only_fields = fields


class BotGroupIdsSerializer(serializers.Serializer):
    group_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=MAX_GROUP_IDS
    )


class BotGroupsMoveSerializer(BotGroupIdsSerializer):
    from_bot = serializers.PrimaryKeyRelatedField(
        queryset=Bot.objects.all(),
        required=False,
        help_text=_("Refuse the move unless the groups are still run by this bot."),
    )


class BotGroupsChangedSerializer(serializers.Serializer):
    changed = serializers.IntegerField(help_text=_("Groups assigned, released or moved by this call."))
    bot = BotSerializer()


class RebalanceMoveSerializer(serializers.Serializer):
    group_id = serializers.IntegerField()
    chat_id = serializers.CharField(read_only=True)
    group_name = serializers.CharField(read_only=True)
    owner_userid = serializers.CharField(read_only=True)
    from_bot_id = serializers.IntegerField(required=False)
    from_bot = serializers.CharField(read_only=True)
    to_bot_id = serializers.IntegerField()
    to_bot = serializers.CharField(read_only=True)
    reason = serializers.ChoiceField(
        choices=["over_limit", "inactive", "above_mean"],
        read_only=True,
        help_text=_("over_limit: above its limit; inactive: the bot is inactive; above_mean: far busier than most."),
    )


class RebalanceApplySerializer(serializers.Serializer):
    moves = RebalanceMoveSerializer(many=True, allow_empty=False)


class RebalanceAppliedSerializer(serializers.Serializer):
    moved = serializers.IntegerField()


# ---- views ------------------------------------------------------------------------------------------------------


class BotAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, BotPermission]
    serializer_class = BotSerializer
    write_permissions: dict[str, str] = {}

    def get_queryset(self):
        return bots_with_utilization()

    def bot(self, pk: int) -> Bot:
        return get_object_or_404(self.get_queryset(), pk=pk)

    def rendered(self, pk: int, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(BotSerializer(self.bot(pk)).data, status=http_status)

    def counted(self, pk: int, changed: int) -> Response:
        return Response({"changed": changed, "bot": BotSerializer(self.bot(pk)).data})


class BotListView(BotAPIView):
    pagination_class = StandardPagination
    write_permissions = {"POST": "groups.add_bot"}

    @extend_schema(operation_id="groups_bots_list", responses=BotSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(BotSerializer(page, many=True).data)

    @extend_schema(operation_id="groups_bots_create", request=BotWriteSerializer, responses={201: BotSerializer})
    def post(self, request):
        given = BotWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        bot = bot_create(**given.validated_data, actor=request.user)
        return self.rendered(bot.pk, status.HTTP_201_CREATED)


class BotDetailView(BotAPIView):
    write_permissions = {"PATCH": "groups.change_bot", "DELETE": "groups.delete_bot"}

    @extend_schema(operation_id="groups_bots_retrieve", responses=BotSerializer)
    def get(self, request, id: int):
        return self.rendered(id)

    @extend_schema(
        operation_id="groups_bots_partial_update",
        request=BotWriteSerializer,
        responses=BotSerializer,
        description=_("Capacity may not go above SOP_MAX_GROUPS_PER_BOT nor below the groups the bot runs."),
    )
    def patch(self, request, id: int):
        bot = self.bot(id)
        given = BotWriteSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        bot_update(bot=bot, actor=request.user, **given.validated_data)
        return self.rendered(id)

    @extend_schema(
        operation_id="groups_bots_destroy",
        responses={204: None},
        description=_("Refused while the bot runs groups: release or move them first."),
    )
    def delete(self, request, id: int):
        bot_delete(bot=self.bot(id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BotGroupsView(BotAPIView):
    pagination_class = StandardPagination
    write_permissions = {"POST": "groups.change_bot", "DELETE": "groups.change_bot"}

    @extend_schema(operation_id="groups_bots_groups_list", responses=BotGroupSerializer(many=True))
    def get(self, request, id: int):
        page = self.paginate_queryset(bot_groups(bot=self.bot(id)))
        return self.get_paginated_response(BotGroupSerializer(page, many=True).data)

    @extend_schema(
        operation_id="groups_bots_groups_assign",
        request=BotGroupIdsSerializer,
        responses=BotGroupsChangedSerializer,
        description=_(
            "Assign groups to the bot, all or none: refused (400 on group_ids, saying how many slots are free) when "
            "they do not all fit, or one is dismissed or run by another bot."
        ),
    )
    def post(self, request, id: int):
        given = BotGroupIdsSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        changed = bot_groups_assign(bot=self.bot(id), group_ids=given.validated_data["group_ids"], actor=request.user)
        return self.counted(id, changed)

    @extend_schema(
        operation_id="groups_bots_groups_release",
        request=BotGroupIdsSerializer,
        responses=BotGroupsChangedSerializer,
        description=_("Release groups the bot runs (a group run by another bot is refused)."),
    )
    def delete(self, request, id: int):
        return release(self, request, id)


def release(view: BotAPIView, request, id: int) -> Response:
    given = BotGroupIdsSerializer(data=request.data)
    given.is_valid(raise_exception=True)
    bot = view.bot(id)
    changed = bot_groups_release(bot=bot, group_ids=given.validated_data["group_ids"], actor=request.user)
    return view.counted(id, changed)


class BotGroupsReleaseView(BotAPIView):
    write_permissions = {"POST": "groups.change_bot"}

    @extend_schema(
        operation_id="groups_bots_groups_release_post",
        request=BotGroupIdsSerializer,
        responses=BotGroupsChangedSerializer,
        description=_("The same as DELETE bots/<id>/groups/, for clients that cannot send a body with DELETE."),
    )
    def post(self, request, id: int):
        return release(self, request, id)


class BotGroupsMoveView(BotAPIView):
    write_permissions = {"POST": "groups.change_bot"}

    @extend_schema(
        operation_id="groups_bots_groups_move",
        request=BotGroupsMoveSerializer,
        responses=BotGroupsChangedSerializer,
        description=_("Move groups other bots run to this bot, all or none, within its free slots."),
    )
    def post(self, request, id: int):
        given = BotGroupsMoveSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        changed = bot_groups_move(
            group_ids=given.validated_data["group_ids"],
            to_bot=self.bot(id),
            from_bot=given.validated_data.get("from_bot"),
            actor=request.user,
        )
        return self.counted(id, changed)


class RebalanceView(BotAPIView):
    write_permissions = {"POST": "groups.change_bot"}

    @extend_schema(
        operation_id="groups_bots_rebalance_proposal",
        responses=RebalanceMoveSerializer(many=True),
        description=_(
            "Moves off bots over their limit, inactive bots and bots far busier than the mean, to the least-used "
            "active bots (the bot that owns a group first). Nothing changes until the moves are POSTed back."
        ),
    )
    def get(self, request):
        return Response(RebalanceMoveSerializer([move.as_dict() for move in bot_rebalance_proposal()], many=True).data)

    @extend_schema(
        operation_id="groups_bots_rebalance_apply",
        request=RebalanceApplySerializer,
        responses=RebalanceAppliedSerializer,
        description=_(
            "Apply moves (all of a proposal, or some): all or none. A move whose group is no longer on its "
            "from_bot_id refuses the whole call (400 on moves): look at the proposal again."
        ),
    )
    def post(self, request):
        given = RebalanceApplySerializer(data=request.data)
        given.is_valid(raise_exception=True)
        moved = bot_rebalance_apply(moves=given.validated_data["moves"], actor=request.user)
        return Response({"moved": moved})


urlpatterns = [
    path("bots/", BotListView.as_view(), name="groups-bots"),
    path("bots/rebalance/", RebalanceView.as_view(), name="groups-bots-rebalance"),
    path("bots/<int:id>/", BotDetailView.as_view(), name="groups-bots-detail"),
    path("bots/<int:id>/groups/", BotGroupsView.as_view(), name="groups-bots-groups"),
    path("bots/<int:id>/groups/release/", BotGroupsReleaseView.as_view(), name="groups-bots-groups-release"),
    path("bots/<int:id>/groups/move/", BotGroupsMoveView.as_view(), name="groups-bots-groups-move"),
]
