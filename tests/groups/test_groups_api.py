"""The customer groups API: the list and its filters (owner, status, tag, bot, name), one group with its members,
and a customer's groups, which sales see only for customers they may see. Read-only, for sales and ops."""

from datetime import UTC, datetime, timedelta

import pytest
from rest_framework.test import APIClient

from customers.models import Employee, ExternalContact
from customers.services.identity import customer_create
from customers.services.wecom import follow_relation_upsert
from groups.services import group_dismiss, group_members_joined, group_members_left, group_update_fields
from tagging.models import Source, Tag, TagGroup, TagKind, TagTarget
from tagging.services.assignments import group_tags_change
from tests.groups.bot_fixtures import corp_fixture, make_bot  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
GROUPS = "/api/groups/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def shop(corp):
    """Three groups: two of zhangsan's (one tagged 宝妈群, run by bot01), one of lisi's, dismissed."""
    mums = group_update_fields(chat_id="wrMums", name="宝妈一群", owner_userid="zhangsan")
    group_members_joined(chat_id="wrMums", member_ids=["zhangsan", "wmA", "wmB"], join_scene=3, at=T0)
    group_members_left(chat_id="wrMums", member_ids=["wmB"], quit_scene=0, at=T0 + timedelta(hours=1))
    deals = group_update_fields(chat_id="wrDeals", name="福利群", owner_userid="zhangsan")
    group_members_joined(chat_id="wrDeals", member_ids=["wmA"], join_scene=1, at=T0 + timedelta(hours=2))
    old = group_update_fields(chat_id="wrOld", name="旧群", owner_userid="lisi")
    group_members_joined(chat_id="wrOld", member_ids=["wmC"], join_scene=3, at=T0)
    group_dismiss(chat_id="wrOld", at=T0 + timedelta(days=1))
    chats = TagGroup.objects.create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP)
    tag = Tag.objects.create(name="宝妈群", group=chats, kind=TagKind.SYSTEM)
    group_tags_change(group_ids=[mums.pk], add=[tag.pk], source=Source.MANUAL)
    bot = make_bot("bot01", groups=[mums])
    return {"mums": mums, "deals": deals, "old": old, "tag": tag, "bot": bot}


def chat_ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["chat_id"] for row in response.json()["results"]]


def test_list_and_filters(corp, shop):
    ops = client_for(corp.ops)

    assert chat_ids(ops.get(GROUPS)) == ["wrOld", "wrDeals", "wrMums"]
    assert chat_ids(ops.get(GROUPS, {"owner_userid": "zhangsan"})) == ["wrDeals", "wrMums"]
    assert chat_ids(ops.get(GROUPS, {"status": "dismissed"})) == ["wrOld"]
    assert chat_ids(ops.get(GROUPS, {"tag": shop["tag"].pk})) == ["wrMums"]
    assert chat_ids(ops.get(GROUPS, {"bot": shop["bot"].pk})) == ["wrMums"]
    assert chat_ids(ops.get(GROUPS, {"bot": "none", "status": "normal"})) == ["wrDeals"]
    assert chat_ids(ops.get(GROUPS, {"q": "宝妈"})) == ["wrMums"]
    assert chat_ids(ops.get(GROUPS, {"q": "wrDeals"})) == ["wrDeals"]
    assert chat_ids(ops.get(GROUPS, {"page_size": 1, "page": 2})) == ["wrDeals"]

    row = ops.get(GROUPS, {"bot": shop["bot"].pk}).json()["results"][0]
    assert (row["member_count"], row["tag_ids"], row["bot"]) == (
        2,
        [shop["tag"].pk],
        {"id": shop["bot"].pk, "userid": "bot01", "name": ""},
    )
    bad = ops.get(GROUPS, {"status": "gone", "bot": "x"})
    assert (bad.status_code, sorted(bad.json()["fields"])) == (400, ["bot", "status"])


def test_the_list_is_two_queries_whatever_the_page(corp, shop, django_assert_num_queries):
    ops = client_for(corp.ops)
    ops.get(GROUPS)  # the session and permissions, cached on the user

    with django_assert_num_queries(2):  # the count, the page with each group's bot
        assert len(chat_ids(ops.get(GROUPS))) == 3


def test_detail_with_current_members_or_everyone(corp, shop):
    ops = client_for(corp.ops)

    detail = ops.get(f"{GROUPS}{shop['mums'].pk}/").json()
    assert (detail["name"], detail["owner_userid"], detail["bot"]["userid"]) == ("宝妈一群", "zhangsan", "bot01")
    assert [(m["member_id"], m["in_group"]) for m in detail["members"]] == [("zhangsan", True), ("wmA", True)]
    everyone = ops.get(f"{GROUPS}{shop['mums'].pk}/", {"include_left": 1}).json()["members"]
    assert sorted((m["member_id"], m["in_group"]) for m in everyone) == [
        ("wmA", True),
        ("wmB", False),
        ("zhangsan", True),
    ]
    assert ops.get(f"{GROUPS}{shop['deals'].pk}/").json()["bot"] is None
    assert ops.get(f"{GROUPS}999999/").status_code == 404


def test_a_customers_groups_for_those_who_may_see_the_customer(corp, shop, make_user):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA", at=T0, added_at=T0)
    follow_relation_upsert(userid="lisi", external_userid="wmC", at=T0, added_at=T0)
    followed = ExternalContact.objects.get(external_userid="wmA").customer
    foreign = ExternalContact.objects.get(external_userid="wmC").customer
    stranger = customer_create(phone="13700002222", name="无群")
    sales = make_user("sales-zhangsan", role="sales")
    Employee.objects.filter(userid="zhangsan").update(user=sales)
    ops, as_sales = client_for(corp.ops), client_for(sales)

    rows = as_sales.get(f"{GROUPS}by-customer/{followed.pk}/").json()
    assert [(row["group"]["chat_id"], row["member_id"], row["join_scene"]) for row in rows] == [
        ("wrDeals", "wmA", 1),
        ("wrMums", "wmA", 3),
    ]
    assert as_sales.get(f"{GROUPS}by-customer/{foreign.pk}/").status_code == 404  # not theirs: no such customer
    assert [row["group"]["chat_id"] for row in ops.get(f"{GROUPS}by-customer/{foreign.pk}/").json()] == ["wrOld"]
    assert ops.get(f"{GROUPS}by-customer/{stranger.pk}/").json() == []
    assert ops.get(f"{GROUPS}by-customer/999999/").status_code == 404


def test_read_only_for_everyone_and_closed_to_strangers(corp, shop, make_user):
    for user in (corp.ops, corp.sales):
        client = client_for(user)
        assert client.get(GROUPS).status_code == 200
        assert client.post(GROUPS, {"name": "x"}, format="json").status_code == 405
        assert client.patch(f"{GROUPS}{shop['mums'].pk}/", {"name": "x"}, format="json").status_code == 405
    assert client_for(make_user("nobody")).get(GROUPS).status_code == 403
    assert APIClient().get(GROUPS).status_code == 401
