"""The customers API: who sees which customer, masked phones and the audited reveal, search and filters, create,
edit and the lookup by phone. (The 360 view and timeline: test_api_360.py; stages, phone binding, notes and
orders: test_api_writes.py.)"""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from customers.models import Customer, Lifecycle, OpportunityStage
from customers.services.identity import customer_create, customer_update
from customers.services.stages import lifecycle_set, opportunity_stage_set
from customers.services.timeline import customer_touch
from scrm.core.models import AuditLog
from tests.customers.api_fixtures import FOLLOWED_PHONE, FOREIGN_PHONE, OWNED_PHONE, T0, corp_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

ALL_NAMES = ["Anonymous", "赵敏", "韩梅梅", "李雷", "王芳"]  # newest first


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["name"] for item in response.json()["results"]]


# ---- visibility -------------------------------------------------------------------------------------------------


def test_ops_list_every_customer_newest_first(corp):
    assert names(corp.client(corp.ops).get("/api/customers/")) == ALL_NAMES


def test_sales_list_only_what_they_own_or_actively_follow(corp):
    assert names(corp.client(corp.sales).get("/api/customers/")) == ["李雷", "王芳"]


def test_a_user_without_an_employee_or_permission_sees_nothing(corp, make_user):
    nobody = make_user("nobody")

    assert corp.client(nobody).get("/api/customers/").status_code == 403
    assert corp.client(nobody).get(f"/api/customers/{corp.owned.pk}/").status_code == 403


def test_anonymous_gets_401(corp):
    assert APIClient().get("/api/customers/").status_code == 401


@pytest.mark.parametrize("suffix", ["", "timeline/", "orders/", "phone/"])
def test_sales_get_404_for_customers_they_do_not_follow(corp, suffix):
    client = corp.client(corp.sales)

    for customer in (corp.ended, corp.foreign, corp.nophone):
        response = client.get(f"/api/customers/{customer.pk}/{suffix}")
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert client.get(f"/api/customers/{corp.followed.pk}/{suffix}").status_code != 404


def test_sales_writes_to_a_customer_they_do_not_follow_are_404_and_change_nothing(corp):
    client = corp.client(corp.sales)
    audit_before = AuditLog.objects.count()

    responses = [
        client.patch(f"/api/customers/{corp.foreign.pk}/", {"name": "x"}, format="json"),
        client.post(f"/api/customers/{corp.foreign.pk}/notes/", {"text": "hi"}, format="json"),
        client.post(f"/api/customers/{corp.foreign.pk}/stage/", {"lifecycle_stage": "trial"}, format="json"),
        client.post(f"/api/customers/{corp.nophone.pk}/phone/", {"phone": "13600003333"}, format="json"),
        client.post(
            f"/api/customers/{corp.foreign.pk}/orders/",
            {"external_id": "o-1", "amount": "10", "ordered_at": T0.isoformat()},
            format="json",
        ),
    ]

    assert [r.status_code for r in responses] == [404] * 5
    foreign = Customer.objects.get(pk=corp.foreign.pk)
    assert (foreign.name, foreign.lifecycle_stage, foreign.order_count) == ("赵敏", "awareness", 0)
    assert foreign.timeline.count() == 0
    assert Customer.objects.get(pk=corp.nophone.pk).phone == ""
    assert AuditLog.objects.count() == audit_before


def test_writes_need_the_model_permission(corp):
    client = corp.client(corp.viewer)  # sees every customer, may change none
    audit_before = AuditLog.objects.count()

    responses = [
        client.post("/api/customers/", {"name": "New"}, format="json"),
        client.patch(f"/api/customers/{corp.owned.pk}/", {"name": "x"}, format="json"),
        client.post(f"/api/customers/{corp.owned.pk}/notes/", {"text": "hi"}, format="json"),
        client.post(f"/api/customers/{corp.owned.pk}/stage/", {"lifecycle_stage": "trial"}, format="json"),
        client.post(f"/api/customers/{corp.nophone.pk}/phone/", {"phone": "13600003333"}, format="json"),
        client.post(
            f"/api/customers/{corp.owned.pk}/orders/",
            {"external_id": "o-1", "amount": "10", "ordered_at": T0.isoformat()},
            format="json",
        ),
    ]

    assert [r.status_code for r in responses] == [403] * 6
    assert client.get(f"/api/customers/{corp.owned.pk}/").status_code == 200
    assert Customer.objects.count() == 5
    assert Customer.objects.get(pk=corp.owned.pk).name == "王芳"
    assert AuditLog.objects.count() == audit_before


# ---- masking and the audited reveal -----------------------------------------------------------------------------


def test_phones_are_masked_in_every_read(corp):
    client = corp.client(corp.ops)
    full_numbers = [number.encode() for number in (OWNED_PHONE, FOLLOWED_PHONE, FOREIGN_PHONE)]

    responses = [
        client.get("/api/customers/"),
        client.get(f"/api/customers/{corp.owned.pk}/"),
        client.get(f"/api/customers/by-phone/?phone={OWNED_PHONE}"),
        client.patch(f"/api/customers/{corp.owned.pk}/", {"name": "王芳芳"}, format="json"),
    ]

    for response in responses:
        assert response.status_code == 200
        assert not any(number in response.content for number in full_numbers)
    assert responses[0].json()["results"][-1]["phone_masked"] == "138****5678"
    assert responses[1].json()["profile"]["phone_masked"] == "138****5678"
    assert responses[2].json()["phone_masked"] == "138****5678"


def test_reveal_gives_the_full_number_and_audits_each_time(corp):
    client = corp.client(corp.ops)

    first = client.get(f"/api/customers/{corp.owned.pk}/phone/")
    second = client.get(f"/api/customers/{corp.owned.pk}/phone/")

    assert first.status_code == second.status_code == 200
    assert first.json() == {"phone": OWNED_PHONE}
    reveals = AuditLog.objects.filter(action="view_full_phone")
    assert [(r.actor, r.target_type, r.target_id) for r in reveals] == [
        (corp.ops, "customers.customer", str(corp.owned.pk))
    ] * 2


def test_sales_may_not_reveal_and_leave_no_audit_row(corp):
    response = corp.client(corp.sales).get(f"/api/customers/{corp.owned.pk}/phone/")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert AuditLog.objects.filter(action="view_full_phone").count() == 0


# ---- search and filters -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["13812345678", "+86 138 1234 5678", "0086-138-1234-5678", "86 13812345678", "(138) 1234-5678"]
)
def test_search_by_full_phone_in_any_spelling_is_an_exact_match(corp, spelling):
    customer_create(phone="13912345678", name="Same last eight")

    assert names(corp.client(corp.ops).get("/api/customers/", {"q": spelling})) == ["王芳"]


def test_search_by_last_four_digits(corp):
    customer_create(phone="13600005678", name="Also 5678")

    assert names(corp.client(corp.ops).get("/api/customers/", {"q": "5678"})) == ["Also 5678", "王芳"]
    assert names(corp.client(corp.sales).get("/api/customers/", {"q": "5678"})) == ["王芳"]
    assert names(corp.client(corp.ops).get("/api/customers/", {"q": "0000"})) == []


def test_search_by_part_of_a_name(corp):
    assert names(corp.client(corp.ops).get("/api/customers/", {"q": "梅"})) == ["韩梅梅"]
    assert names(corp.client(corp.ops).get("/api/customers/", {"q": "anon"})) == ["Anonymous"]
    assert names(corp.client(corp.sales).get("/api/customers/", {"q": "梅"})) == []


def test_filter_by_owner(corp):
    client = corp.client(corp.ops)

    assert names(client.get("/api/customers/", {"owner": corp.lisi.pk})) == ["赵敏", "韩梅梅", "李雷"]
    assert names(client.get("/api/customers/", {"owner": corp.zhangsan.pk})) == ["王芳"]


def test_filter_by_stages(corp):
    stage = OpportunityStage.objects.get(name="谈判")
    opportunity_stage_set(customer=corp.foreign, stage=stage, actor=None)
    lifecycle_set(customer=corp.owned, stage=Lifecycle.TRIAL, actor=None)
    client = corp.client(corp.ops)

    assert names(client.get("/api/customers/", {"opportunity_stage": stage.pk})) == ["赵敏"]
    assert names(client.get("/api/customers/", {"lifecycle_stage": "trial"})) == ["王芳"]
    assert names(client.get("/api/customers/", {"lifecycle_stage": "awareness"})) == ALL_NAMES[:-1]


def test_filter_by_last_contact(corp):
    customer_touch(customer_ids=[corp.owned.pk], at=T0)
    customer_touch(customer_ids=[corp.foreign.pk], at=T0 + timedelta(days=2))
    client = corp.client(corp.ops)

    after = client.get("/api/customers/", {"contacted_after": (T0 + timedelta(days=1)).isoformat()})
    before = client.get("/api/customers/", {"contacted_before": (T0 + timedelta(days=1)).isoformat()})
    between = client.get(
        "/api/customers/", {"contacted_after": T0.isoformat(), "contacted_before": (T0 + timedelta(days=3)).isoformat()}
    )

    assert names(after) == ["赵敏"]
    assert names(before) == ["王芳"]
    assert names(between) == ["赵敏", "王芳"]


def test_filter_by_marketing_opt_out(corp):
    customer_update(customer=corp.foreign, actor=None, marketing_opt_out=True)
    client = corp.client(corp.ops)

    assert names(client.get("/api/customers/", {"marketing_opt_out": "true"})) == ["赵敏"]
    assert names(client.get("/api/customers/", {"marketing_opt_out": "false"})) == [
        "Anonymous",
        "韩梅梅",
        "李雷",
        "王芳",
    ]
    assert names(client.get("/api/customers/")) == ALL_NAMES  # absent means either


@pytest.mark.parametrize(
    "params, field",
    [
        ({"owner": "zhangsan"}, "owner"),
        ({"opportunity_stage": "won"}, "opportunity_stage"),
        ({"lifecycle_stage": "customer"}, "lifecycle_stage"),
        ({"contacted_after": "yesterday"}, "contacted_after"),
        ({"contacted_before": "2024-13-01"}, "contacted_before"),
        ({"marketing_opt_out": "maybe"}, "marketing_opt_out"),
    ],
)
def test_bad_filters_are_400_naming_the_parameter(corp, params, field):
    response = corp.client(corp.ops).get("/api/customers/", params)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_list_pages_by_cursor_without_duplicates_or_gaps(corp):
    for n in range(7):
        customer_create(name=f"extra {n}")
    client = corp.client(corp.ops)

    seen, url, pages = [], "/api/customers/?page_size=3", 0
    while url:
        body = client.get(url).json()
        seen += [item["id"] for item in body["results"]]
        url, pages = body["next"], pages + 1

    assert pages == 4
    assert seen == list(Customer.objects.order_by("-id").values_list("pk", flat=True))


def test_list_item_shape(corp):
    item = corp.client(corp.ops).get("/api/customers/", {"q": "王芳"}).json()["results"][0]

    assert item == {
        "id": corp.owned.pk,
        "name": "王芳",
        "phone_masked": "138****5678",
        "owner": {"id": corp.zhangsan.pk, "userid": "zhangsan", "name": "Zhang San"},
        "origin": "manual",
        "lifecycle_stage": "awareness",
        "opportunity_stage": None,
        "tier": None,
        "total_spend": "0.00",
        "order_count": 0,
        "marketing_opt_out": False,
        "last_contact_at": None,
        "created_at": item["created_at"],
    }


# ---- lookup by phone --------------------------------------------------------------------------------------------


def test_by_phone_finds_the_customer_in_any_spelling(corp):
    response = corp.client(corp.ops).get("/api/customers/by-phone/", {"phone": "+86 139-0000-1111"})

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["phone_masked"]) == (corp.followed.pk, "139****1111")


def test_by_phone_respects_visibility(corp):
    client = corp.client(corp.sales)

    assert client.get("/api/customers/by-phone/", {"phone": OWNED_PHONE}).json()["id"] == corp.owned.pk
    assert client.get("/api/customers/by-phone/", {"phone": FOREIGN_PHONE}).status_code == 404
    assert client.get("/api/customers/by-phone/", {"phone": "13600009999"}).status_code == 404


@pytest.mark.parametrize("params", [{}, {"phone": ""}, {"phone": "12345"}, {"phone": "not a number"}])
def test_by_phone_refuses_what_is_not_a_phone_number(corp, params):
    response = corp.client(corp.ops).get("/api/customers/by-phone/", params)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phone"]


# ---- create and edit --------------------------------------------------------------------------------------------


def test_create_with_phone_name_and_owner(corp):
    response = corp.client(corp.ops).post(
        "/api/customers/", {"phone": "+86 136 0000 3333", "name": "New", "owner": corp.lisi.pk}, format="json"
    )

    assert response.status_code == 201
    created = Customer.objects.get(pk=response.json()["id"])
    assert (created.phone, created.name, created.owner, created.origin) == (
        "+8613600003333",
        "New",
        corp.lisi,
        "manual",
    )
    assert response.json()["phone_masked"] == "136****3333"
    assert AuditLog.objects.filter(action="create", target_id=str(created.pk), actor=corp.ops).count() == 1


def test_sales_create_without_an_owner_own_the_customer_and_see_it(corp):
    client = corp.client(corp.sales)

    response = client.post("/api/customers/", {"name": "Walk-in"}, format="json")

    assert response.status_code == 201
    assert Customer.objects.get(pk=response.json()["id"]).owner == corp.zhangsan
    assert client.get(f"/api/customers/{response.json()['id']}/").status_code == 200


def test_create_with_a_number_another_customer_holds_names_it_when_visible(corp):
    response = corp.client(corp.ops).post("/api/customers/", {"phone": "138 1234 5678"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert (body["code"], list(body["fields"]), body["existing_customer_id"]) == (
        "phone_taken",
        ["phone"],
        corp.owned.pk,
    )
    assert Customer.objects.count() == 5


def test_create_with_a_number_held_by_an_invisible_customer_does_not_tell_its_id(corp):
    response = corp.client(corp.sales).post("/api/customers/", {"phone": FOREIGN_PHONE}, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == ["phone"]
    assert "existing_customer_id" not in response.json()
    assert Customer.objects.count() == 5


@pytest.mark.parametrize(
    "body, field",
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "call me"}, "phone"),
        ({"name": "x" * 129}, "name"),
        ({"owner": 999999}, "owner"),
    ],
)
def test_create_refuses_bad_input_naming_the_field_and_writes_nothing(corp, body, field):
    audit_before = AuditLog.objects.count()

    response = corp.client(corp.ops).post("/api/customers/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    assert Customer.objects.count() == 5
    assert AuditLog.objects.count() == audit_before


def test_patch_name_owner_and_opt_out_is_audited(corp):
    response = corp.client(corp.sales).patch(
        f"/api/customers/{corp.owned.pk}/",
        {"name": "王芳芳", "owner": corp.lisi.pk, "marketing_opt_out": True},
        format="json",
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["owner"]["id"], response.json()["marketing_opt_out"]) == (
        "王芳芳",
        corp.lisi.pk,
        True,
    )
    owned = Customer.objects.get(pk=corp.owned.pk)
    assert (owned.name, owned.owner, owned.marketing_opt_out) == ("王芳芳", corp.lisi, True)
    audit = AuditLog.objects.get(action="update", target_id=str(owned.pk))
    assert audit.actor == corp.sales
    assert set(audit.changes) == {"name", "owner", "marketing_opt_out"}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"phone": "13600003333"}, "phone"),
        ({"lifecycle_stage": "trial"}, "lifecycle_stage"),
        ({"owner": 999999}, "owner"),
        ({"marketing_opt_out": "perhaps"}, "marketing_opt_out"),
        ({}, "non_field_errors"),
    ],
)
def test_patch_refuses_bad_input_naming_the_field_and_writes_nothing(corp, body, field):
    audit_before = AuditLog.objects.count()

    response = corp.client(corp.ops).patch(f"/api/customers/{corp.owned.pk}/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]
    owned = Customer.objects.get(pk=corp.owned.pk)
    assert (owned.phone, owned.lifecycle_stage, owned.owner, owned.marketing_opt_out) == (
        "+8613812345678",
        "awareness",
        corp.zhangsan,
        False,
    )
    assert AuditLog.objects.count() == audit_before


def test_endpoints_are_in_the_openapi_schema(api_client):
    paths = api_client.get("/api/schema/?format=json").json()["paths"]

    assert {
        "/api/customers/",
        "/api/customers/by-phone/",
        "/api/customers/{id}/",
        "/api/customers/{id}/timeline/",
        "/api/customers/{id}/notes/",
        "/api/customers/{id}/stage/",
        "/api/customers/{id}/phone/",
        "/api/customers/{id}/orders/",
        "/api/customer-stages/",
    } <= set(paths)
    assert set(paths["/api/customers/{id}/"]) == {"get", "patch"}
    assert set(paths["/api/customers/{id}/phone/"]) == {"get", "post"}
