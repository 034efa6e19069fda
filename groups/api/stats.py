"""The group statistics API, mounted under /api/groups/: one group's figures per day, and the totals across groups
per day, over a range (``?from=&to=``, ISO dates, at most 366 days; default the last 30 days). Every day of the
range is listed, zeros where nothing was recorded (``messages`` null until chat sync lands).

Read-only; needs ``groups.view_groupdailystat`` (operations and sales).
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from groups.models import CustomerGroup
from groups.selectors.stats import group_stats_series, stats_daily_totals, stats_range


class StatsPermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        return request.user.has_perm("groups.view_groupdailystat")


class DaySerializer(serializers.Serializer):
    day = serializers.DateField()
    members = serializers.IntegerField(help_text=_("Members at the end of the day."))
    joins = serializers.IntegerField()
    quits = serializers.IntegerField()
    messages = serializers.IntegerField(allow_null=True, help_text=_("Null until chat sync provides them."))
    sop_pushes = serializers.IntegerField()
    sop_clicks = serializers.IntegerField()


class TotalsDaySerializer(DaySerializer):
    groups = serializers.IntegerField(help_text=_("Groups with figures that day."))


class RangeSerializer(serializers.Serializer):
    """``from`` and ``to`` (Python keywords, so declared here rather than as attributes)."""

    def get_fields(self):
        fields = super().get_fields()
        return {"from": serializers.DateField(source="start"), "to": serializers.DateField(source="end"), **fields}


class GroupSeriesSerializer(RangeSerializer):
    group = serializers.IntegerField()
    chat_id = serializers.CharField()
    name = serializers.CharField()
    days = DaySerializer(many=True)


class TotalsSerializer(RangeSerializer):
    days = TotalsDaySerializer(many=True)


RANGE_PARAMETERS = [
    OpenApiParameter("from", str, description=_("First day, YYYY-MM-DD (default: 29 days before `to`).")),
    OpenApiParameter("to", str, description=_("Last day, YYYY-MM-DD (default: today); at most 366 days in all.")),
]


def _range(request):
    return stats_range(start=request.query_params.get("from"), end=request.query_params.get("to"))


class GroupStatsView(APIView):
    permission_classes = [IsAuthenticated, StatsPermission]

    @extend_schema(operation_id="groups_stats_group", parameters=RANGE_PARAMETERS, responses=GroupSeriesSerializer)
    def get(self, request, group_id: int):
        start, end = _range(request)
        group = get_object_or_404(CustomerGroup.objects.only("id", "chat_id", "name"), pk=group_id)
        days = group_stats_series(group_id=group.pk, start=start, end=end)
        payload = {"group": group.pk, "chat_id": group.chat_id, "name": group.name, "start": start, "end": end}
        return Response(GroupSeriesSerializer({**payload, "days": days}).data)


class DailyTotalsView(APIView):
    permission_classes = [IsAuthenticated, StatsPermission]

    @extend_schema(operation_id="groups_stats_daily", parameters=RANGE_PARAMETERS, responses=TotalsSerializer)
    def get(self, request):
        start, end = _range(request)
        days = stats_daily_totals(start=start, end=end)
        return Response(TotalsSerializer({"start": start, "end": end, "days": days}).data)


urlpatterns = [
    path("<int:group_id>/stats/", GroupStatsView.as_view(), name="groups-stats-group"),
    path("stats/daily/", DailyTotalsView.as_view(), name="groups-stats-daily"),
]
