"""Reads of group live codes (群活码), each with the joins its callers need."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from groups.models import GroupCode, GroupCodeGroup


def _with_groups(codes: QuerySet[GroupCode]) -> QuerySet[GroupCode]:
    rows = GroupCodeGroup.objects.select_related("group").order_by("position", "id")
    return codes.select_related("created_by").prefetch_related(Prefetch("code_groups", queryset=rows))


def group_codes_list() -> QuerySet[GroupCode]:
    """Every code with its groups in order (group rows joined in) and the count of groups with room: three
    queries for any number of codes."""
    codes = GroupCode.objects.annotate(
        groups_total=Count("code_groups", distinct=True),
        groups_open=Count("code_groups", filter=Q(code_groups__full_at__isnull=True), distinct=True),
    )
    return _with_groups(codes).order_by("-created_at", "-id")


def group_code_get(*, pk: int) -> GroupCode | None:
    return _with_groups(GroupCode.objects.filter(pk=pk)).first()


def group_code_by_token(*, token: str) -> GroupCode | None:
    """The code behind a permanent QR (its public token): one query."""
    return GroupCode.objects.filter(public_token=token).first()


def group_code_groups(*, code: GroupCode) -> QuerySet[GroupCodeGroup]:
    """A code's groups in order, each with its customer group: one query."""
    return GroupCodeGroup.objects.filter(code=code).select_related("group").order_by("position", "id")


def group_codes_awaiting_new_group() -> list[int]:
    """Codes WeCom will make the next group for: open, with auto_create_room and a join_way, every group full.
    One query."""
    open_group = GroupCodeGroup.objects.filter(code=OuterRef("pk"), full_at__isnull=True)
    return list(
        GroupCode.objects.filter(status=GroupCode.Status.OPEN, auto_create_room=True)
        .exclude(config_id="")
        .exclude(Exists(open_group))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
