"""The taxonomy API, mounted under /api/tagging/: the tree of tag groups and tags, and creating, renaming,
reordering and deleting them. Reading needs ``tagging.view_taggroup`` (operations and sales); each write the
model permission for it (operations). Writes go through ``tagging.services.taxonomy``, which checks WeCom's rules
and audits; a corp edit answers at once with ``sync_state`` "pending" and reaches WeCom after commit."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from tagging.models import Tag, TagGroup, TagKind, TagTarget
from tagging.selectors import tag_groups_with_tags
from tagging.services.taxonomy import (
    tag_create,
    tag_delete,
    tag_group_create,
    tag_group_delete,
    tag_group_update,
    tag_update,
)


class TaxonomyPermission(BasePermission):
    """Reads need ``tagging.view_taggroup``; each write method the permission the view names for it."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm("tagging.view_taggroup")
        needed = getattr(view, "write_permissions", {}).get(request.method)
        return bool(needed) and request.user.has_perm(needed)


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = [
            "id",
            "tag_id",
            "group",
            "name",
            "kind",
            "order",
            "deleted",
            "created_here",
            "sync_state",
            "sync_error",
        ]
        read_only_fields = fields


class TagGroupSerializer(serializers.ModelSerializer):
    tags = TagSerializer(many=True, read_only=True)

    class Meta:
        model = TagGroup
        fields = [
            "id",
            "group_id",
            "name",
            "kind",
            "target",
            "order",
            "deleted",
            "created_here",
            "sync_state",
            "sync_error",
            "tags",
        ]
        read_only_fields = fields


class TreeQuerySerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=TagTarget.choices, default=TagTarget.CUSTOMER)
    include_deleted = serializers.BooleanField(default=False)


class TagGroupCreateSerializer(serializers.Serializer):
    # Names and orders are checked by the service, with WeCom's limits in the message.
    name = serializers.CharField(allow_blank=True, trim_whitespace=False)
    kind = serializers.ChoiceField(choices=TagKind.choices, default=TagKind.CORP)
    target = serializers.ChoiceField(choices=TagTarget.choices, default=TagTarget.CUSTOMER)
    order = serializers.IntegerField(default=0)


class TagCreateSerializer(serializers.Serializer):
    group = serializers.PrimaryKeyRelatedField(queryset=TagGroup.objects.all())
    name = serializers.CharField(allow_blank=True, trim_whitespace=False)
    order = serializers.IntegerField(default=0)


class NodeUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    order = serializers.IntegerField(required=False)


class TaxonomyAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, TaxonomyPermission]
    filter_backends: list = []
    pagination_class = None  # at most 3,000 corp tags and a few hundred of ours: one answer
    write_permissions: dict[str, str] = {}


class TreeView(TaxonomyAPIView):
    @extend_schema(
        operation_id="tagging_tree", parameters=[TreeQuerySerializer], responses=TagGroupSerializer(many=True)
    )
    def get(self, request):
        given = TreeQuerySerializer(data=request.query_params.dict())
        given.is_valid(raise_exception=True)
        groups = tag_groups_with_tags(
            include_deleted=given.validated_data["include_deleted"], target=given.validated_data["target"]
        )
        return Response(TagGroupSerializer(groups, many=True).data)


class TagGroupListView(TaxonomyAPIView):
    write_permissions = {"POST": "tagging.add_taggroup"}

    @extend_schema(
        operation_id="tagging_tag_groups_create",
        request=TagGroupCreateSerializer,
        responses={201: TagGroupSerializer},
    )
    def post(self, request):
        given = TagGroupCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        group = tag_group_create(**given.validated_data, actor=request.user)
        return Response(TagGroupSerializer(group).data, status=status.HTTP_201_CREATED)


class TagGroupDetailView(TaxonomyAPIView):
    write_permissions = {"PATCH": "tagging.change_taggroup", "DELETE": "tagging.delete_taggroup"}

    @extend_schema(operation_id="tagging_tag_groups_update", request=NodeUpdateSerializer, responses=TagGroupSerializer)
    def patch(self, request, id: int):
        given = NodeUpdateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        group = tag_group_update(group=get_object_or_404(TagGroup, pk=id), **given.validated_data, actor=request.user)
        return Response(TagGroupSerializer(group).data)

    @extend_schema(
        operation_id="tagging_tag_groups_delete",
        responses={204: OpenApiResponse(description=_("Deleted here, with its tags; WeCom follows after commit."))},
    )
    def delete(self, request, id: int):
        tag_group_delete(group=get_object_or_404(TagGroup, pk=id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TagListView(TaxonomyAPIView):
    write_permissions = {"POST": "tagging.add_tag"}

    @extend_schema(operation_id="tagging_tags_create", request=TagCreateSerializer, responses={201: TagSerializer})
    def post(self, request):
        given = TagCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        tag = tag_create(**given.validated_data, actor=request.user)
        return Response(TagSerializer(tag).data, status=status.HTTP_201_CREATED)


class TagDetailView(TaxonomyAPIView):
    write_permissions = {"PATCH": "tagging.change_tag", "DELETE": "tagging.delete_tag"}

    @extend_schema(operation_id="tagging_tags_update", request=NodeUpdateSerializer, responses=TagSerializer)
    def patch(self, request, id: int):
        given = NodeUpdateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        tag = tag_update(tag=get_object_or_404(Tag, pk=id), **given.validated_data, actor=request.user)
        return Response(TagSerializer(tag).data)

    @extend_schema(
        operation_id="tagging_tags_delete",
        responses={204: OpenApiResponse(description=_("Deleted here; WeCom follows after commit."))},
    )
    def delete(self, request, id: int):
        tag_delete(tag=get_object_or_404(Tag, pk=id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("tree/", TreeView.as_view(), name="tagging-tree"),
    path("tag-groups/", TagGroupListView.as_view(), name="tagging-tag-groups"),
    path("tag-groups/<int:id>/", TagGroupDetailView.as_view(), name="tagging-tag-groups-detail"),
    path("tags/", TagListView.as_view(), name="tagging-tags"),
    path("tags/<int:id>/", TagDetailView.as_view(), name="tagging-tags-detail"),
]
