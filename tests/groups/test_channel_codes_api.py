# ruff: noqa: F811 - pytest fixtures imported from channel_code_fixtures are test arguments of the same name
"""The channel codes API: operations create, list, read, edit, delete codes with their members nested, read their
figures, push again, deactivate and activate; a refused write is a 400 naming the field that wrote nothing and
called nothing; sales may read, not write."""

from datetime import date

import pytest
from rest_framework.test import APIClient

from groups.models import ChannelCode, ChannelCodeAdd, ChannelCodeMember
from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES
from tests.groups.channel_code_fixtures import (  # noqa: F401 - fixtures
    ADD,
    DELETE,
    UPDATE,
    at,
    bodies,
    callback_crypto,
    code_tags,
    eager,
    sim,
    wecom_configured,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

CODES = "/api/groups/channel-codes/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture
def ops(make_user) -> APIClient:
    return client_for(make_user("ops1", role=OPS))


@pytest.fixture
def sales(make_user) -> APIClient:
    return client_for(make_user("sales1", role=SALES))


PAYLOAD = {
    "name": "南京西路店",
    "state": "store-nj",
    "skip_verify": False,
    "welcome_text": "欢迎！",
    "welcome_attachments": [{"msgtype": "link", "link": {"title": "新人礼", "url": "https://example.com/gift"}}],
    "members": [
        {"userid": "zhangsan", "daily_limit": 30},
        {"userid": "lisi"},
        {"userid": "wangwu", "role": "backup"},
    ],
}


def create(ops, capture, **changes):
    with capture(execute=True):
        response = ops.post(CODES, {**PAYLOAD, **changes}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_create_read_list_edit_and_delete(sim, ops, code_tags, django_capture_on_commit_callbacks):
    body = create(ops, django_capture_on_commit_callbacks, tag_ids=[code_tags["门店"].pk])

    assert body["wecom_sync"] == "pending"  # answered before WeCom was told
    assert [(m["userid"], m["role"], m["daily_limit"], m["position"]) for m in body["members"]] == [
        ("zhangsan", "primary", 30, 0),
        ("lisi", "primary", None, 1),
        ("wangwu", "backup", None, 2),
    ]
    code_id = body["id"]
    read = ops.get(f"{CODES}{code_id}/").json()
    code = ChannelCode.objects.get()
    assert {
        key: read[key] for key in ("state", "skip_verify", "tag_ids", "wecom_sync", "config_id", "qr_code_url")
    } == {
        "state": "store-nj",
        "skip_verify": False,
        "tag_ids": [code_tags["门店"].pk],
        "wecom_sync": "synced",
        "config_id": code.config_id,
        "qr_code_url": code.qr_code_url,
    }
    assert read["rota"] == {
        "users": ["zhangsan", "lisi"],
        "resting": [],
        "on_backup": False,
        "full_without_backup": False,
    }
    assert (read["adds_today"], read["adds_total"], read["today_by_member"]) == (0, 0, {})
    assert bodies(sim, ADD)[0]["user"] == ["zhangsan", "lisi"]

    listed = ops.get(CODES, {"active": "true"}).json()
    assert (listed["count"], listed["results"][0]["id"]) == (1, code_id)
    assert ops.get(CODES, {"active": "false"}).json()["count"] == 0

    with django_capture_on_commit_callbacks(execute=True):
        edited = ops.patch(f"{CODES}{code_id}/", {"members": [{"userid": "lisi"}]}, format="json")
    assert edited.status_code == 200
    assert [m["userid"] for m in edited.json()["members"]] == ["lisi"]
    assert [b["user"] for b in bodies(sim, UPDATE)] == [["lisi"]]

    with django_capture_on_commit_callbacks(execute=True):
        assert ops.patch(f"{CODES}{code_id}/", {"welcome_text": "新欢迎语"}, format="json").status_code == 200
    assert len(bodies(sim, UPDATE)) == 1  # the contact way did not change

    with django_capture_on_commit_callbacks(execute=True):
        assert ops.delete(f"{CODES}{code_id}/").status_code == 204
    assert bodies(sim, DELETE) == [{"config_id": code.config_id}]
    assert ChannelCode.objects.count() == 0
    actions = AuditLog.objects.filter(target_type="groups.channelcode").order_by("pk").values_list("action", flat=True)
    assert list(actions) == ["create", "update", "update", "delete"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"state": "x" * 31}, "state", "Ensure this field has no more than 30 characters."),
        ({"members": []}, "members", "Put at least one employee in the rota."),
        ({"members": [{"userid": "nobody"}]}, "members", "No employee “nobody”: check the userid"),
        ({"members": [{"userid": "lisi", "daily_limit": 0}]}, "members.0.daily_limit", "greater than or equal to 1"),
        ({"tag_ids": [987654]}, "tag_ids", "No such tag: 987654."),
        ({"welcome_attachments": [{"msgtype": "voice"}]}, "welcome_attachments", "“voice” is not one of"),
        ({"name": ""}, "name", "This field may not be blank."),
    ],
)
def test_a_refused_write_is_a_400_naming_the_field(sim, ops, changes, field, message):
    response = ops.post(CODES, {**PAYLOAD, **changes}, format="json")

    assert response.status_code == 400
    assert message in " ".join(response.json()["fields"][field])
    assert (ChannelCode.objects.count(), ChannelCodeMember.objects.count(), sim.requests) == (0, 0, [])


def test_a_refused_edit_changes_nothing(sim, ops, django_capture_on_commit_callbacks):
    code_id = create(ops, django_capture_on_commit_callbacks)["id"]
    create(ops, django_capture_on_commit_callbacks, state="taken")
    sim.requests.clear()
    before = list(ChannelCode.objects.order_by("pk").values())

    response = ops.patch(f"{CODES}{code_id}/", {"state": "taken", "name": "改名"}, format="json")

    assert response.status_code == 400
    assert response.json()["fields"] == {"state": ["Another channel code already uses this state."]}
    assert list(ChannelCode.objects.order_by("pk").values()) == before
    assert sim.requests == []


def test_stats_for_a_range(sim, ops, django_capture_on_commit_callbacks):
    code_id = create(ops, django_capture_on_commit_callbacks)["id"]
    for n, day in enumerate((1, 1, 3)):
        ChannelCodeAdd.objects.create(
            code_id=code_id, userid="zhangsan", external_userid=f"wm{n}", added_at=at(10, day=day)
        )

    stats = ops.get(f"{CODES}{code_id}/stats/", {"from": "2024-03-01", "to": "2024-03-03"})

    assert stats.status_code == 200
    body = stats.json()
    assert (body["date_from"], body["date_to"], body["totals"]["adds"]) == ("2024-03-01", "2024-03-03", 3)
    assert [(day["date"], day["adds"]) for day in body["days"]] == [
        ("2024-03-01", 2),
        ("2024-03-02", 0),
        ("2024-03-03", 1),
    ]
    assert [(m["userid"], m["adds"]) for m in body["members"]] == [("zhangsan", 3), ("lisi", 0), ("wangwu", 0)]

    default = ops.get(f"{CODES}{code_id}/stats/").json()
    assert len(default["days"]) == 30 and date.fromisoformat(default["date_to"]) >= date(2024, 3, 3)

    for query, field in [
        ({"from": "2024-03-05", "to": "2024-03-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2024-13-01"}, "to"),
        ({"from": "2023-01-01", "to": "2024-03-01"}, "from"),
    ]:
        refused = ops.get(f"{CODES}{code_id}/stats/", query)
        assert refused.status_code == 400 and field in refused.json()["fields"], (query, refused.json())


def test_push_again_deactivate_and_activate(sim, ops, django_capture_on_commit_callbacks):
    code_id = create(ops, django_capture_on_commit_callbacks)["id"]

    with django_capture_on_commit_callbacks(execute=True):
        pushed = ops.post(f"{CODES}{code_id}/push/")
    assert pushed.status_code == 200 and pushed.json()["wecom_sync"] == "pending"
    assert len(bodies(sim, UPDATE)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        stopped = ops.post(f"{CODES}{code_id}/deactivate/")
    assert stopped.json()["is_active"] is False and len(bodies(sim, DELETE)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        started = ops.post(f"{CODES}{code_id}/activate/")
    assert started.json()["is_active"] is True and len(bodies(sim, ADD)) == 2


def test_sales_may_read_but_not_write(sim, ops, sales, django_capture_on_commit_callbacks):
    code_id = create(ops, django_capture_on_commit_callbacks)["id"]
    sim.requests.clear()

    assert sales.get(CODES).status_code == 200
    assert sales.get(f"{CODES}{code_id}/stats/").status_code == 200
    assert sales.post(CODES, PAYLOAD, format="json").status_code == 403
    assert sales.patch(f"{CODES}{code_id}/", {"name": "x"}, format="json").status_code == 403
    assert sales.delete(f"{CODES}{code_id}/").status_code == 403
    assert sales.post(f"{CODES}{code_id}/push/").status_code == 403
    assert APIClient().get(CODES).status_code in (401, 403)
    assert (ChannelCode.objects.get().name, sim.requests) == ("南京西路店", [])


def test_the_schema_documents_the_endpoints(api_client):
    paths = api_client.get("/api/schema/?format=json").json()["paths"]

    assert {
        "/api/groups/channel-codes/",
        "/api/groups/channel-codes/{id}/",
        "/api/groups/channel-codes/{id}/stats/",
        "/api/groups/channel-codes/{id}/push/",
    } <= set(paths)


def test_the_list_reads_a_fixed_number_of_queries(
    sim, ops, django_capture_on_commit_callbacks, django_assert_num_queries
):
    for n in range(3):
        create(ops, django_capture_on_commit_callbacks, state=f"s{n}")

    with django_assert_num_queries(4):  # count, codes with figures, their members, today's adds
        listed = ops.get(CODES)

    assert [len(code["members"]) for code in listed.json()["results"]] == [3, 3, 3]
