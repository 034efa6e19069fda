"""The bulk tagging API, mounted under /api/tagging/: start a job that tags or untags a whole segment, follow its
progress, undo it. Starting and undoing are for operations (``tagging.add_tagbulkjob``); anyone who may view jobs
may follow one. The writes go through ``tagging.services.bulk``; the work itself runs in a Celery task."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from tagging.models import Tag, TagBulkJob
from tagging.services.bulk import tag_bulk_job_create, tag_bulk_job_undo


class BulkJobPermission(BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm("tagging.view_tagbulkjob")
        return request.user.has_perm("tagging.add_tagbulkjob")


class BulkJobSerializer(serializers.ModelSerializer):
    tag_label = serializers.CharField(source="tag.label", read_only=True)
    created_by = serializers.CharField(source="created_by.get_username", default=None, read_only=True)
    progress = serializers.FloatField(read_only=True, help_text=_("processed / total, from 0 to 1"))

    class Meta:
        model = TagBulkJob
        fields = [
            "id",
            "tag",
            "tag_label",
            "action",
            "expression",
            "status",
            "total",
            "processed",
            "changed",
            "progress",
            "error",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "undone_at",
        ]
        read_only_fields = fields


class BulkJobCreateSerializer(serializers.Serializer):
    tag = serializers.PrimaryKeyRelatedField(queryset=Tag.objects.all())
    action = serializers.ChoiceField(choices=TagBulkJob.Action.choices)
    expression = serializers.CharField()


class BulkJobAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, BulkJobPermission]
    serializer_class = BulkJobSerializer

    def job(self, pk: int) -> TagBulkJob:
        return get_object_or_404(TagBulkJob.objects.select_related("tag__group", "created_by"), pk=pk)


class BulkJobCreateView(BulkJobAPIView):
    @extend_schema(
        operation_id="tagging_bulk_jobs_create", request=BulkJobCreateSerializer, responses={201: BulkJobSerializer}
    )
    def post(self, request):
        given = BulkJobCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        job = tag_bulk_job_create(**given.validated_data, actor=request.user)
        return Response(BulkJobSerializer(self.job(job.pk)).data, status=status.HTTP_201_CREATED)


class BulkJobDetailView(BulkJobAPIView):
    @extend_schema(operation_id="tagging_bulk_jobs_retrieve", responses=BulkJobSerializer)
    def get(self, request, id: int):
        return Response(BulkJobSerializer(self.job(id)).data)


class BulkJobUndoView(BulkJobAPIView):
    @extend_schema(operation_id="tagging_bulk_jobs_undo", request=None, responses={202: BulkJobSerializer})
    def post(self, request, id: int):
        job = tag_bulk_job_undo(job=self.job(id), actor=request.user)
        return Response(BulkJobSerializer(self.job(job.pk)).data, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path("bulk-jobs/", BulkJobCreateView.as_view(), name="tagging-bulk-jobs"),
    path("bulk-jobs/<int:id>/", BulkJobDetailView.as_view(), name="tagging-bulk-jobs-detail"),
    path("bulk-jobs/<int:id>/undo/", BulkJobUndoView.as_view(), name="tagging-bulk-jobs-undo"),
]
