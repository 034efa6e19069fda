"""Writes on one customer through the API: notes, stages, binding a phone (merging), orders. Each refused write
is a 400 naming the field, and nothing is written."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from customers.models import (
    Customer,
    CustomerMerge,
    ExternalContact,
    OpportunityStage,
    Order,
    StageChange,
    TimelineEntry,
)
from customers.services.identity import customer_create
from customers.services.timeline import NOTE_MAX_LENGTH, timeline_add
from scrm.core.models import AuditLog
from tests.customers.api_fixtures import T0, corp_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


def state(customer: Customer) -> tuple:
    """What a refused write must leave alone."""
    fresh = Customer.objects.get(pk=customer.pk)
    return (
        fresh.phone,
        fresh.lifecycle_stage,
        fresh.opportunity_stage_id,
        fresh.total_spend,
        TimelineEntry.objects.filter(customer=fresh).count(),
        StageChange.objects.filter(customer=fresh).count(),
        Order.objects.count(),
        Customer.objects.count(),
        AuditLog.objects.count(),
    )


# ---- notes ------------------------------------------------------------------------------------------------------


def test_sales_add_a_note_to_a_customer_they_follow(corp):
    response = corp.client(corp.sales).post(
        f"/api/customers/{corp.followed.pk}/notes/", {"text": "Wants the blue one.\nCall Friday."}, format="json"
    )

    assert response.status_code == 201
    note = TimelineEntry.objects.get(customer=corp.followed, kind="note")
    assert (note.summary, note.content, note.employee, note.channel) == (
        "Wants the blue one.",
        "Wants the blue one.\nCall Friday.",
        corp.zhangsan,
        "staff",
    )
    assert response.json()["id"] == note.pk
    assert response.json()["employee"]["userid"] == "zhangsan"


@pytest.mark.parametrize(
    "body", [{}, {"text": ""}, {"text": "   "}, {"text": "x" * (NOTE_MAX_LENGTH + 1)}, {"text": {"a": 1}}]
)
def test_a_bad_note_is_400_on_text_and_writes_nothing(corp, body):
    before = state(corp.owned)

    response = corp.client(corp.ops).post(f"/api/customers/{corp.owned.pk}/notes/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["text"]
    assert state(corp.owned) == before


# ---- stages -----------------------------------------------------------------------------------------------------


def test_the_configured_opportunity_stages_are_listed(corp):
    OpportunityStage.objects.filter(name="谈判").update(is_active=False)

    response = corp.client(corp.sales).get("/api/customer-stages/")

    assert response.status_code == 200
    assert [(s["name"], s["outcome"], s["is_active"]) for s in response.json()] == [
        ("初步接触", "open", True),
        ("需求确认", "open", True),
        ("方案报价", "open", True),
        ("谈判", "open", False),
        ("成交", "won", True),
        ("流失", "lost", True),
    ]


def test_set_both_stages_with_a_reason_records_the_history(corp):
    stage = OpportunityStage.objects.get(name="方案报价")

    response = corp.client(corp.sales).post(
        f"/api/customers/{corp.owned.pk}/stage/",
        {"opportunity_stage": stage.pk, "lifecycle_stage": "trial", "reason": "asked for a quote"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["changed"] == ["opportunity", "lifecycle"]
    assert (response.json()["profile"]["opportunity_stage"]["id"], response.json()["profile"]["lifecycle_stage"]) == (
        stage.pk,
        "trial",
    )
    history = StageChange.objects.filter(customer=corp.owned).order_by("id")
    assert [(h.pipeline, h.from_value, h.to_value, h.reason, h.actor) for h in history] == [
        ("opportunity", "", "方案报价", "asked for a quote", corp.sales),
        ("lifecycle", "awareness", "trial", "asked for a quote", corp.sales),
    ]
    assert TimelineEntry.objects.filter(customer=corp.owned, kind="stage_change").count() == 2


def test_clear_the_opportunity_stage_and_setting_the_same_again_changes_nothing(corp):
    stage = OpportunityStage.objects.get(name="谈判")
    client = corp.client(corp.ops)
    url = f"/api/customers/{corp.owned.pk}/stage/"

    set_once = client.post(url, {"opportunity_stage": stage.pk}, format="json")
    set_again = client.post(url, {"opportunity_stage": stage.pk}, format="json")
    cleared = client.post(url, {"opportunity_stage": None, "reason": "went quiet"}, format="json")

    assert [r.json()["changed"] for r in (set_once, set_again, cleared)] == [["opportunity"], [], ["opportunity"]]
    assert Customer.objects.get(pk=corp.owned.pk).opportunity_stage is None
    assert list(
        StageChange.objects.filter(customer=corp.owned).order_by("id").values_list("from_value", "to_value")
    ) == [
        ("", "谈判"),
        ("谈判", ""),
    ]


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "non_field_errors"),
        ({"reason": "why not"}, "non_field_errors"),
        ({"opportunity_stage": 999999}, "opportunity_stage"),
        ({"opportunity_stage": "谈判"}, "opportunity_stage"),
        ({"lifecycle_stage": "customer"}, "lifecycle_stage"),
        ({"lifecycle_stage": "trial", "reason": "x" * 256}, "reason"),
    ],
)
def test_bad_stage_input_is_400_naming_the_field_and_writes_nothing(corp, body, field):
    before = state(corp.owned)

    response = corp.client(corp.ops).post(f"/api/customers/{corp.owned.pk}/stage/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert state(corp.owned) == before


def test_an_inactive_stage_is_refused_and_the_lifecycle_given_with_it_is_not_set(corp):
    stage = OpportunityStage.objects.get(name="谈判")
    stage.is_active = False
    stage.save()
    before = state(corp.owned)

    response = corp.client(corp.ops).post(
        f"/api/customers/{corp.owned.pk}/stage/",
        {"lifecycle_stage": "trial", "opportunity_stage": stage.pk},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["opportunity_stage"]
    assert state(corp.owned) == before


# ---- phone ------------------------------------------------------------------------------------------------------


def test_bind_a_free_number(corp):
    response = corp.client(corp.ops).post(
        f"/api/customers/{corp.nophone.pk}/phone/", {"phone": "+86 136-0000-3333"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"customer_id": corp.nophone.pk, "merged": False, "phone_masked": "136****3333"}
    assert Customer.objects.get(pk=corp.nophone.pk).phone == "+8613600003333"
    assert AuditLog.objects.filter(action="bind_phone", target_id=str(corp.nophone.pk), actor=corp.ops).count() == 1


def test_bind_a_number_another_customer_holds_merges_the_two(corp):
    """The WeCom contact's customer (no phone) turns out to be the caller on file: one customer remains."""
    contact_customer = Customer.objects.get(contacts__external_userid="wmEnded")
    timeline_add(
        customer=contact_customer, kind="sms", channel="sms", occurred_at=T0, source_key="sms:ended", summary="hi"
    )

    response = corp.client(corp.ops).post(
        f"/api/customers/{contact_customer.pk}/phone/", {"phone": "13700002222", "reason": "same person"}, format="json"
    )

    assert response.status_code == 200
    assert response.json() == {"customer_id": corp.foreign.pk, "merged": True, "phone_masked": "137****2222"}
    assert not Customer.objects.filter(pk=contact_customer.pk).exists()
    assert ExternalContact.objects.get(external_userid="wmEnded").customer_id == corp.foreign.pk
    assert TimelineEntry.objects.get(source_key="sms:ended").customer_id == corp.foreign.pk
    merge = CustomerMerge.objects.get()
    assert (merge.into_id, merge.other_id, merge.reason, merge.actor) == (
        corp.foreign.pk,
        contact_customer.pk,
        "same person",
        corp.ops,
    )
    assert corp.client(corp.ops).get(f"/api/customers/{contact_customer.pk}/").status_code == 404


@pytest.mark.parametrize("body", [{}, {"phone": ""}, {"phone": "12345"}, {"phone": "13600003333", "reason": "x" * 256}])
def test_bad_phone_input_is_400_naming_the_field_and_writes_nothing(corp, body):
    before = state(corp.nophone)

    response = corp.client(corp.ops).post(f"/api/customers/{corp.nophone.pk}/phone/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["reason" if "reason" in body else "phone"]
    assert state(corp.nophone) == before


def test_a_customer_with_another_number_is_not_rebound(corp):
    before = state(corp.owned)

    response = corp.client(corp.ops).post(
        f"/api/customers/{corp.owned.pk}/phone/", {"phone": "13600003333"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phone"]
    assert state(corp.owned) == before


# ---- orders -----------------------------------------------------------------------------------------------------


def order_body(**overrides) -> dict:
    return {"external_id": "TB-1001", "amount": "299.00", "ordered_at": T0.isoformat(), "source": "taobao"} | overrides


def test_record_an_order_then_replay_it(corp):
    client = corp.client(corp.sales)
    url = f"/api/customers/{corp.owned.pk}/orders/"

    first = client.post(url, order_body(), format="json")
    replay = client.post(url, order_body(amount="299"), format="json")

    assert (first.status_code, replay.status_code) == (201, 200)
    assert first.json() == replay.json()
    assert (first.json()["external_id"], first.json()["amount"], first.json()["source"]) == (
        "TB-1001",
        "299.00",
        "taobao",
    )
    assert Order.objects.count() == 1
    owned = Customer.objects.get(pk=corp.owned.pk)
    assert (owned.total_spend, owned.order_count, owned.lifecycle_stage) == (Decimal("299.00"), 1, "conversion")
    assert TimelineEntry.objects.filter(customer=owned, kind="order").count() == 1


@pytest.mark.parametrize(
    "overrides", [{"amount": "300.00"}, {"ordered_at": (T0 + timedelta(hours=1)).isoformat()}], ids=["amount", "time"]
)
def test_the_same_external_id_with_other_values_is_400_on_external_id(corp, overrides):
    client = corp.client(corp.ops)
    client.post(f"/api/customers/{corp.owned.pk}/orders/", order_body(), format="json")
    before = state(corp.owned)

    response = client.post(f"/api/customers/{corp.owned.pk}/orders/", order_body(**overrides), format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["external_id"]
    assert state(corp.owned) == before


def test_an_order_id_another_customer_used_is_400_on_external_id(corp):
    client = corp.client(corp.ops)
    client.post(f"/api/customers/{corp.owned.pk}/orders/", order_body(), format="json")
    before = state(corp.foreign)

    response = client.post(f"/api/customers/{corp.foreign.pk}/orders/", order_body(), format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["external_id"]
    assert state(corp.foreign) == before


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"external_id": ""}, "external_id"),
        ({"external_id": "x" * 65}, "external_id"),
        ({"amount": "-1"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": "1.005"}, "amount"),
        ({"ordered_at": "last week"}, "ordered_at"),
        ({"source": "s" * 33}, "source"),
    ],
)
def test_bad_order_input_is_400_naming_the_field_and_writes_nothing(corp, overrides, field):
    before = state(corp.owned)

    response = corp.client(corp.ops).post(
        f"/api/customers/{corp.owned.pk}/orders/", order_body(**overrides), format="json"
    )

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert state(corp.owned) == before


def test_orders_are_listed_newest_first(corp):
    client = corp.client(corp.ops)
    for n in range(3):
        client.post(
            f"/api/customers/{corp.owned.pk}/orders/",
            order_body(external_id=f"TB-{n}", ordered_at=(T0 + timedelta(days=n)).isoformat()),
            format="json",
        )
    customer_create(phone="13600003333")

    body = client.get(f"/api/customers/{corp.owned.pk}/orders/").json()

    assert body["count"] == 3
    assert [o["external_id"] for o in body["results"]] == ["TB-2", "TB-1", "TB-0"]
