"""Lifecycle and opportunity stages, each change recorded in the stage history and on the timeline.

The lifecycle is derived from events (first order → conversion, second → repurchase, a referral → advocacy) and
only moves forward that way; staff may still set it by hand. Opportunity stages are set by hand.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Lifecycle, OpportunityStage, StageChange, TimelineEntry
from customers.models.customer import lifecycle_rank
from customers.services.timeline import timeline_add
from scrm.core.hooks import publish
from scrm.core.services import acting_user, audit_record

Pipeline = StageChange.Pipeline


def opportunity_stage_set(*, customer: Customer, stage: OpportunityStage | None, actor, reason: str = "") -> bool:
    """Move the customer's opportunity to ``stage`` (None clears it); returns whether anything changed."""
    if stage is not None and not stage.is_active:
        raise ValidationError({"stage": _("The stage “%(name)s” is no longer in use.") % {"name": stage.name}})
    with transaction.atomic():
        locked = (
            Customer.objects.select_for_update(of=("self",)).select_related("opportunity_stage").get(pk=customer.pk)
        )
        if locked.opportunity_stage_id == (stage.pk if stage else None):
            return False
        before = locked.opportunity_stage.name if locked.opportunity_stage else ""
        locked.opportunity_stage = stage
        locked.save(update_fields=["opportunity_stage", "updated_at"])
        _record(locked, Pipeline.OPPORTUNITY, before, stage.name if stage else "", actor=actor, reason=reason)
    customer.opportunity_stage = stage
    return True


def lifecycle_set(*, customer: Customer, stage: str, actor, reason: str = "") -> bool:
    """Staff set the lifecycle stage by hand (either direction)."""
    if stage not in Lifecycle.values:
        raise ValidationError({"lifecycle_stage": _("“%(value)s” is not a lifecycle stage.") % {"value": stage}})
    return _lifecycle_move(customer=customer, stage=stage, actor=actor, reason=reason, forward_only=False)


def lifecycle_advance(*, customer: Customer, stage: str, reason: str, actor=None) -> bool:
    """An event says the customer reached ``stage``: move there unless they are already as far or further."""
    return _lifecycle_move(customer=customer, stage=stage, actor=actor, reason=reason, forward_only=True)


def _lifecycle_move(*, customer: Customer, stage: str, actor, reason: str, forward_only: bool) -> bool:
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        before = locked.lifecycle_stage
        if before == stage or (forward_only and lifecycle_rank(stage) < lifecycle_rank(before)):
            return False
        locked.lifecycle_stage = stage
        locked.save(update_fields=["lifecycle_stage", "updated_at"])
        _record(locked, Pipeline.LIFECYCLE, before, stage, actor=actor, reason=reason)
    customer.lifecycle_stage = stage
    return True


def customer_referral_record(*, customer: Customer, referred_by: Customer, actor=None) -> bool:
    """``referred_by`` brought ``customer`` in (裂变): recorded once, and the referrer reaches advocacy."""
    if customer.pk == referred_by.pk:
        raise ValidationError({"referred_by": _("A customer cannot refer themselves.")})
    with transaction.atomic():
        locked = Customer.objects.select_for_update().get(pk=customer.pk)
        if locked.referred_by_id == referred_by.pk:
            return False
        if locked.referred_by_id is not None:
            raise ValidationError({"referred_by": _("This customer's referrer is already recorded.")})
        locked.referred_by = referred_by
        locked.save(update_fields=["referred_by", "updated_at"])
        audit_record(actor=actor, action="referral", target=locked, changes={"referred_by": referred_by.pk})
        lifecycle_advance(
            customer=referred_by, stage=Lifecycle.ADVOCACY, reason=str(_("referred a customer")), actor=actor
        )
    customer.referred_by = referred_by
    return True


def _record(customer: Customer, pipeline: str, before: str, after: str, *, actor, reason: str) -> None:
    now, user = timezone.now(), acting_user(actor)
    change = StageChange.objects.create(
        customer=customer,
        pipeline=pipeline,
        from_value=before,
        to_value=after,
        actor=user,
        reason=reason[:255],
        changed_at=now,
    )
    label = Lifecycle(after).label if pipeline == Pipeline.LIFECYCLE else after
    timeline_add(
        customer=customer,
        kind=TimelineEntry.Kind.STAGE_CHANGE,
        channel=TimelineEntry.Channel.STAFF if user else TimelineEntry.Channel.SYSTEM,
        occurred_at=now,
        source_key=f"stage:{change.pk}",
        employee=getattr(user, "employee", None),
        summary=str(
            _("%(pipeline)s: %(before)s → %(after)s")
            % {"pipeline": Pipeline(pipeline).label, "before": before or "—", "after": label}
        ),
        data={"pipeline": pipeline, "from": before, "to": after, "reason": reason},
    )
    audit_record(actor=actor, action=f"set_{pipeline}", target=customer, changes={pipeline: [before, after]})
    publish("customers.stage_changed", customer_ids=[customer.pk])
