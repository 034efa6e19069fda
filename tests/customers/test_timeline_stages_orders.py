"""customers services: the timeline (idempotent by source key, last contact), stages with history, orders with
tiers and the order-driven lifecycle, referrals."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer, Lifecycle, MemberTier, OpportunityStage, Order, StageChange, TimelineEntry
from customers.selectors import customer_timeline
from customers.services import (
    customer_create,
    customer_referral_record,
    lifecycle_set,
    opportunity_stage_set,
    order_record,
    timeline_add,
    timeline_note_add,
)
from scrm.core.models import AuditLog
from scrm.core.roles import OPS

pytestmark = pytest.mark.django_db
AT = datetime(2026, 3, 1, 10, tzinfo=UTC)


@pytest.fixture
def customer():
    return customer_create(phone="13812345678", name="王芳")


@pytest.fixture
def ops(make_user):
    return make_user("ops", role=OPS)


def add(customer, key, *, at=AT, kind="call"):
    return timeline_add(customer=customer, kind=kind, channel="phone", occurred_at=at, source_key=key)


def test_the_same_source_key_is_stored_once(customer):
    first, created = add(customer, "call:abc")
    again, created_again = add(customer, "call:abc", at=AT + timedelta(days=1))

    assert (created, created_again) == (True, False)
    assert again.pk == first.pk and again.occurred_at == AT
    assert TimelineEntry.objects.count() == 1


def test_a_conversation_moves_last_contact_forward_only(customer):
    add(customer, "call:new", at=AT)
    add(customer, "call:old", at=AT - timedelta(days=3))
    add(customer, "note:x", at=AT + timedelta(days=1), kind="note")  # a note is not a conversation

    assert Customer.objects.get(pk=customer.pk).last_contact_at == AT


def test_an_invalid_entry_is_refused_and_nothing_stored(customer):
    with pytest.raises(ValidationError) as caught:
        timeline_add(customer=customer, kind="fax", channel="phone", occurred_at=AT, source_key="fax:1")

    assert "kind" in caught.value.message_dict
    assert TimelineEntry.objects.count() == 0


def test_a_note_names_its_author_and_refuses_empty_text(customer, ops):
    entry = timeline_note_add(customer=customer, text="  第一行\n第二行 ", author=ops)

    assert (entry.kind, entry.summary, entry.content, entry.data) == (
        "note",
        "第一行",
        "第一行\n第二行",
        {"author": "ops"},
    )
    with pytest.raises(ValidationError) as caught:
        timeline_note_add(customer=customer, text="   ", author=ops)
    assert "text" in caught.value.message_dict
    assert TimelineEntry.objects.count() == 1


def test_timeline_pages_are_newest_first_without_gaps_or_repeats_on_equal_times(customer):
    for n in range(7):
        add(customer, f"call:{n}", at=AT + timedelta(minutes=n // 3))  # three entries share each minute

    seen, before = [], None
    while page := customer_timeline(customer=customer, before=before, limit=3):
        seen.extend(entry.source_key for entry in page)
        before = (page[-1].occurred_at, page[-1].pk)

    assert seen == ["call:6", "call:5", "call:4", "call:3", "call:2", "call:1", "call:0"]


# ---- stages --------------------------------------------------------------------------------------------------------


def test_the_default_opportunity_pipeline_is_configured():
    assert list(OpportunityStage.objects.values_list("name", "outcome")) == [
        ("初步接触", "open"),
        ("需求确认", "open"),
        ("方案报价", "open"),
        ("谈判", "open"),
        ("成交", "won"),
        ("流失", "lost"),
    ]
    assert list(MemberTier.objects.values_list("name", "min_spend")) == [("VIP", Decimal("500.00"))]


def test_setting_an_opportunity_stage_records_history_timeline_and_audit(customer, ops):
    first, second = OpportunityStage.objects.order_by("position")[:2]

    assert opportunity_stage_set(customer=customer, stage=first, actor=ops, reason="来电") is True
    assert opportunity_stage_set(customer=customer, stage=second, actor=ops) is True
    assert opportunity_stage_set(customer=customer, stage=second, actor=ops) is False

    assert list(StageChange.objects.order_by("pk").values_list("pipeline", "from_value", "to_value", "actor")) == [
        ("opportunity", "", "初步接触", ops.pk),
        ("opportunity", "初步接触", "需求确认", ops.pk),
    ]
    assert TimelineEntry.objects.filter(customer=customer, kind="stage_change").count() == 2
    assert AuditLog.objects.filter(action="set_opportunity").count() == 2


def test_an_inactive_stage_is_refused(customer, ops):
    stage = OpportunityStage.objects.first()
    OpportunityStage.objects.filter(pk=stage.pk).update(is_active=False)
    stage.refresh_from_db()

    with pytest.raises(ValidationError):
        opportunity_stage_set(customer=customer, stage=stage, actor=ops)
    assert Customer.objects.get(pk=customer.pk).opportunity_stage is None
    assert StageChange.objects.count() == 0


def test_staff_may_set_the_lifecycle_either_way_but_events_only_move_it_forward(customer, ops):
    lifecycle_set(customer=customer, stage=Lifecycle.REPURCHASE, actor=ops)
    order_record(customer=customer, external_id="O-1", amount="10", ordered_at=AT)  # first order: conversion
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == Lifecycle.REPURCHASE

    lifecycle_set(customer=customer, stage=Lifecycle.AWARENESS, actor=ops)
    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == Lifecycle.AWARENESS
    with pytest.raises(ValidationError):
        lifecycle_set(customer=customer, stage="sleeping", actor=ops)


def test_a_referral_makes_the_referrer_an_advocate_once(customer, ops):
    friend = customer_create(name="朋友")

    assert customer_referral_record(customer=friend, referred_by=customer, actor=ops) is True
    assert customer_referral_record(customer=friend, referred_by=customer, actor=ops) is False

    assert Customer.objects.get(pk=customer.pk).lifecycle_stage == Lifecycle.ADVOCACY
    assert Customer.objects.get(pk=friend.pk).referred_by_id == customer.pk
    with pytest.raises(ValidationError):
        customer_referral_record(customer=friend, referred_by=customer_create(name="另一个"), actor=ops)
    with pytest.raises(ValidationError):
        customer_referral_record(customer=customer, referred_by=customer, actor=ops)


# ---- orders --------------------------------------------------------------------------------------------------------


def test_orders_drive_spend_tier_and_lifecycle(customer):
    order_record(customer=customer, external_id="O-1", amount="300", ordered_at=AT)
    customer.refresh_from_db()
    assert (customer.total_spend, customer.order_count, customer.tier, customer.lifecycle_stage) == (
        Decimal("300.00"),
        1,
        None,
        Lifecycle.CONVERSION,
    )

    order_record(customer=customer, external_id="O-2", amount="250.50", ordered_at=AT + timedelta(days=1))

    customer.refresh_from_db()
    assert (customer.total_spend, customer.order_count, customer.tier.name, customer.lifecycle_stage) == (
        Decimal("550.50"),
        2,
        "VIP",
        Lifecycle.REPURCHASE,
    )
    kinds = list(TimelineEntry.objects.filter(customer=customer).order_by("pk").values_list("kind", flat=True))
    assert kinds == ["order", "stage_change", "order", "tier_change", "stage_change"]


def test_an_order_replayed_is_stored_once_and_a_conflicting_one_refused(customer):
    order, created = order_record(customer=customer, external_id="O-1", amount="99.90", ordered_at=AT)
    again, created_again = order_record(customer=customer, external_id="O-1", amount=Decimal("99.9"), ordered_at=AT)

    assert (created, created_again, again.pk) == (True, False, order.pk)
    with pytest.raises(ValidationError) as caught:
        order_record(customer=customer, external_id="O-1", amount="1", ordered_at=AT)
    assert "external_id" in caught.value.message_dict
    assert (Order.objects.count(), TimelineEntry.objects.filter(kind="order").count()) == (1, 1)
    assert Customer.objects.get(pk=customer.pk).total_spend == Decimal("99.90")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"external_id": "", "amount": "1"}, "external_id"),
        ({"external_id": "O-9", "amount": "-1"}, "amount"),
        ({"external_id": "O-9", "amount": "abc"}, "amount"),
    ],
)
def test_bad_orders_are_refused_naming_the_field(customer, values, field):
    with pytest.raises(ValidationError) as caught:
        order_record(customer=customer, ordered_at=AT, **values)

    assert field in caught.value.message_dict
    assert Order.objects.count() == 0
    assert Customer.objects.get(pk=customer.pk).order_count == 0
