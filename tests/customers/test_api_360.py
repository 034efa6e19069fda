"""The customer 360 view (profile, contacts and relations, tags, groups, stage history, orders, timeline head) at
a fixed query count, and the timeline's keyset pages."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from customers.models import Customer, ExternalContact, Lifecycle, OpportunityStage, TimelineEntry
from customers.profile import register_profile_section
from customers.services.identity import customer_merge
from customers.services.orders import order_record
from customers.services.stages import lifecycle_set, opportunity_stage_set
from customers.services.timeline import timeline_add
from customers.services.wecom import external_contact_upsert_from_wecom, follow_relation_upsert
from groups.services import group_upsert_from_wecom
from tagging.services import corp_tags_upsert_from_wecom
from tests.customers.api_fixtures import T0, contact_customer, corp_fixture  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def tags():
    corp_tags_upsert_from_wecom(
        tag_groups=[
            {
                "group_id": "gLevel",
                "group_name": "客户等级",
                "order": 2,
                "tag": [{"id": "tVip", "name": "VIP", "order": 2}, {"id": "tNormal", "name": "普通", "order": 1}],
            },
            {
                "group_id": "gSource",
                "group_name": "来源",
                "order": 1,
                "tag": [{"id": "tShop", "name": "门店", "order": 1}],
            },
        ]
    )


def add_contact(customer: Customer, external_userid: str, *, userid: str, **follow) -> None:
    """A WeCom contact followed by ``userid``, merged into ``customer`` (as a bound remark mobile would)."""
    follow_relation_upsert(userid=userid, external_userid=external_userid, at=T0, **follow)
    customer_merge(into=customer, other=contact_customer(external_userid))


def add_group(chat_id: str, name: str, member_ids: list[str]) -> None:
    group_upsert_from_wecom(
        detail={
            "chat_id": chat_id,
            "name": name,
            "owner": "zhangsan",
            "member_list": [
                {"userid": member_id, "type": 2, "join_time": int(T0.timestamp()) + n, "join_scene": 3}
                for n, member_id in enumerate(member_ids)
            ],
        },
        at=T0,
    )


def add_history(customer: Customer, *, entries: int, orders: int, stage_moves: int) -> None:
    for n in range(entries):
        timeline_add(
            customer=customer,
            kind=TimelineEntry.Kind.CALL,
            channel=TimelineEntry.Channel.PHONE,
            occurred_at=T0 + timedelta(minutes=n),
            source_key=f"call:{customer.pk}:{n}",
            summary=f"call {n}",
        )
    for n in range(orders):
        order_record(
            customer=customer, external_id=f"o-{customer.pk}-{n}", amount="100.00", ordered_at=T0 + timedelta(days=n)
        )
    for n in range(stage_moves):
        lifecycle_set(customer=customer, stage=[Lifecycle.TRIAL, Lifecycle.AWARENESS][n % 2], actor=None)


def test_360_shows_everything_about_the_customer(corp, tags):
    customer = corp.followed
    add_contact(customer, "wmSecond", userid="lisi", remark="李雷 (店)", wecom_tag_ids=["tShop", "tVip"])
    follow_relation_upsert(userid="zhangsan", external_userid="wmFollowed", at=T0, wecom_tag_ids=["tVip", "tGone"])
    add_group("chatA", "门店福利群", ["wmFollowed", "zhangsan"])
    add_group("chatB", "新品群", ["wmSecond"])
    opportunity_stage_set(customer=customer, stage=OpportunityStage.objects.get(name="谈判"), actor=corp.ops)
    add_history(customer, entries=25, orders=2, stage_moves=0)

    response = corp.client(corp.sales).get(f"/api/customers/{customer.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"profile", "contacts", "tags", "groups", "stage_history", "orders", "timeline"}
    profile = body["profile"]
    assert (profile["name"], profile["phone_masked"], profile["owner"]["userid"], profile["origin"]) == (
        "李雷",
        "139****1111",
        "lisi",
        "wecom",
    )
    assert (profile["opportunity_stage"]["name"], profile["lifecycle_stage"], profile["tier"]) == (
        "谈判",
        "repurchase",
        None,  # 200 spent, VIP starts at 500
    )
    assert (profile["total_spend"], profile["order_count"], profile["marketing_opt_out"]) == ("200.00", 2, False)
    assert datetime.fromisoformat(profile["last_contact_at"]) == T0 + timedelta(minutes=24)
    relations = [
        (c["external_userid"], [(r["employee"]["userid"], r["status"]) for r in c["relations"]])
        for c in body["contacts"]
    ]
    assert relations == [("wmFollowed", [("zhangsan", "active")]), ("wmSecond", [("lisi", "active")])]
    assert body["contacts"][0]["relations"][0]["state"] == "shop-1"
    assert body["contacts"][1]["relations"][0]["remark"] == "李雷 (店)"
    # the customer's tags: here, what its contacts' relations show in WeCom (the merge brought wmSecond's along)
    assert [
        (t["name"], t["wecom_tag_id"], t["kind"], t["group_name"], t["source"], t["actor"]) for t in body["tags"]
    ] == [
        ("VIP", "tVip", "corp", "客户等级", "wecom", None),
        ("门店", "tShop", "corp", "来源", "wecom", None),
        ("tGone", "tGone", "corp", "", "wecom", None),  # not listed by WeCom's tag list yet: named by its id
    ]
    assert [(g["chat_id"], g["name"], g["member_id"], g["member_count"]) for g in body["groups"]] == [
        ("chatB", "新品群", "wmSecond", 1),
        ("chatA", "门店福利群", "wmFollowed", 2),
    ]
    assert [(h["pipeline"], h["to_value"], h["actor"]) for h in body["stage_history"]] == [
        ("lifecycle", "repurchase", None),
        ("lifecycle", "conversion", None),
        ("opportunity", "谈判", "ops1"),
    ]
    assert [(o["external_id"], o["amount"]) for o in body["orders"]] == [
        (f"o-{customer.pk}-1", "100.00"),
        (f"o-{customer.pk}-0", "100.00"),
    ]
    assert len(body["timeline"]["results"]) == 20
    assert body["timeline"]["next_cursor"]
    newest = TimelineEntry.objects.filter(customer=customer).order_by("-occurred_at", "-id")
    assert [e["id"] for e in body["timeline"]["results"]] == [e.pk for e in newest[:20]]


def test_360_of_a_bare_customer(corp):
    body = corp.client(corp.ops).get(f"/api/customers/{corp.nophone.pk}/").json()

    assert body["profile"]["phone_masked"] == ""
    assert body["profile"]["owner"] is None
    assert (body["contacts"], body["tags"], body["groups"], body["stage_history"], body["orders"]) == ([],) * 5
    assert body["timeline"] == {"results": [], "next_cursor": None}


def test_360_lists_a_contact_nobody_follows_with_no_relations(corp):
    external_contact_upsert_from_wecom(detail={"external_contact": {"external_userid": "wmLonely", "name": "Lonely"}})
    customer = contact_customer("wmLonely")

    body = corp.client(corp.ops).get(f"/api/customers/{customer.pk}/").json()

    assert [(c["external_userid"], c["name"], c["relations"]) for c in body["contacts"]] == [("wmLonely", "Lonely", [])]
    assert (body["tags"], body["groups"]) == ([], [])


def test_360_shows_the_referrer_masked(corp):
    Customer.objects.filter(pk=corp.owned.pk).update(referred_by=corp.foreign)

    profile = corp.client(corp.ops).get(f"/api/customers/{corp.owned.pk}/").json()["profile"]

    assert profile["referred_by"] == {"id": corp.foreign.pk, "name": "赵敏", "phone_masked": "137****2222"}


def test_360_takes_a_fixed_number_of_queries_whatever_the_size(corp, tags, django_assert_num_queries):
    small, big = corp.owned, corp.followed
    add_contact(small, "wmSmall", userid="lisi", wecom_tag_ids=["tVip"])
    add_group("chatS", "small", ["wmSmall"])
    add_history(small, entries=1, orders=1, stage_moves=1)
    for n in range(6):
        add_contact(big, f"wmBig{n}", userid=["zhangsan", "lisi"][n % 2], wecom_tag_ids=["tVip", "tShop", "tNormal"])
        add_group(f"chatB{n}", f"big {n}", [f"wmBig{n}", "wmFollowed"])
    add_history(big, entries=60, orders=15, stage_moves=30)
    client = Client()
    client.force_login(corp.ops)
    client.get(f"/api/customers/{small.pk}/")  # warm: content types, translations

    # session, user, the user's and their groups' permissions; customer; contacts with relations; tags; groups;
    # stage history; orders; timeline head
    for customer in (small, big):
        with django_assert_num_queries(11):
            body = client.get(f"/api/customers/{customer.pk}/").json()
        assert body["contacts"] and body["tags"] and body["groups"]
    assert (len(body["contacts"]), len(body["stage_history"]), len(body["orders"])) == (7, 20, 10)


def test_a_registered_section_appears_in_the_360_view(corp):
    register_profile_section("contact_count", lambda customer, contacts: len(contacts))
    try:
        body = corp.client(corp.ops).get(f"/api/customers/{corp.followed.pk}/").json()
    finally:
        from customers.profile import _sections

        _sections.pop("contact_count")

    assert body["contact_count"] == 1


def test_a_section_may_not_shadow_the_view_s_own_keys():
    with pytest.raises(ValueError):
        register_profile_section("profile", lambda customer, contacts: None)


# ---- timeline pages ---------------------------------------------------------------------------------------------


def test_timeline_pages_walk_every_entry_once_even_with_equal_timestamps(corp):
    customer = corp.owned
    for n in range(47):
        timeline_add(
            customer=customer,
            kind=TimelineEntry.Kind.SMS,
            channel=TimelineEntry.Channel.SMS,
            occurred_at=T0 + timedelta(minutes=n // 4),  # four entries share each minute
            source_key=f"sms:{n}",
        )
    client = corp.client(corp.sales)

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
        body = client.get(f"/api/customers/{customer.pk}/timeline/", params).json()
        seen += [entry["id"] for entry in body["results"]]
        pages += 1
        if not (cursor := body["next_cursor"]):
            break

    assert pages == 5
    expected = TimelineEntry.objects.filter(customer=customer).order_by("-occurred_at", "-id")
    assert seen == [entry.pk for entry in expected]
    assert len(set(seen)) == 47


def test_timeline_continues_from_the_360_head(corp):
    add_history(corp.owned, entries=30, orders=0, stage_moves=0)
    client = corp.client(corp.ops)

    head = client.get(f"/api/customers/{corp.owned.pk}/").json()["timeline"]
    rest = client.get(f"/api/customers/{corp.owned.pk}/timeline/", {"cursor": head["next_cursor"]}).json()

    assert [e["summary"] for e in head["results"] + rest["results"]] == [f"call {n}" for n in range(29, -1, -1)]
    assert rest["next_cursor"] is None


def test_timeline_entry_shape(corp):
    timeline_add(
        customer=corp.owned,
        kind=TimelineEntry.Kind.CALL,
        channel=TimelineEntry.Channel.PHONE,
        occurred_at=T0,
        source_key="call:x",
        employee=corp.zhangsan,
        summary="called back",
        content="about the order",
        data={"duration": 42},
    )

    entry = corp.client(corp.ops).get(f"/api/customers/{corp.owned.pk}/timeline/").json()["results"][0]

    assert entry == {
        "id": entry["id"],
        "kind": "call",
        "channel": "phone",
        "occurred_at": "2024-03-01T17:00:00+08:00",  # the API speaks TIME_ZONE (Asia/Shanghai)
        "employee": {"id": corp.zhangsan.pk, "userid": "zhangsan", "name": "Zhang San"},
        "summary": "called back",
        "content": "about the order",
        "data": {"duration": 42},
    }


@pytest.mark.parametrize(
    "params, field",
    [
        ({"cursor": "garbage"}, "cursor"),
        ({"cursor": "MjAyNC0wMy0wMXwx"}, "cursor"),  # "2024-03-01|1": no time zone
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
def test_timeline_refuses_a_bad_cursor_or_limit(corp, params, field):
    response = corp.client(corp.ops).get(f"/api/customers/{corp.owned.pk}/timeline/", params)

    assert response.status_code == 400
    assert list(response.json()["fields"]) == [field]


def test_spend_shown_is_the_sum_of_the_orders(corp):
    for n, amount in enumerate(["120.50", "380.00", "99.99"]):
        order_record(customer=corp.owned, external_id=f"o-{n}", amount=amount, ordered_at=T0 + timedelta(days=n))

    profile = corp.client(corp.ops).get(f"/api/customers/{corp.owned.pk}/").json()["profile"]

    assert Decimal(profile["total_spend"]) == Decimal("600.49")
    assert profile["order_count"] == 3
    assert profile["tier"]["name"] == "VIP"
    assert ExternalContact.objects.filter(customer=corp.owned).count() == 0
