"""The customers REST API: list and search, the 360 view, timeline, notes, stages, phone, orders.

Every view starts from ``customers_visible_to(user)``: a customer the user may not see is a 404, never a 403, so
the API does not tell sales which ids exist. Writes also need the model permission (``write_permissions``) and
go through the customers services, which audit them.
"""

from __future__ import annotations

import functools

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from customers import serializers as s
from customers.models import Customer, OpportunityStage, Order
from customers.profile import customer_360, customer_360_queryset, profile_sections, timeline_page
from customers.selectors import (
    customer_filters,
    customer_timeline,
    customers_filter_by,
    customers_search,
    customers_visible_to,
    user_employee,
)
from customers.services.identity import customer_bind_phone, customer_create, customer_phone_reveal, customer_update
from customers.services.orders import order_record
from customers.services.stages import lifecycle_set, opportunity_stage_set
from customers.services.timeline import timeline_note_add
from scrm.core.api_errors import error_payload
from scrm.core.pagination import NewestFirstCursorPagination, StandardPagination


class CustomerPermission(BasePermission):
    """Reads need ``customers.view_customer``; each write method the permission the view names for it."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm("customers.view_customer")
        needed = getattr(view, "write_permissions", {}).get(request.method)
        return bool(needed) and request.user.has_perm(needed)


class CustomerPagination(NewestFirstCursorPagination):
    # ids are unique and follow creation: stable pages without the offset DRF needs for ties on a timestamp
    ordering = "-id"


class CustomerAPIView(GenericAPIView):
    permission_classes = [IsAuthenticated, CustomerPermission]
    filter_backends: list = []  # filters are explicit query parameters, validated by a serializer
    write_permissions: dict[str, str] = {}

    def visible_customer(self, **kwargs) -> Customer:
        return get_object_or_404(customers_visible_to(user=self.request.user), pk=kwargs["id"])


@functools.cache
def _bound(serializer_class, many: bool, sections: tuple[str, ...]):
    """One serializer per response shape, reused: DRF deep-copies a serializer's whole field tree for every new
    instance (2-3 ms of CPU per 360 view on the benchmark machine), and ``to_representation`` keeps no state
    between calls. ``sections`` is in the key so a section registered later (tests) gets a new shape."""
    return serializer_class(many=True) if many else serializer_class()


def render(serializer_class, data, *, many: bool = False):
    return _bound(serializer_class, many, tuple(profile_sections())).to_representation(data)


def _rekeyed(exc: DjangoValidationError, names: dict[str, str]) -> DjangoValidationError:
    """A service's error with its field named as the API names it."""
    if hasattr(exc, "error_dict"):
        return DjangoValidationError({names.get(key, key): value for key, value in exc.error_dict.items()})
    return exc


# ---- the list, create, lookup by phone --------------------------------------------------------------------------


class CustomerListView(CustomerAPIView):
    pagination_class = CustomerPagination
    write_permissions = {"POST": "customers.add_customer"}

    @extend_schema(
        operation_id="customers_list",
        # filters other apps registered (tagging's segment): they load in their ready(), before any URLconf
        parameters=[
            s.CustomerFilterSerializer,
            *(OpenApiParameter(f.name, str, description=f.description) for f in customer_filters()),
        ],
        responses=s.CustomerSerializer(many=True),
    )
    def get(self, request):
        params = s.CustomerFilterSerializer(data=request.query_params.dict())
        params.is_valid(raise_exception=True)
        given = params.validated_data
        customers = customers_search(
            user=request.user,
            query=given.get("q", ""),
            owner_id=given.get("owner"),
            opportunity_stage_id=given.get("opportunity_stage"),
            lifecycle_stage=given.get("lifecycle_stage", ""),
            contacted_after=given.get("contacted_after"),
            contacted_before=given.get("contacted_before"),
            marketing_opt_out=given.get("marketing_opt_out"),
        )
        customers = customers_filter_by(customers, request.query_params, user=request.user)
        page = self.paginate_queryset(customers)
        return self.get_paginated_response(render(s.CustomerSerializer, page, many=True))

    @extend_schema(
        operation_id="customers_create",
        request=s.CustomerCreateSerializer,
        responses={201: s.CustomerProfileSerializer, 400: s.PhoneTakenSerializer},
    )
    def post(self, request):
        given = s.CustomerCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        phone = given.validated_data.get("phone", "")
        if holder_id := _phone_holder(phone):
            return _phone_taken(request, holder_id)
        owner = given.validated_data["owner"] if "owner" in given.validated_data else user_employee(request.user)
        try:
            customer = customer_create(
                phone=phone, name=given.validated_data.get("name", ""), owner=owner, actor=request.user
            )
        except (DjangoValidationError, IntegrityError):
            # another request took the number since the check above
            if holder_id := _phone_holder(phone):
                return _phone_taken(request, holder_id)
            raise
        customer = customer_360_queryset(Customer.objects).get(pk=customer.pk)
        return Response(render(s.CustomerProfileSerializer, customer), status=status.HTTP_201_CREATED)


def _phone_holder(phone: str) -> int | None:
    return Customer.objects.filter(phone=phone).values_list("pk", flat=True).first() if phone else None


def _phone_taken(request, holder_id: int) -> Response:
    """400 on ``phone``; the holder's id only for a user who may see that customer (else it leaks who exists)."""
    message = str(_("Another customer already has this phone number."))
    payload = error_payload("phone_taken", message, fields={"phone": [message]})
    if customers_visible_to(user=request.user).filter(pk=holder_id).exists():
        payload["existing_customer_id"] = holder_id
    return Response(payload, status=status.HTTP_400_BAD_REQUEST)


class CustomerByPhoneView(CustomerAPIView):
    @extend_schema(
        operation_id="customers_by_phone",
        parameters=[s.PhoneQuerySerializer],
        responses={200: s.CustomerSerializer, 404: OpenApiResponse(description=_("No visible customer has it."))},
    )
    def get(self, request):
        given = s.PhoneQuerySerializer(data=request.query_params.dict())
        given.is_valid(raise_exception=True)
        customers = customers_visible_to(user=request.user).select_related("owner", "opportunity_stage", "tier")
        customer = get_object_or_404(customers, phone=given.validated_data["phone"])
        return Response(render(s.CustomerSerializer, customer))


class OpportunityStageListView(CustomerAPIView):
    pagination_class = None  # a short list ops configure

    @extend_schema(operation_id="customer_stages_list", responses=s.OpportunityStageSerializer(many=True))
    def get(self, request):
        stages = OpportunityStage.objects.order_by("position", "id")
        return Response(render(s.OpportunityStageSerializer, stages, many=True))


# ---- one customer -----------------------------------------------------------------------------------------------


class CustomerDetailView(CustomerAPIView):
    write_permissions = {"PATCH": "customers.change_customer"}

    @extend_schema(operation_id="customers_retrieve", responses=s.Customer360Serializer)
    def get(self, request, **kwargs):
        customers = customer_360_queryset(customers_visible_to(user=request.user))
        customer = get_object_or_404(customers, pk=kwargs["id"])
        return Response(render(s.Customer360Serializer, customer_360(customer=customer)))

    @extend_schema(
        operation_id="customers_partial_update",
        request=s.CustomerUpdateSerializer,
        responses=s.CustomerProfileSerializer,
    )
    def patch(self, request, **kwargs):
        customer = self.visible_customer(**kwargs)
        given = s.CustomerUpdateSerializer(data=request.data, partial=True)
        given.is_valid(raise_exception=True)
        customer_update(customer=customer, actor=request.user, **given.validated_data)
        customer = customer_360_queryset(Customer.objects).get(pk=customer.pk)
        return Response(render(s.CustomerProfileSerializer, customer))


class CustomerTimelineView(CustomerAPIView):
    @extend_schema(
        operation_id="customers_timeline", parameters=[s.TimelineQuerySerializer], responses=s.TimelinePageSerializer
    )
    def get(self, request, **kwargs):
        customer = self.visible_customer(**kwargs)
        given = s.TimelineQuerySerializer(data=request.query_params.dict())
        given.is_valid(raise_exception=True)
        limit = given.validated_data["limit"]
        entries = customer_timeline(customer=customer, before=given.validated_data.get("cursor"), limit=limit + 1)
        return Response(render(s.TimelinePageSerializer, timeline_page(entries, limit=limit)))


class CustomerNotesView(CustomerAPIView):
    write_permissions = {"POST": "customers.add_timelineentry"}

    @extend_schema(
        operation_id="customers_notes_create",
        request=s.NoteCreateSerializer,
        responses={201: s.TimelineEntrySerializer},
    )
    def post(self, request, **kwargs):
        customer = self.visible_customer(**kwargs)
        given = s.NoteCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        entry = timeline_note_add(customer=customer, text=given.validated_data["text"], author=request.user)
        return Response(render(s.TimelineEntrySerializer, entry), status=status.HTTP_201_CREATED)


class CustomerStageView(CustomerAPIView):
    write_permissions = {"POST": "customers.change_customer"}

    @extend_schema(
        operation_id="customers_stage_set", request=s.StageSetSerializer, responses=s.StageSetResultSerializer
    )
    def post(self, request, **kwargs):
        customer = self.visible_customer(**kwargs)
        given = s.StageSetSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        values, changed = given.validated_data, []
        with transaction.atomic():  # both pipelines or neither
            if "opportunity_stage" in values:
                try:
                    moved = opportunity_stage_set(
                        customer=customer,
                        stage=values["opportunity_stage"],
                        actor=request.user,
                        reason=values["reason"],
                    )
                except DjangoValidationError as exc:
                    raise _rekeyed(exc, {"stage": "opportunity_stage"}) from None
                if moved:
                    changed.append("opportunity")
            if "lifecycle_stage" in values and lifecycle_set(
                customer=customer, stage=values["lifecycle_stage"], actor=request.user, reason=values["reason"]
            ):
                changed.append("lifecycle")
        customer = customer_360_queryset(Customer.objects).get(pk=customer.pk)
        return Response(render(s.StageSetResultSerializer, {"changed": changed, "profile": customer}))


class CustomerPhoneView(CustomerAPIView):
    write_permissions = {"POST": "customers.change_customer"}

    @extend_schema(
        operation_id="customers_phone_reveal",
        responses={200: s.PhoneRevealSerializer, 403: OpenApiResponse(description=_("No view_full_phone."))},
        description=_("The full number, for users with customers.view_full_phone; every reveal is audited."),
    )
    def get(self, request, **kwargs):
        customer = self.visible_customer(**kwargs)
        return Response({"phone": customer_phone_reveal(customer=customer, user=request.user)})

    @extend_schema(
        operation_id="customers_phone_bind",
        request=s.PhoneBindSerializer,
        responses=s.PhoneBindResultSerializer,
        description=_(
            "Give the customer a phone number. A number another customer holds means they are one person: this "
            "customer is merged into the holder, whose id the response gives."
        ),
    )
    def post(self, request, **kwargs):
        customer = self.visible_customer(**kwargs)
        given = s.PhoneBindSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        holder = customer_bind_phone(
            customer=customer,
            phone=given.validated_data["phone"],
            actor=request.user,
            reason=given.validated_data["reason"],
        )
        return Response(
            {"customer_id": holder.pk, "merged": holder.pk != customer.pk, "phone_masked": holder.masked_phone}
        )


class CustomerOrdersView(CustomerAPIView):
    pagination_class = StandardPagination
    write_permissions = {"POST": "customers.add_order"}

    @extend_schema(operation_id="customers_orders_list", responses=s.OrderSerializer(many=True))
    def get(self, request, **kwargs):
        customer = self.visible_customer(**kwargs)
        page = self.paginate_queryset(Order.objects.filter(customer=customer).order_by("-ordered_at", "-id"))
        return self.get_paginated_response(render(s.OrderSerializer, page, many=True))

    @extend_schema(
        operation_id="customers_orders_create",
        request=s.OrderSerializer,
        responses={201: s.OrderSerializer, 200: s.OrderSerializer},
        description=_(
            "Record an order once per external_id: the same order again answers 200 with the stored one; the same "
            "external_id with other values is refused (400 on external_id)."
        ),
    )
    def post(self, request, **kwargs):
        customer = self.visible_customer(**kwargs)
        given = s.OrderSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        order, created = order_record(customer=customer, actor=request.user, **given.validated_data)
        return Response(
            render(s.OrderSerializer, order), status=status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )
