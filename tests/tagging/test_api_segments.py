"""The segments API (/api/tagging/segments/…) and the customer list's ?segment= filter: live counts and members as
the user may see them, positioned 400s naming the field, saved-segment CRUD through the services, permissions."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from scrm.core.models import AuditLog
from tagging.models import Segment
from tagging.services.segments import segment_create
from tests.tagging.segment_fixtures import shop_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

URL = "/api/tagging/segments/"


def client(user) -> APIClient:
    api = APIClient()
    api.force_authenticate(user)
    api.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return api


def names(items) -> list[str]:
    return [item["name"] for item in items]


# ---- preview ----------------------------------------------------------------------------------------------------


def test_preview_counts_and_lists_the_newest_members(shop):
    response = client(shop.ops).get(f"{URL}preview/", {"expression": "奶粉 OR 辅食"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 4
    assert names(body["sample"]) == ["Anonymous", "韩梅梅", "李雷", "王芳"]  # newest first
    wang = body["sample"][-1]
    assert wang["phone_masked"] == "138****5678" and "phone" not in wang
    assert wang["owner"]["userid"] == "zhangsan" and wang["opportunity_stage"]["name"] == "谈判"


def test_preview_for_sales_counts_only_their_customers(shop):
    body = client(shop.sales).get(f"{URL}preview/", {"expression": "奶粉 OR 辅食"}).json()

    assert (body["count"], names(body["sample"])) == (2, ["李雷", "王芳"])


def test_preview_of_groups(shop):
    body = client(shop.ops).get(f"{URL}preview/", {"expression": "活跃群", "target": "group"}).json()

    assert body["count"] == 2
    assert [(g["chat_id"], g["name"], g["member_count"]) for g in body["sample"]] == [
        ("chat2", "活跃2群", 0),
        ("chat1", "宝妈交流群", 2),
    ]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("(奶粉 OR 辅食", "Expected “)” at position 9 to close the “(” at position 0"),
        ("奶粉 AND 奶份", "Unknown tag “奶份” at position 7 (did you mean 奶粉?)"),
        ("", "The expression is empty (position 0)"),
    ],
)
def test_a_bad_expression_is_a_400_on_expression_naming_the_position(shop, expression, message):
    response = client(shop.ops).get(f"{URL}preview/", {"expression": expression})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert response.json()["fields"] == {"expression": [message]}


def test_preview_needs_the_view_permission(shop, make_user):
    assert client(make_user("nobody")).get(f"{URL}preview/", {"expression": "奶粉"}).status_code == 403
    assert APIClient().get(f"{URL}preview/", {"expression": "奶粉"}).status_code == 401


# ---- saved segments ---------------------------------------------------------------------------------------------


def test_create_validates_counts_and_audits(shop):
    response = client(shop.ops).post(URL, {"name": "奶粉客户", "expression": " 奶粉 NOT 已流失 "}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    segment = Segment.objects.get()
    assert (segment.name, segment.target, segment.expression, segment.last_count) == (
        "奶粉客户",
        "customer",
        "奶粉 NOT 已流失",
        1,
    )
    assert segment.created_by == shop.ops and segment.counted_at is not None
    assert (body["id"], body["count"], names(body["sample"]), body["error"]) == (segment.pk, 1, ["王芳"], None)
    assert AuditLog.objects.filter(action="segment_create", target_id=str(segment.pk)).count() == 1


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        (
            {"name": "x", "expression": "奶粉 OR"},
            {"expression": ["Expected a tag or a condition at position 5, but the expression ends there"]},
        ),
        (
            {"name": "x", "expression": "宝妈群"},
            {"expression": ["The tag “宝妈群” at position 0 applies to customer groups, not to customers"]},
        ),
        (
            {"name": "x", "expression": "spend>=1", "target": "group"},
            {"expression": ["“spend” does not apply to customer groups (position 0)"]},
        ),
        ({"name": "", "expression": "奶粉"}, {"name": ["This field may not be blank."]}),
        ({"name": "x", "expression": "奶粉", "target": "shop"}, {"target": ['"shop" is not a valid choice.']}),
    ],
)
def test_a_refused_create_writes_nothing(shop, payload, fields):
    response = client(shop.ops).post(URL, payload, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == fields
    assert Segment.objects.count() == 0
    assert not AuditLog.objects.filter(action__startswith="segment").exists()


def test_a_name_is_unique_per_target(shop):
    segment_create(name="活跃", expression="辅食")
    response = client(shop.ops).post(URL, {"name": "活跃", "expression": "玩具"}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"name": ["A segment of customers named “活跃” already exists."]}
    groups = client(shop.ops).post(URL, {"name": "活跃", "expression": "活跃群", "target": "group"}, format="json")
    assert groups.status_code == 201 and groups.json()["count"] == 2


def test_list_and_detail_for_ops_and_sales(shop):
    segment = segment_create(name="奶粉或辅食", expression="奶粉 OR 辅食")

    ops = client(shop.ops).get(URL).json()
    assert (ops["count"], ops["results"][0]["last_count"]) == (1, 4)
    # the stored count covers every customer: sales get null there, and their own live count in the detail
    sales = client(shop.sales).get(URL).json()
    assert sales["results"][0]["last_count"] is None and sales["results"][0]["counted_at"] is None
    detail = client(shop.sales).get(f"{URL}{segment.pk}/").json()
    assert (detail["count"], names(detail["sample"])) == (2, ["李雷", "王芳"])


def test_update_checks_and_recounts(shop):
    segment = segment_create(name="s", expression="奶粉")
    api = client(shop.ops)

    response = api.patch(f"{URL}{segment.pk}/", {"expression": "奶粉 OR 玩具"}, format="json")
    assert response.status_code == 200 and response.json()["count"] == 3
    segment.refresh_from_db()
    assert (segment.expression, segment.last_count) == ("奶粉 OR 玩具", 3)

    refused = api.patch(f"{URL}{segment.pk}/", {"expression": "奶粉 OR (玩具"}, format="json")
    assert refused.status_code == 400
    assert refused.json()["fields"] == {"expression": ["Expected “)” at position 9 to close the “(” at position 6"]}
    segment.refresh_from_db()
    assert (segment.expression, segment.last_count) == ("奶粉 OR 玩具", 3)
    assert AuditLog.objects.filter(action="segment_update").count() == 1


def test_delete(shop):
    segment = segment_create(name="s", expression="奶粉")

    assert client(shop.sales).delete(f"{URL}{segment.pk}/").status_code == 403
    assert client(shop.ops).delete(f"{URL}{segment.pk}/").status_code == 204
    assert not Segment.objects.exists()
    assert AuditLog.objects.filter(action="segment_delete", target_id=str(segment.pk)).count() == 1


def test_sales_may_read_but_not_write(shop):
    segment = segment_create(name="s", expression="奶粉")
    sales = client(shop.sales)

    assert sales.post(URL, {"name": "t", "expression": "奶粉"}, format="json").status_code == 403
    assert sales.patch(f"{URL}{segment.pk}/", {"name": "t"}, format="json").status_code == 403
    assert sales.post(f"{URL}{segment.pk}/recount/").status_code == 403
    assert Segment.objects.get().name == "s"


def test_a_segment_whose_tag_was_deleted_still_opens_with_the_error(shop):
    segment = segment_create(name="s", expression="奶粉 OR 玩具")
    shop.tags["玩具"].deleted = True
    shop.tags["玩具"].save(update_fields=["deleted"])

    detail = client(shop.ops).get(f"{URL}{segment.pk}/").json()
    assert (detail["count"], detail["sample"]) == (None, None)
    assert detail["error"] == "Unknown tag “玩具” at position 6"
    recount = client(shop.ops).post(f"{URL}{segment.pk}/recount/")
    assert recount.status_code == 400
    assert recount.json()["fields"] == {"expression": ["Unknown tag “玩具” at position 6"]}


def test_recount_stores_the_count(shop):
    segment = segment_create(name="s", expression="辅食")
    Segment.objects.filter(pk=segment.pk).update(last_count=None, counted_at=None)

    response = client(shop.ops).post(f"{URL}{segment.pk}/recount/")
    assert response.status_code == 200 and response.json()["last_count"] == 2
    assert Segment.objects.get().last_count == 2


def test_members_a_page_at_a_time(shop):
    segment = segment_create(name="s", expression="NOT 已流失")
    api = client(shop.ops)

    first = api.get(f"{URL}{segment.pk}/members/", {"limit": 3}).json()
    assert names(first["results"]) == ["Anonymous", "赵敏", "李雷"]
    second = api.get(f"{URL}{segment.pk}/members/", {"limit": 3, "before": first["next_before"]}).json()
    assert (names(second["results"]), second["next_before"]) == (["王芳"], None)
    sales = client(shop.sales).get(f"{URL}{segment.pk}/members/").json()
    assert names(sales["results"]) == ["李雷", "王芳"]


# ---- the customer list's ?segment= ------------------------------------------------------------------------------


def test_the_customer_list_filters_by_segment(shop):
    response = client(shop.ops).get("/api/customers/", {"segment": "(奶粉 OR 辅食) NOT 已流失"})

    assert response.status_code == 200, response.content
    assert names(response.json()["results"]) == ["Anonymous", "李雷", "王芳"]
    sales = client(shop.sales).get("/api/customers/", {"segment": "(奶粉 OR 辅食) NOT 已流失", "q": "王"})
    assert names(sales.json()["results"]) == ["王芳"]


def test_a_bad_segment_on_the_customer_list_is_a_400_naming_segment(shop):
    response = client(shop.ops).get("/api/customers/", {"segment": "奶粉 AND (辅食"})

    assert response.status_code == 400
    assert response.json()["fields"] == {"segment": ["Expected “)” at position 10 to close the “(” at position 7"]}


def test_the_schema_documents_the_segment_filter(shop):
    schema = client(shop.ops).get("/api/schema/", {"format": "json"}).json()

    parameters = schema["paths"]["/api/customers/"]["get"]["parameters"]
    assert "segment" in [parameter["name"] for parameter in parameters]
    assert "/api/tagging/segments/preview/" in schema["paths"]
