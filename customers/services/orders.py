"""Orders, and what they drive: total spend, member tier (a tier change lands on the timeline) and the
conversion/repurchase lifecycle stages."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Lifecycle, MemberTier, Order, TimelineEntry
from customers.services.stages import lifecycle_advance
from customers.services.timeline import timeline_add
from scrm.core.hooks import publish
from scrm.core.services import audit_record


def order_record(
    *, customer: Customer, external_id: str, amount: Decimal | str, ordered_at: datetime, source: str = "", actor=None
) -> tuple[Order, bool]:
    """Record an order once (``external_id`` is its id in the shop); returns (order, created). The same
    external id again returns the stored order; with different values it is refused rather than overwritten."""
    try:
        amount = Decimal(str(amount))
    except InvalidOperation as exc:
        raise ValidationError({"amount": _("Enter a number.")}, code="invalid") from exc
    order = Order(
        customer=customer, external_id=(external_id or "").strip(), amount=amount, ordered_at=ordered_at, source=source
    )
    order.full_clean(validate_unique=False, validate_constraints=False)
    if order.amount < 0:
        raise ValidationError({"amount": _("An order amount cannot be negative.")}, code="min_value")
    try:
        with transaction.atomic():
            order.save(force_insert=True)
            timeline_add(
                customer=customer,
                kind=TimelineEntry.Kind.ORDER,
                channel=TimelineEntry.Channel.SYSTEM,
                occurred_at=ordered_at,
                source_key=f"order:{order.external_id}",
                summary=str(_("Order %(id)s: ¥%(amount)s") % {"id": order.external_id, "amount": order.amount}),
                data={"order_id": order.external_id, "amount": str(order.amount), "source": source},
            )
            audit_record(
                actor=actor,
                action="order",
                target=customer,
                changes={"order": order.external_id, "amount": order.amount},
            )
            customer_spend_refresh(customer=customer, actor=actor)
    except IntegrityError:
        existing = Order.objects.filter(external_id=order.external_id).first()
        if existing is None:
            raise
        if (existing.customer_id, existing.amount, existing.ordered_at) != (customer.pk, order.amount, ordered_at):
            raise ValidationError(
                {"external_id": _("Order %(id)s is already recorded with other values.") % {"id": order.external_id}},
                code="unique",
            ) from None
        return existing, False
    return order, True


def customer_spend_refresh(*, customer: Customer, actor=None) -> None:
    """Recompute spend and order count from the orders, then the tier and the order-driven lifecycle stage."""
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        totals = Order.objects.filter(customer=locked).aggregate(total=Sum("amount"), count=Count("pk"))
        total, count = totals["total"] or Decimal("0"), totals["count"]
        tier = MemberTier.objects.filter(min_spend__lte=total).order_by("-min_spend").first() if count else None
        before_tier = locked.tier
        locked.total_spend, locked.order_count, locked.tier = total, count, tier
        locked.save(update_fields=["total_spend", "order_count", "tier", "updated_at"])
        publish("customers.spend_changed", customer_ids=[locked.pk])
        if (before_tier.pk if before_tier else None) != (tier.pk if tier else None):
            now = timezone.now()
            timeline_add(
                customer=locked,
                kind=TimelineEntry.Kind.TIER_CHANGE,
                channel=TimelineEntry.Channel.SYSTEM,
                occurred_at=now,
                source_key=f"tier:{locked.pk}:{now.timestamp():.6f}:{tier.pk if tier else 0}",
                summary=str(
                    _("Member tier: %(before)s → %(after)s")
                    % {"before": before_tier or _("none"), "after": tier or _("none")}
                ),
                data={
                    "from": before_tier.name if before_tier else "",
                    "to": tier.name if tier else "",
                    "spend": str(total),
                },
            )
        if count >= 2:
            lifecycle_advance(customer=locked, stage=Lifecycle.REPURCHASE, reason=str(_("second order")), actor=actor)
        elif count == 1:
            lifecycle_advance(customer=locked, stage=Lifecycle.CONVERSION, reason=str(_("first order")), actor=actor)
    # lifecycle_advance moved ``locked`` forward (if at all): no need to read the row again
    customer.total_spend, customer.order_count, customer.tier = total, count, tier
    customer.lifecycle_stage = locked.lifecycle_stage
