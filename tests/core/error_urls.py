"""URLs that fail on purpose, mounted beside the real ones for the error-envelope tests."""

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from scrm.core.errors import Conflict
from scrm.urls import handler404, handler500  # noqa: F401
from scrm.urls import urlpatterns as project_urlpatterns


class Boom(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise RuntimeError("database exploded: postgres://u:secret@db")


class Refused(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        raise Conflict("This phone already belongs to another customer.", code="phone_taken", field="phone")


def plain_boom(request):
    raise RuntimeError("outside DRF")


urlpatterns = [
    path("api/test/boom/", Boom.as_view()),
    path("api/test/refused/", Refused.as_view()),
    path("api/test/plain-boom/", plain_boom),
    *project_urlpatterns,
]
