"""The segments API, mounted under /api/tagging/: saved segments (list, create, read with a live count and the
first members, edit, delete, recount), their members a page at a time, and a preview of any expression.

Reads need ``tagging.view_segment``; writes the model permission of their method. Counts and members are what
the signed-in user may see (sales: their own customers). A bad expression is a 400 on ``expression`` whose
message names the character position.
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

from customers.selectors import can_see_all_customers
from customers.serializers import CustomerSerializer
from scrm.core.pagination import StandardPagination
from tagging.models import Segment, TagTarget
from tagging.segments import SegmentError
from tagging.selectors_segments import MAX_PAGE, SAMPLE_SIZE, segment_members, segment_preview, segments_list
from tagging.services.segments import segment_count_refresh, segment_create, segment_delete, segment_update


class SegmentPermission(BasePermission):
    """Reads need ``tagging.view_segment``; each write method the permission the view names for it."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm("tagging.view_segment")
        needed = getattr(view, "write_permissions", {}).get(request.method)
        return bool(needed) and request.user.has_perm(needed)


# ---- shapes -----------------------------------------------------------------------------------------------------


class SegmentSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username", default=None, read_only=True)

    class Meta:
        model = Segment
        fields = ["id", "name", "target", "expression", "last_count", "counted_at", "created_by", "created_at"]
        read_only_fields = fields

    def to_representation(self, instance):
        data = super().to_representation(instance)
        # the stored count covers every customer: a user who sees only some gets the live count instead
        if instance.target == TagTarget.CUSTOMER and not can_see_all_customers(self.context["request"].user):
            data["last_count"] = data["counted_at"] = None
        return data


class GroupSampleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    chat_id = serializers.CharField()
    name = serializers.CharField()
    owner_userid = serializers.CharField()
    member_count = serializers.IntegerField()
    status = serializers.CharField()


class PreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text=_("Members the signed-in user may see."))
    sample = serializers.ListField(
        child=serializers.DictField(), help_text=_("The newest members (at most 20): customers or groups.")
    )


class SegmentDetailSerializer(SegmentSerializer):
    count = serializers.IntegerField(allow_null=True, help_text=_("Live count of the members the user may see."))
    sample = serializers.ListField(child=serializers.DictField(), allow_null=True)
    error = serializers.CharField(
        allow_null=True, help_text=_("Why the expression no longer runs (a tag deleted since), else null.")
    )

    class Meta(SegmentSerializer.Meta):
        fields = [*SegmentSerializer.Meta.fields, "count", "sample", "error"]
        read_only_fields = fields


class SegmentWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    target = serializers.ChoiceField(choices=TagTarget.choices, default=TagTarget.CUSTOMER)
    expression = serializers.CharField(help_text=_("For example: (奶粉 OR 辅食) AND NOT 已流失 AND spend>=500"))


class PreviewQuerySerializer(serializers.Serializer):
    expression = serializers.CharField(trim_whitespace=False, allow_blank=True)
    target = serializers.ChoiceField(choices=TagTarget.choices, default=TagTarget.CUSTOMER)


class MembersQuerySerializer(serializers.Serializer):
    before = serializers.IntegerField(required=False, min_value=1, help_text=_("next_before of the previous page."))
    limit = serializers.IntegerField(required=False, default=SAMPLE_SIZE, min_value=1, max_value=MAX_PAGE)


class MembersPageSerializer(serializers.Serializer):
    results = serializers.ListField(child=serializers.DictField())
    next_before = serializers.IntegerField(
        allow_null=True, help_text=_("Pass as ?before= for the next page; null on the last page.")
    )


def members_data(target: str, members: list) -> list[dict]:
    shape = CustomerSerializer if target == TagTarget.CUSTOMER else GroupSampleSerializer
    return shape(members, many=True).data


def preview_data(*, expression: str, target: str, user) -> dict:
    """``{count, sample}``; a bad expression is a ValidationError on ``expression``."""
    try:
        preview = segment_preview(expression=expression, target=target, user=user)
    except SegmentError as exc:
        raise exc.as_validation_error("expression") from None
    return {"count": preview.count, "sample": members_data(target, preview.sample)}


# ---- views ------------------------------------------------------------------------------------------------------


class SegmentAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, SegmentPermission]
    serializer_class = SegmentSerializer
    write_permissions: dict[str, str] = {}

    def segment(self, pk: int) -> Segment:
        return get_object_or_404(segments_list(), pk=pk)

    def detail(self, segment: Segment, *, http_status: int = status.HTTP_200_OK) -> Response:
        """The segment with its live count and newest members; an expression that no longer runs (a tag deleted
        since it was saved) reads with ``error`` set instead, so the segment can still be opened and fixed."""
        data = SegmentSerializer(segment, context={"request": self.request}).data
        try:
            preview = segment_preview(expression=segment.expression, target=segment.target, user=self.request.user)
        except SegmentError as exc:
            live = {"count": None, "sample": None, "error": exc.message}
        else:
            live = {"count": preview.count, "sample": members_data(segment.target, preview.sample), "error": None}
        return Response({**data, **live}, status=http_status)


class SegmentListView(SegmentAPIView):
    pagination_class = StandardPagination
    queryset = Segment.objects.none()  # names the model for the schema; the rows come from segments_list()
    write_permissions = {"POST": "tagging.add_segment"}

    @extend_schema(operation_id="tagging_segments_list", responses=SegmentSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(segments_list())
        return self.get_paginated_response(SegmentSerializer(page, many=True, context={"request": request}).data)

    @extend_schema(
        operation_id="tagging_segments_create",
        request=SegmentWriteSerializer,
        responses={201: SegmentDetailSerializer},
    )
    def post(self, request):
        given = SegmentWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        segment = segment_create(**given.validated_data, actor=request.user)
        return self.detail(self.segment(segment.pk), http_status=status.HTTP_201_CREATED)


class SegmentDetailView(SegmentAPIView):
    write_permissions = {"PATCH": "tagging.change_segment", "DELETE": "tagging.delete_segment"}

    @extend_schema(operation_id="tagging_segments_retrieve", responses=SegmentDetailSerializer)
    def get(self, request, id: int):
        return self.detail(self.segment(id))

    @extend_schema(
        operation_id="tagging_segments_partial_update",
        request=SegmentWriteSerializer(partial=True),
        responses=SegmentDetailSerializer,
    )
    def patch(self, request, id: int):
        segment = self.segment(id)
        given = SegmentWriteSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        segment_update(segment=segment, actor=request.user, **given.validated_data)
        return self.detail(self.segment(id))

    @extend_schema(operation_id="tagging_segments_destroy", responses={204: None})
    def delete(self, request, id: int):
        segment_delete(segment=self.segment(id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SegmentRecountView(SegmentAPIView):
    write_permissions = {"POST": "tagging.change_segment"}

    @extend_schema(operation_id="tagging_segments_recount", request=None, responses=SegmentSerializer)
    def post(self, request, id: int):
        segment = self.segment(id)
        segment_count_refresh(segment=segment)
        return Response(SegmentSerializer(segment, context={"request": request}).data)


class SegmentMembersView(SegmentAPIView):
    @extend_schema(
        operation_id="tagging_segments_members",
        parameters=[MembersQuerySerializer],
        responses=MembersPageSerializer,
    )
    def get(self, request, id: int):
        segment = self.segment(id)
        given = MembersQuerySerializer(data=request.query_params.dict())
        given.is_valid(raise_exception=True)
        limit = given.validated_data["limit"]
        try:
            members = segment_members(
                expression=segment.expression,
                target=segment.target,
                user=request.user,
                before=given.validated_data.get("before"),
                limit=limit + 1,  # one more tells whether a next page exists
            )
        except SegmentError as exc:
            raise exc.as_validation_error("expression") from None
        page = members[:limit]
        next_before = page[-1].pk if len(members) > limit else None
        return Response({"results": members_data(segment.target, page), "next_before": next_before})


class SegmentPreviewView(SegmentAPIView):
    @extend_schema(
        operation_id="tagging_segments_preview",
        parameters=[PreviewQuerySerializer],
        responses=PreviewSerializer,
        description=_(
            "Count and the newest 20 members of any expression, as the signed-in user may see them. A bad "
            "expression answers 400 on expression, naming the character position."
        ),
    )
    def get(self, request):
        given = PreviewQuerySerializer(data=request.query_params.dict())
        given.is_valid(raise_exception=True)
        return Response(preview_data(user=request.user, **given.validated_data))


urlpatterns = [
    path("segments/", SegmentListView.as_view(), name="tagging-segments"),
    path("segments/preview/", SegmentPreviewView.as_view(), name="tagging-segments-preview"),
    path("segments/<int:id>/", SegmentDetailView.as_view(), name="tagging-segments-detail"),
    path("segments/<int:id>/members/", SegmentMembersView.as_view(), name="tagging-segments-members"),
    path("segments/<int:id>/recount/", SegmentRecountView.as_view(), name="tagging-segments-recount"),
]
