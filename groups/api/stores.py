"""The stores API, mounted under /api/groups/: stores listed, created, read, edited (opening and closing included)
and deleted; the nearest routable store to a point, for integrators; the QR code of the public store router.

Reads need ``groups.view_store`` (sales have it), writes the model's add / change / delete permission
(operations). Writes go through ``groups.services.stores``, which validates (a 400 naming the field) and audits.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from groups.models import GroupCode, Store
from groups.public.stores import parse_location
from groups.qr import QR_KINDS, public_url, qr_image
from groups.selectors.stores import landing_path, nearest_open_store, store_list
from groups.services.stores import store_create, store_delete, store_set_open, store_update
from scrm.core.pagination import StandardPagination


class StorePermission(BasePermission):
    """``groups.view_store`` to read; to write, the permission the view names for the method."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm("groups.view_store")
        needed = getattr(view, "write_permissions", {}).get(request.method)
        return bool(needed) and request.user.has_perm(needed)


# ---- shapes -----------------------------------------------------------------------------------------------------


class StoreSerializer(serializers.ModelSerializer):
    latitude = serializers.FloatField(read_only=True)
    longitude = serializers.FloatField(read_only=True)
    group_code_name = serializers.CharField(source="group_code.name", default=None, read_only=True)
    group_code_status = serializers.CharField(source="group_code.status", default=None, read_only=True)
    routable = serializers.SerializerMethodField(help_text=_("Open, with a group live code taking joiners."))
    landing_path = serializers.SerializerMethodField(help_text=_("The group code page visitors are sent to."))

    class Meta:
        model = Store
        fields = [
            "id",
            "name",
            "city",
            "address",
            "latitude",
            "longitude",
            "is_open",
            "group_code",
            "group_code_name",
            "group_code_status",
            "routable",
            "landing_path",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_routable(self, store: Store) -> bool:
        return bool(store.is_open and store.group_code_id and store.group_code.status == GroupCode.Status.OPEN)

    def get_landing_path(self, store: Store) -> str | None:
        return landing_path(store) if store.group_code_id else None


class StoreWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    city = serializers.CharField(max_length=64)
    address = serializers.CharField(max_length=255, allow_blank=True, required=False)
    latitude = serializers.FloatField(help_text=_("WGS-84 degrees, as browsers and GPS report them."))
    longitude = serializers.FloatField(help_text=_("WGS-84 degrees, as browsers and GPS report them."))
    is_open = serializers.BooleanField(required=False)
    group_code = serializers.PrimaryKeyRelatedField(queryset=GroupCode.objects.all(), allow_null=True, required=False)


class NearestStoreSerializer(serializers.Serializer):
    store = StoreSerializer()
    distance_km = serializers.FloatField()


# ---- views ------------------------------------------------------------------------------------------------------


class StoreAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, StorePermission]
    serializer_class = StoreSerializer
    write_permissions: dict[str, str] = {}

    def get_queryset(self):
        return store_list()

    def store(self, pk: int) -> Store:
        return get_object_or_404(self.get_queryset(), pk=pk)

    def rendered(self, pk: int, http_status: int = status.HTTP_200_OK) -> Response:
        return Response(StoreSerializer(self.store(pk)).data, status=http_status)


class StoreListView(StoreAPIView):
    pagination_class = StandardPagination
    write_permissions = {"POST": "groups.add_store"}

    @extend_schema(
        operation_id="groups_stores_list",
        parameters=[
            OpenApiParameter("city", str, description=_("Only this city's stores (上海 = 上海市).")),
            OpenApiParameter("is_open", bool),
            OpenApiParameter("q", str, description=_("Part of the name, address or city.")),
        ],
        responses=StoreSerializer(many=True),
    )
    def get(self, request):
        is_open = request.query_params.get("is_open")
        stores = store_list(
            city=request.query_params.get("city") or None,
            is_open=None if is_open in (None, "") else is_open.lower() in ("1", "true", "yes"),
            search=request.query_params.get("q", "").strip(),
        )
        page = self.paginate_queryset(stores)
        return self.get_paginated_response(StoreSerializer(page, many=True).data)

    @extend_schema(operation_id="groups_stores_create", request=StoreWriteSerializer, responses={201: StoreSerializer})
    def post(self, request):
        given = StoreWriteSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        store = store_create(**given.validated_data, actor=request.user)
        return self.rendered(store.pk, status.HTTP_201_CREATED)


class StoreDetailView(StoreAPIView):
    write_permissions = {"PATCH": "groups.change_store", "DELETE": "groups.delete_store"}

    @extend_schema(operation_id="groups_stores_retrieve", responses=StoreSerializer)
    def get(self, request, id: int):
        return self.rendered(id)

    @extend_schema(
        operation_id="groups_stores_partial_update",
        request=StoreWriteSerializer,
        responses=StoreSerializer,
        description=_("Set is_open to open or close the store; a closed store gets no visitors."),
    )
    def patch(self, request, id: int):
        store = self.store(id)
        given = StoreWriteSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        values = dict(given.validated_data)
        if "is_open" in values and len(values) == 1:
            store_set_open(store=store, is_open=values["is_open"], actor=request.user)
        elif values:
            store_update(store=store, actor=request.user, **values)
        return self.rendered(id)

    @extend_schema(operation_id="groups_stores_destroy", responses={204: None})
    def delete(self, request, id: int):
        store_delete(store=self.store(id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class NearestStoreView(StoreAPIView):
    @extend_schema(
        operation_id="groups_stores_nearest",
        parameters=[
            OpenApiParameter("lat", float, required=True, description=_("Latitude, WGS-84 degrees.")),
            OpenApiParameter("lng", float, required=True, description=_("Longitude, WGS-84 degrees.")),
        ],
        responses=NearestStoreSerializer,
        description=_(
            "The nearest open store whose group live code takes joiners, and its distance; 404 when there is none."
        ),
    )
    def get(self, request):
        lat, lng = parse_location(request.query_params.get("lat"), request.query_params.get("lng"))
        store = nearest_open_store(lat=lat, lng=lng)
        if store is None:
            raise NotFound(_("No store is taking visitors."))
        return Response(NearestStoreSerializer({"store": store, "distance_km": round(store.distance_km, 3)}).data)


class StoreRouterQRView(StoreAPIView):
    """The QR code of the public store router (one for every poster); ``?download=1`` to save it."""

    kind = "png"

    def perform_content_negotiation(self, request, force=False):
        # an image, whatever the client accepts; errors still render as JSON
        return super().perform_content_negotiation(request, force=True)

    def get(self, request):
        url = public_url(reverse("groups-stores-nearest"), request)
        response = HttpResponse(qr_image(url, kind=self.kind), content_type=QR_KINDS[self.kind])
        disposition = "attachment" if request.query_params.get("download") in ("1", "true") else "inline"
        response["Content-Disposition"] = f'{disposition}; filename="stores-nearest-qr.{self.kind}"'
        response["X-QR-URL"] = url
        return response


DOWNLOAD = OpenApiParameter("download", bool, description=_("Send as an attachment."))


class StoreRouterPNGView(StoreRouterQRView):
    kind = "png"

    @extend_schema(
        operation_id="groups_stores_qr_png", parameters=[DOWNLOAD], responses={(200, "image/png"): OpenApiTypes.BINARY}
    )
    def get(self, request):
        return super().get(request)


class StoreRouterSVGView(StoreRouterQRView):
    kind = "svg"

    @extend_schema(
        operation_id="groups_stores_qr_svg", parameters=[DOWNLOAD], responses={(200, "image/svg+xml"): OpenApiTypes.STR}
    )
    def get(self, request):
        return super().get(request)


urlpatterns = [
    path("stores/", StoreListView.as_view(), name="groups-stores"),
    path("stores/nearest/", NearestStoreView.as_view(), name="groups-stores-api-nearest"),
    path("stores/qr.png", StoreRouterPNGView.as_view(), name="groups-stores-qr-png"),
    path("stores/qr.svg", StoreRouterSVGView.as_view(), name="groups-stores-qr-svg"),
    path("stores/<int:id>/", StoreDetailView.as_view(), name="groups-stores-detail"),
]
