"""The bots API: operations create, read, edit and delete bots, assign, release and move groups, look at the
rebalance proposal and apply it; a refusal is a 400 naming the field and changes nothing; sales read only."""

import pytest
from rest_framework.test import APIClient

from groups.models import Bot, BotGroup
from scrm.core.models import AuditLog
from tests.groups.bot_fixtures import audits, corp_fixture, counts, ids, make_bot, make_groups  # noqa: F401

pytestmark = pytest.mark.django_db

BOTS = "/api/groups/bots/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def ops(corp) -> APIClient:
    return client_for(corp.ops)


@pytest.fixture
def sales(corp) -> APIClient:
    return client_for(corp.sales)


def test_create_read_list_edit_delete(ops, settings):
    settings.SOP_MAX_GROUPS_PER_BOT = 150
    created = ops.post(BOTS, {"userid": "bot01", "name": "一号机"}, format="json")
    assert created.status_code == 201
    body = created.json()
    bot_id = body["id"]
    shown = ("userid", "name", "capacity", "limit", "group_count", "free", "utilization")
    assert {key: body[key] for key in shown} == {
        "userid": "bot01",
        "name": "一号机",
        "capacity": 150,
        "limit": 150,
        "group_count": 0,
        "free": 150,
        "utilization": 0.0,
    }

    make_bot("bot02", groups=make_groups(3))
    listed = ops.get(BOTS).json()
    assert listed["count"] == 2
    assert [(row["userid"], row["group_count"], row["free"]) for row in listed["results"]] == [
        ("bot01", 0, 150),
        ("bot02", 3, 147),
    ]
    assert listed["results"][1]["utilization"] == pytest.approx(3 / 150)

    edited = ops.patch(f"{BOTS}{bot_id}/", {"capacity": 100, "note": "门店号"}, format="json")
    assert (edited.status_code, edited.json()["limit"], edited.json()["note"]) == (200, 100, "门店号")
    assert ops.get(f"{BOTS}{bot_id}/").json()["capacity"] == 100

    assert ops.delete(f"{BOTS}{bot_id}/").status_code == 204
    assert list(Bot.objects.values_list("userid", flat=True)) == ["bot02"]
    assert audits() == [
        ("create", "一号机 (bot01)"),
        ("create", "bot02"),
        ("assign_groups", "bot02"),
        ("update", "一号机 (bot01)"),
        ("delete", "一号机 (bot01)"),
    ]


def test_refused_writes_name_the_field_and_change_nothing(ops):
    bot = make_bot("bot01", capacity=5, groups=make_groups(2))
    before = AuditLog.objects.count()

    unknown = ops.post(BOTS, {"userid": "ghost"}, format="json")
    assert unknown.status_code == 400
    assert list(unknown.json()["fields"]) == ["userid"]
    too_many = ops.post(BOTS, {"userid": "bot02", "capacity": 201}, format="json")
    assert too_many.json()["fields"] == {"capacity": ["A bot may run at most 200 groups (SOP_MAX_GROUPS_PER_BOT)."]}
    below = ops.patch(f"{BOTS}{bot.pk}/", {"capacity": 1}, format="json")
    assert below.json()["fields"] == {
        "capacity": ["This bot runs 2 groups: move some away before lowering its capacity."]
    }
    running = ops.delete(f"{BOTS}{bot.pk}/")
    assert (running.status_code, list(running.json()["fields"])) == (400, ["groups"])

    assert counts() == {"bot01": (2, 2)}
    assert Bot.objects.get().capacity == 5
    assert AuditLog.objects.count() == before


def test_assign_list_release_and_move(ops):
    groups = make_groups(5)
    bot = make_bot("bot01", capacity=3)
    other = make_bot("bot02", groups=groups[4:])
    url = f"{BOTS}{bot.pk}/groups/"

    assigned = ops.post(url, {"group_ids": ids(groups[:2])}, format="json")
    assert assigned.status_code == 200
    assert (assigned.json()["changed"], assigned.json()["bot"]["group_count"], assigned.json()["bot"]["free"]) == (
        2,
        2,
        1,
    )

    listed = ops.get(url).json()
    assert [row["chat_id"] for row in listed["results"]] == ["wrG001", "wrG002"]
    assert listed["results"][0]["assigned_by"] == "ops1"

    full = ops.post(url, {"group_ids": ids(groups[2:4])}, format="json")
    assert full.status_code == 400
    assert full.json()["fields"] == {
        "group_ids": ["Bot bot01 has 1 free slot (it runs 2 of at most 3 groups), not enough for 2: nothing changed."]
    }
    assert counts() == {"bot01": (2, 2), "bot02": (1, 1)}

    released = ops.delete(url, {"group_ids": [groups[0].pk]}, format="json")
    assert (released.status_code, released.json()["changed"]) == (200, 1)
    released = ops.post(f"{url}release/", {"group_ids": [groups[1].pk]}, format="json")
    assert (released.json()["changed"], released.json()["bot"]["group_count"]) == (1, 0)
    not_ours = ops.post(f"{url}release/", {"group_ids": [groups[4].pk]}, format="json")
    assert (not_ours.status_code, list(not_ours.json()["fields"])) == (400, ["group_ids"])

    moved = ops.post(f"{url}move/", {"group_ids": [groups[4].pk], "from_bot": other.pk}, format="json")
    assert (moved.status_code, moved.json()["changed"]) == (200, 1)
    assert counts() == {"bot01": (1, 1), "bot02": (0, 0)}

    bad = ops.post(url, {"group_ids": []}, format="json")
    assert (bad.status_code, list(bad.json()["fields"])) == (400, ["group_ids"])
    assert ops.post(f"{BOTS}999999/groups/", {"group_ids": [groups[0].pk]}, format="json").status_code == 404


def test_rebalance_proposal_and_apply(ops, settings):
    settings.SOP_MAX_GROUPS_PER_BOT = 4
    make_bot("bot01", groups=make_groups(4))
    idle = make_bot("bot02")

    proposal = ops.get(f"{BOTS}rebalance/")
    assert proposal.status_code == 200
    moves = proposal.json()
    assert [(m["chat_id"], m["from_bot"], m["to_bot"], m["reason"]) for m in moves] == [
        ("wrG004", "bot01", "bot02", "above_mean"),
        ("wrG003", "bot01", "bot02", "above_mean"),
    ]
    assert counts() == {"bot01": (4, 4), "bot02": (0, 0)}  # a proposal changes nothing

    applied = ops.post(f"{BOTS}rebalance/", {"moves": moves}, format="json")
    assert applied.json() == {"moved": 2}
    assert counts() == {"bot01": (2, 2), "bot02": (2, 2)}
    assert set(BotGroup.objects.filter(bot=idle).values_list("group__chat_id", flat=True)) == {"wrG003", "wrG004"}

    back = {**moves[0], "to_bot_id": moves[0]["from_bot_id"]}
    stale = ops.post(f"{BOTS}rebalance/", {"moves": [back]}, format="json")
    assert (stale.status_code, list(stale.json()["fields"])) == (400, ["moves"])
    assert "No longer run by bot01" in stale.json()["fields"]["moves"][0]
    assert ops.post(f"{BOTS}rebalance/", {"moves": []}, format="json").status_code == 400
    assert counts() == {"bot01": (2, 2), "bot02": (2, 2)}


def test_sales_read_and_write_nothing(sales):
    groups = make_groups(2)
    bot = make_bot("bot01", groups=groups[:1])

    assert sales.get(BOTS).json()["count"] == 1
    assert sales.get(f"{BOTS}{bot.pk}/groups/").status_code == 200
    assert sales.get(f"{BOTS}rebalance/").status_code == 200
    for method, url, data in [
        ("post", BOTS, {"userid": "bot02"}),
        ("patch", f"{BOTS}{bot.pk}/", {"name": "x"}),
        ("delete", f"{BOTS}{bot.pk}/", None),
        ("post", f"{BOTS}{bot.pk}/groups/", {"group_ids": [groups[1].pk]}),
        ("delete", f"{BOTS}{bot.pk}/groups/", {"group_ids": [groups[0].pk]}),
        ("post", f"{BOTS}{bot.pk}/groups/release/", {"group_ids": [groups[0].pk]}),
        ("post", f"{BOTS}rebalance/", {"moves": [{"group_id": groups[0].pk, "to_bot_id": bot.pk}]}),
    ]:
        assert getattr(sales, method)(url, data, format="json").status_code == 403, (method, url)
    assert counts() == {"bot01": (1, 1)}
    assert APIClient().get(BOTS).status_code == 401
