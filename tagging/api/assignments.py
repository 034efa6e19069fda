"""The tag assignments API, mounted under /api/tagging/: a customer's tags (read, and tag/untag by hand), and a
customer group's.

Customers: the customer must be one the user may see (``customers_visible_to``: sales see the customers they
follow), else 404, never 403, so the API does not tell which ids exist. Reading needs
``tagging.view_customertag``; adding ``tagging.add_customertag`` and removing ``tagging.delete_customertag``.
Customer groups are the operations team's (``tagging.*_grouptag``). Writes go through
``tagging.services.assignments`` (source "manual", the user as actor): rows, timeline, audit, and for corp tags
the WeCom ``mark_tag`` calls after commit. A refused request writes nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.urls import path
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAuthenticated
from rest_framework.response import Response

from customers.models import Customer
from customers.selectors import customers_visible_to
from groups.models import CustomerGroup
from tagging.assignment_selectors import customer_tag_list, group_tag_list
from tagging.models import Source, TagTarget
from tagging.profile import AssignedTagSerializer
from tagging.services.assignments import customer_tags_change, group_tags_change, tags_for

MAX_TAGS = 100  # per request and list: more is a bulk job (segments), not a hand edit


class AssignmentPermission(BasePermission):
    """Reads need the view permission on the view's assignment model; a write the add permission if it adds
    and the delete permission if it removes (checked on the request's body by the view)."""

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS:
            return request.user.has_perm(f"tagging.view_{view.model_name}")
        return request.method == "POST" and (
            request.user.has_perm(f"tagging.add_{view.model_name}")
            or request.user.has_perm(f"tagging.delete_{view.model_name}")
        )


class TagChangeSerializer(serializers.Serializer):
    add = serializers.ListField(child=serializers.IntegerField(), default=list, max_length=MAX_TAGS)
    remove = serializers.ListField(child=serializers.IntegerField(), default=list, max_length=MAX_TAGS)

    def validate(self, attrs):
        if not attrs["add"] and not attrs["remove"]:
            raise serializers.ValidationError({"add": gettext("Name at least one tag to add or remove.")})
        if both := set(attrs["add"]) & set(attrs["remove"]):
            raise serializers.ValidationError(
                {"remove": gettext("A tag cannot be added and removed at once: %(ids)s.") % {"ids": _ids(both)}}
            )
        return attrs


def _ids(ids) -> str:
    return ", ".join(map(str, sorted(ids)))


class AssignmentView(GenericAPIView):
    permission_classes = [IsAuthenticated, AssignmentPermission]
    serializer_class = AssignedTagSerializer
    pagination_class = None  # a customer has tens of tags, not thousands
    model_name = ""
    target = ""

    def changes(self, request) -> dict[str, list[int]]:
        """The request's add/remove lists, checked: shape, the user's permission for each half, and every tag
        (existing; to add: live, for this target, not personal; to remove: not personal) with the error on the
        list that names it."""
        given = TagChangeSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        add, remove = given.validated_data["add"], given.validated_data["remove"]
        if add and not request.user.has_perm(f"tagging.add_{self.model_name}"):
            self.permission_denied(request, message=gettext("You may not add tags."))
        if remove and not request.user.has_perm(f"tagging.delete_{self.model_name}"):
            self.permission_denied(request, message=gettext("You may not remove tags."))
        for name, ids, adding in (("add", add, True), ("remove", remove, False)):
            try:
                tags_for(target=self.target, tag_ids=ids, adding=adding, source=Source.MANUAL)
            except DjangoValidationError as exc:
                raise serializers.ValidationError({name: exc.messages}) from None
        return {"add": add, "remove": remove}


class CustomerTagsView(AssignmentView):
    queryset = Customer.objects.none()  # what the path's id names (for the schema); reads go through selectors
    model_name = "customertag"
    target = TagTarget.CUSTOMER

    def customer_id(self, id: int) -> int:
        return get_object_or_404(customers_visible_to(user=self.request.user).values_list("pk", flat=True), pk=id)

    @extend_schema(operation_id="tagging_customer_tags_list", responses=AssignedTagSerializer(many=True))
    def get(self, request, id: int):
        return Response(AssignedTagSerializer(customer_tag_list(customer_id=self.customer_id(id)), many=True).data)

    @extend_schema(
        operation_id="tagging_customer_tags_change",
        request=TagChangeSerializer,
        responses=AssignedTagSerializer(many=True),
        description=_(
            "Add and remove tags (by id) by hand; answers the customer's tags afterwards. Corp tags reach the "
            "customer's WeCom follow relations shortly after."
        ),
    )
    def post(self, request, id: int):
        customer_id = self.customer_id(id)
        changes = self.changes(request)
        customer_tags_change(customer_ids=[customer_id], **changes, source=Source.MANUAL, actor=request.user)
        return Response(AssignedTagSerializer(customer_tag_list(customer_id=customer_id), many=True).data)


class GroupTagsView(AssignmentView):
    queryset = CustomerGroup.objects.none()
    model_name = "grouptag"
    target = TagTarget.GROUP

    def group_id(self, id: int) -> int:
        return get_object_or_404(CustomerGroup.objects.values_list("pk", flat=True), pk=id)

    @extend_schema(operation_id="tagging_group_tags_list", responses=AssignedTagSerializer(many=True))
    def get(self, request, id: int):
        return Response(AssignedTagSerializer(group_tag_list(group_id=self.group_id(id)), many=True).data)

    @extend_schema(
        operation_id="tagging_group_tags_change",
        request=TagChangeSerializer,
        responses=AssignedTagSerializer(many=True),
        description=_("Add and remove a customer group's tags (by id); answers the group's tags afterwards."),
    )
    def post(self, request, id: int):
        group_id = self.group_id(id)
        changes = self.changes(request)
        group_tags_change(group_ids=[group_id], **changes, source=Source.MANUAL, actor=request.user)
        return Response(AssignedTagSerializer(group_tag_list(group_id=group_id), many=True).data)


urlpatterns = [
    path("customers/<int:id>/tags/", CustomerTagsView.as_view(), name="tagging-customer-tags"),
    path("groups/<int:id>/tags/", GroupTagsView.as_view(), name="tagging-group-tags"),
]
