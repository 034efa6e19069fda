from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    is_superuser = serializers.BooleanField()
    language = serializers.CharField()


class MeView(APIView):
    """The signed-in user, their roles and language: what a client needs to shape its screens."""

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        user = request.user
        data = {
            "id": user.pk,
            "username": user.get_username(),
            "display_name": user.get_full_name() or user.get_username(),
            "roles": sorted(user.groups.values_list("name", flat=True)),
            "is_superuser": user.is_superuser,
            "language": get_language(),
        }
        return Response(MeSerializer(data).data)
