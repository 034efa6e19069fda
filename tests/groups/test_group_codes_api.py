"""The group live codes API: operations create, list, read, edit and delete codes with their groups nested,
push again, pause and resume; the permanent QR downloads as PNG and SVG and reads back as our URL, the same
however the groups rotate; a refused write is a 400 naming the field that wrote nothing and called nothing;
sales may read, not write."""

import pytest
from rest_framework.test import APIClient

from groups.models import CustomerGroup, GroupCode, GroupCodeGroup
from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES
from tests.groups.group_code_fixtures import (  # noqa: F401 - fixtures
    ADD,
    DELETE,
    UPDATE,
    code_tags_fixture,
    eager_fixture,
    fresh,
    load,
    sim_fixture,
    sim_group,
    way,
    wecom_calls,
)
from tests.groups.qr_reading import decode, png_modules, svg_modules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

CODES = "/api/groups/group-codes/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


@pytest.fixture(name="ops_api")
def ops_api_fixture(make_user) -> APIClient:
    return client_for(make_user("ops1", role=OPS))


@pytest.fixture(name="sales_api")
def sales_api_fixture(make_user) -> APIClient:
    return client_for(make_user("sales1", role=SALES))


@pytest.fixture(name="groups")
def groups_fixture(sim) -> list[CustomerGroup]:
    return load(*(sim_group(sim, f"门店{n}群", members=n) for n in range(1, 4)))


def test_create_read_list_edit_and_delete(sim, ops_api, groups, code_tags, django_capture_on_commit_callbacks):
    tag = code_tags["门店群"]
    with django_capture_on_commit_callbacks(execute=True):
        created = ops_api.post(
            CODES,
            {
                "name": "南京西路店群",
                "groups": [groups[2].pk, groups[0].pk],
                "threshold": 150,
                "room_base_name": "南京西路店",
                "tag_ids": [tag.pk],
                "welcome_text": "欢迎 %NICKNAME%",
            },
            format="json",
        )
    assert created.status_code == 201, created.json()
    body = created.json()
    code = GroupCode.objects.get(pk=body["id"])
    assert [(g["chat_id"], g["member_count"], g["full"], g["position"]) for g in body["groups"]] == [
        (groups[2].chat_id, 3, False, 0),
        (groups[0].chat_id, 1, False, 1),
    ]
    assert body["public_url"] == f"http://testserver/g/{code.public_token}/"
    assert (body["status"], body["tag_ids"], body["state"]) == ("open", [tag.pk], code.state)
    assert way(sim, code)["chat_id_list"] == [groups[2].chat_id, groups[0].chat_id]
    assert fresh(code).welcome_template_id  # sent after commit

    listed = ops_api.get(CODES).json()
    assert [item["id"] for item in listed["results"]] == [code.pk]
    assert listed["results"][0]["wecom_sync"] == "synced"

    with django_capture_on_commit_callbacks(execute=True):
        edited = ops_api.patch(f"{CODES}{code.pk}/", {"groups": [groups[1].pk]}, format="json")
    assert edited.status_code == 200
    assert [g["chat_id"] for g in edited.json()["groups"]] == [groups[1].chat_id]
    assert way(sim, code)["chat_id_list"] == [groups[1].chat_id]

    with django_capture_on_commit_callbacks(execute=True):
        assert ops_api.delete(f"{CODES}{code.pk}/").status_code == 204
    assert GroupCode.objects.count() == GroupCodeGroup.objects.count() == 0
    assert len(sim.requests_to(DELETE)) == 1
    assert list(AuditLog.objects.filter(target_id=str(code.pk)).values_list("action", flat=True).order_by("pk")) == [
        "create",
        "update",
        "delete",
    ]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"threshold": 500}, "threshold", "From 1 to 200"),
        ({"groups": []}, "groups", "Choose at least one customer group."),
        ({"state": "s" * 31}, "state", ""),
        ({"room_base_name": "店" * 41}, "room_base_name", ""),
        ({"tag_ids": [987654]}, "tag_ids", ""),
        ({"groups": [987654]}, "groups", ""),
        ({"welcome_attachments": [{"msgtype": "text"}]}, "welcome_attachments", "msgtype must be one of"),
    ],
)
def test_a_refused_write_is_a_400_naming_the_field(sim, ops_api, groups, changes, field, message):
    response = ops_api.post(CODES, {"name": "码", "groups": [groups[0].pk], **changes}, format="json")

    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert message in response.json()["fields"][field][0]
    assert (GroupCode.objects.count(), AuditLog.objects.count()) == (0, 0)
    assert wecom_calls(sim) == 0


def test_a_refused_edit_changes_nothing(sim, ops_api, groups, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        code_id = ops_api.post(CODES, {"name": "码", "groups": [groups[0].pk]}, format="json").json()["id"]
    before = (list(GroupCode.objects.values()), list(GroupCodeGroup.objects.values()), wecom_calls(sim))

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = ops_api.patch(f"{CODES}{code_id}/", {"groups": [groups[1].pk], "threshold": 0}, format="json")

    assert (response.status_code, list(response.json()["fields"])) == (400, ["threshold"])
    assert callbacks == []
    assert (list(GroupCode.objects.values()), list(GroupCodeGroup.objects.values()), wecom_calls(sim)) == before


def test_push_again_pause_and_resume(sim, ops_api, groups, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        code_id = ops_api.post(CODES, {"name": "码", "groups": [groups[0].pk]}, format="json").json()["id"]

    with django_capture_on_commit_callbacks(execute=True):
        paused = ops_api.post(f"{CODES}{code_id}/pause/")
    assert (paused.status_code, paused.json()["status"], paused.json()["wecom_sync"]) == (200, "paused", "pending")
    assert GroupCode.objects.get(pk=code_id).config_id == ""  # deleted in WeCom after commit

    with django_capture_on_commit_callbacks(execute=True):
        resumed = ops_api.post(f"{CODES}{code_id}/resume/")
    with django_capture_on_commit_callbacks(execute=True):
        pushed = ops_api.post(f"{CODES}{code_id}/push/")
    assert (resumed.status_code, pushed.status_code, resumed.json()["status"]) == (200, 200, "open")
    assert GroupCode.objects.get(pk=code_id).wecom_sync == "synced"
    assert (len(sim.requests_to(ADD)), len(sim.requests_to(UPDATE)), len(sim.requests_to(DELETE))) == (2, 1, 1)


def test_sales_may_read_and_download_but_not_write(sim, sales_api, groups, django_capture_on_commit_callbacks):
    code_id = GroupCode.objects.create(name="码", state="s1").pk

    assert sales_api.get(CODES).status_code == 200
    assert sales_api.get(f"{CODES}{code_id}/qr.png").status_code == 200
    for response in (
        sales_api.post(CODES, {"name": "码", "groups": [groups[0].pk]}, format="json"),
        sales_api.patch(f"{CODES}{code_id}/", {"name": "改"}, format="json"),
        sales_api.delete(f"{CODES}{code_id}/"),
        sales_api.post(f"{CODES}{code_id}/pause/"),
        sales_api.post(f"{CODES}{code_id}/push/"),
    ):
        assert response.status_code == 403
    assert APIClient().get(f"{CODES}{code_id}/qr.svg").status_code == 401
    assert (GroupCode.objects.get().name, wecom_calls(sim)) == ("码", 0)


def test_the_permanent_qr_reads_as_our_url_and_never_changes(sim, ops_api, groups, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        code = GroupCode.objects.get(
            pk=ops_api.post(
                CODES, {"name": "码", "groups": [g.pk for g in groups], "threshold": 5}, format="json"
            ).json()["id"]
        )
    url = f"http://testserver/g/{code.public_token}/"

    png = ops_api.get(f"{CODES}{code.pk}/qr.png")
    svg = ops_api.get(f"{CODES}{code.pk}/qr.svg")

    assert (png["Content-Type"], svg["Content-Type"]) == ("image/png", "image/svg+xml")
    assert png["Content-Disposition"] == f'attachment; filename="group-code-{code.pk}.png"'
    assert decode(png_modules(png.content, scale=10, border=4)) == url
    assert decode(svg_modules(svg.content.decode(), border=4)) == url

    # The groups rotate and WeCom's join_way is made again: our QR stays byte for byte the same.
    first_wecom_qr = fresh(code).qr_code_url
    CustomerGroup.objects.filter(pk=groups[0].pk).update(member_count=5)
    sim.state.join_ways.pop(fresh(code).config_id)
    with django_capture_on_commit_callbacks(execute=True):
        from groups.tasks.group_codes import group_codes_check

        group_codes_check()
        ops_api.post(f"{CODES}{code.pk}/push/")
    assert fresh(code).qr_code_url != first_wecom_qr
    assert way(sim, code)["chat_id_list"] == [groups[1].chat_id, groups[2].chat_id]
    assert ops_api.get(f"{CODES}{code.pk}/qr.png").content == png.content
    assert ops_api.get(f"{CODES}{code.pk}/qr.svg").content == svg.content


def test_the_list_reads_in_a_fixed_number_of_queries(ops_api, groups, django_assert_max_num_queries):
    for n in range(3):
        code = GroupCode.objects.create(name=f"码{n}", state=f"s{n}")
        for position, group in enumerate(groups):
            GroupCodeGroup.objects.create(code=code, group=group, position=position)

    with django_assert_max_num_queries(6):
        assert len(ops_api.get(CODES).json()["results"]) == 3
