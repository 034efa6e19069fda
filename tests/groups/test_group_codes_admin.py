"""Group live codes in the admin: ops add a code with its groups inline, see member counts, full groups, the
permanent QR and WeCom's, and pause, resume or push again; refused input shows on its field and writes nothing;
sales only look."""

import pytest
from django.conf import settings

from groups.models import CustomerGroup, GroupCode, GroupCodeGroup
from scrm.core.roles import SALES
from tests.groups.group_code_fixtures import (  # noqa: F401 - fixtures
    ADD,
    DELETE,
    code_groups,
    code_tags_fixture,
    eager_fixture,
    fresh,
    load,
    make_code,
    sim_fixture,
    sim_group,
    way,
    wecom_calls,
)
from tests.groups.qr_reading import decode, png_modules

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

ADMIN = "/admin/groups/groupcode/"


@pytest.fixture(name="admin_client")
def admin_client_fixture(ops_client):
    ops_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return ops_client


@pytest.fixture(name="groups")
def groups_fixture(sim) -> list[CustomerGroup]:
    return load(sim_group(sim, "一群", members=3), sim_group(sim, "二群"))


def form_data(groups, **values) -> dict:
    data = {
        "name": "门店群活码",
        "state": "",
        "threshold": "3",
        "auto_create_room": "on",
        "room_base_name": "门店新群",
        "room_base_id": "1",
        "remark": "",
        "welcome_text": "",
        "welcome_attachments": "[]",
        "code_groups-TOTAL_FORMS": str(len(groups)),
        "code_groups-INITIAL_FORMS": "0",
        "code_groups-MIN_NUM_FORMS": "0",
        "code_groups-MAX_NUM_FORMS": "1000",
    }
    for n, (group, position) in enumerate(groups):
        data[f"code_groups-{n}-group"] = str(group.pk)
        data[f"code_groups-{n}-position"] = str(position)
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


def test_ops_add_a_code_with_its_groups_in_order(
    sim, admin_client, groups, code_tags, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"{ADMIN}add/",
            form_data([(groups[1], 0), (groups[0], 1)], tag_ids=[str(code_tags["门店群"].pk)]),
        )

    assert response.status_code == 302, response.context["adminform"].form.errors
    code = GroupCode.objects.get()
    assert code.state.startswith("gc-") and code.tag_ids == [code_tags["门店群"].pk]
    # 一群 already has 3 members: full at once; 二群 takes the joiners.
    assert code_groups(code) == [(groups[1].chat_id, False, False), (groups[0].chat_id, True, False)]
    assert way(sim, code)["chat_id_list"] == [groups[1].chat_id]


def test_the_change_page_shows_groups_and_both_qr_codes(sim, admin_client, groups, django_capture_on_commit_callbacks):
    code = make_code(django_capture_on_commit_callbacks, groups, threshold=3)

    body = admin_client.get(f"{ADMIN}{code.pk}/change/").content.decode()

    assert f"http://testserver/g/{code.public_token}/" in body
    assert f"{ADMIN}{code.pk}/qr.svg?inline=1" in body and f"{ADMIN}{code.pk}/qr.png" in body
    assert code.qr_code_url in body
    assert "1 / 2" in admin_client.get(ADMIN).content.decode()  # groups with room
    png = admin_client.get(f"{ADMIN}{code.pk}/qr.png")
    assert png["Content-Type"] == "image/png"
    assert decode(png_modules(png.content, scale=10, border=4)) == f"http://testserver/g/{code.public_token}/"


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"threshold": "300"}, "threshold", "From 1 to 200"),
        ({"room_base_name": "群" * 41}, "room_base_name", "at most 40"),
        ({"welcome_attachments": '[{"msgtype": "voice"}]'}, "welcome_attachments", "msgtype must be one of"),
    ],
)
def test_refused_input_shows_on_its_field_and_writes_nothing(sim, admin_client, groups, values, field, message):
    response = admin_client.post(f"{ADMIN}add/", form_data([(groups[1], 0)], **values))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert message in errors[field][0]
    assert (GroupCode.objects.count(), wecom_calls(sim)) == (0, 0)


def test_a_dismissed_group_or_none_is_refused_in_the_inline(sim, admin_client, groups):
    CustomerGroup.objects.filter(pk=groups[1].pk).update(status="dismissed", dismissed_at="2024-03-01T00:00:00Z")

    dismissed = admin_client.post(f"{ADMIN}add/", form_data([(groups[1], 0)]))
    empty = admin_client.post(f"{ADMIN}add/", form_data([]))

    assert "is dismissed" in str(dismissed.context["inline_admin_formsets"][0].formset.non_form_errors())
    assert "at least one customer group" in str(empty.context["inline_admin_formsets"][0].formset.non_form_errors())
    assert (GroupCode.objects.count(), GroupCodeGroup.objects.count(), wecom_calls(sim)) == (0, 0, 0)


def test_edit_reorders_groups_and_actions_pause_resume_push(
    sim, admin_client, groups, django_capture_on_commit_callbacks
):
    code = make_code(django_capture_on_commit_callbacks, groups, threshold=10)
    data = form_data([(groups[1], 0), (groups[0], 1)], state=code.state, threshold="10")
    rows = {row.group_id: row.pk for row in code.code_groups.all()}
    data.update({"code_groups-INITIAL_FORMS": "2", "code_groups-0-id": rows[groups[1].pk]})
    data.update({"code_groups-1-id": rows[groups[0].pk], "code_groups-0-code": code.pk, "code_groups-1-code": code.pk})

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{ADMIN}{code.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert way(sim, code)["chat_id_list"] == [groups[1].chat_id, groups[0].chat_id]

    for action, status in (("pause_codes", "paused"), ("resume_codes", "open"), ("push_again", "open")):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(ADMIN, {"action": action, "_selected_action": [code.pk]})
        assert (fresh(code).status, fresh(code).wecom_sync) == (status, "synced")
    assert (len(sim.requests_to(ADD)), len(sim.requests_to(DELETE))) == (2, 1)


def test_sales_only_look(sim, client, make_user, groups, django_capture_on_commit_callbacks):
    code = make_code(django_capture_on_commit_callbacks, groups)
    client.force_login(make_user("sales1", role=SALES, is_staff=True))
    calls = wecom_calls(sim)

    page = client.get(f"{ADMIN}{code.pk}/change/")
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert client.get(f"{ADMIN}{code.pk}/qr.svg").status_code == 200
    assert client.post(ADMIN, {"action": "pause_codes", "_selected_action": [code.pk]}).status_code in (200, 302)
    assert client.post(f"{ADMIN}{code.pk}/delete/", {"post": "yes"}).status_code == 403
    assert (fresh(code).status, GroupCode.objects.count(), wecom_calls(sim)) == ("open", 1, calls)
