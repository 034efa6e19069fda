# ruff: noqa: F811 - pytest fixtures imported from channel_code_fixtures are test arguments of the same name
"""The channel codes admin: a code and its employees saved together through the service (and sent to WeCom),
only usable tags offered, refusals on their fields with nothing saved, WeCom's status, error and QR link, the
figures, the warning when the rota is full without a backup, the actions; the adds read-only; sales look only."""

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from groups.models import ChannelCode, ChannelCodeAdd, WeComSync
from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES
from tests.groups.channel_code_fixtures import (  # noqa: F401 - fixtures
    ADD,
    DELETE,
    bodies,
    callback_crypto,
    code_tags,
    eager,
    fresh,
    make_code,
    sim,
    wecom_configured,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

LIST = "/admin/groups/channelcode/"
ADD_PAGE = f"{LIST}add/"


@pytest.fixture
def admin_ops(client, make_user, settings):
    user = make_user("ops1", role=OPS, is_staff=True)
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    client.user = user
    return client


def form_data(members, code: ChannelCode | None = None, **fields) -> dict:
    data = {
        "name": "静安店",
        "state": "",
        "skip_verify": "on",
        "welcome_text": "欢迎",
        "welcome_attachments": "[]",
        "remark": "",
        "members-TOTAL_FORMS": str(len(members)),
        "members-INITIAL_FORMS": str(len([m for m in members if m.get("id")])),
        "members-MIN_NUM_FORMS": "0",
        "members-MAX_NUM_FORMS": "1000",
        **fields,
    }
    for n, member in enumerate(members):
        data.update(
            {
                f"members-{n}-userid": member.get("userid", ""),
                f"members-{n}-role": member.get("role", "primary"),
                f"members-{n}-daily_limit": member.get("daily_limit", ""),
                f"members-{n}-position": member.get("position", n),
                f"members-{n}-id": member.get("id", ""),
                f"members-{n}-code": code.pk if code else "",
            }
        )
        if member.get("DELETE"):
            data[f"members-{n}-DELETE"] = "on"
    return data


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_adding_a_code_with_its_employees_goes_through_the_service(
    sim, admin_ops, code_tags, django_capture_on_commit_callbacks
):
    data = form_data(
        [{"userid": "zhangsan", "daily_limit": "20"}, {"userid": "wangwu", "role": "backup"}],
        tag_ids=[code_tags["门店"].pk],
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_ops.post(ADD_PAGE, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    code = ChannelCode.objects.get()
    assert code.state.startswith("cc-") and code.tag_ids == [code_tags["门店"].pk]
    assert list(code.members.values_list("userid", "role", "daily_limit")) == [
        ("zhangsan", "primary", 20),
        ("wangwu", "backup", None),
    ]
    assert (code.wecom_sync, code.created_by_id) == (WeComSync.SYNCED, admin_ops.user.pk)
    assert [(b["type"], b["user"]) for b in bodies(sim, ADD)] == [(1, ["zhangsan"])]
    assert AuditLog.objects.filter(action="create").count() == 1


def test_editing_members_in_the_inline(sim, admin_ops, django_capture_on_commit_callbacks):
    code = make_code(admin_ops.user, django_capture_on_commit_callbacks, state="edit-me")
    zhangsan, lisi = code.members.order_by("position")
    data = form_data(
        [
            {"userid": "zhangsan", "id": zhangsan.pk, "DELETE": True},
            {"userid": "lisi", "id": lisi.pk, "daily_limit": "3"},
            {"userid": "chenqi", "position": 2},
        ],
        code=code,
        name=code.name,
        state="edit-me",
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_ops.post(f"{LIST}{code.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    code = fresh(code)
    assert list(code.members.values_list("userid", "daily_limit")) == [("lisi", 3), ("chenqi", None)]
    assert code.wecom_users == ["lisi", "chenqi"]


def test_the_form_offers_only_tags_a_code_may_put_on_customers(sim, admin_ops, code_tags):
    form = admin_ops.get(ADD_PAGE).context["adminform"].form

    offered = {label for _value, label in form.fields["tag_ids"].choices}
    assert offered == {"渠道/门店", "渠道/地推"}


@pytest.mark.parametrize(
    ("members", "fields", "where", "message"),
    [
        ([{"userid": "nobody"}], {}, "members", "No employee “nobody”"),
        ([{"userid": "lisi", "role": "backup"}], {}, "members", "Put at least one employee in the rota."),
        ([{"userid": "lisi"}, {"userid": "lisi"}], {}, "members", "“lisi” is listed twice."),
        ([{"userid": "lisi"}], {"state": "taken"}, "state", "Another channel code already uses this state."),
        ([{"userid": "lisi"}], {"welcome_attachments": '[{"msgtype": "voice"}]'}, "welcome_attachments", "voice"),
    ],
)
def test_a_refusal_shows_on_its_field_and_saves_nothing(
    sim, admin_ops, django_capture_on_commit_callbacks, members, fields, where, message
):
    make_code(admin_ops.user, django_capture_on_commit_callbacks, state="taken")
    sim.requests.clear()

    response = admin_ops.post(ADD_PAGE, form_data(members, **fields))

    assert response.status_code == 200
    if where == "members":
        errors = " ".join(response.context["inline_admin_formsets"][0].formset.non_form_errors())
    else:
        errors = " ".join(response.context["adminform"].form.errors[where])
    assert message in errors
    assert (ChannelCode.objects.count(), sim.requests) == (1, [])


def test_the_list_and_change_page_show_wecom_figures_and_the_full_rota_warning(
    sim, admin_ops, django_capture_on_commit_callbacks
):
    code = make_code(
        admin_ops.user,
        django_capture_on_commit_callbacks,
        name="满员码",
        members=[{"userid": "zhangsan", "daily_limit": 1}],
    )
    ChannelCodeAdd.objects.create(code=code, userid="zhangsan", external_userid="wm1", added_at=timezone.now())
    ChannelCode.objects.filter(pk=code.pk).update(wecom_sync=WeComSync.FAILED, wecom_error="WeCom refused: reason X")

    listing = admin_ops.get(LIST)
    page = admin_ops.get(f"{LIST}{code.pk}/change/")

    assert listing.status_code == page.status_code == 200
    text = listing.content.decode()
    assert code.qr_code_url in text and 'class="field-adds_today">1<' in text
    assert any("满员码: Everyone in the rota has reached today's add limit" in m for m in messages_of(listing))
    body = page.content.decode()
    assert "WeCom refused: reason X" in body and "there is no backup" in body
    assert "WeCom refused: reason X" in messages_of(page)


def test_actions_push_again_deactivate_and_delete(sim, admin_ops, django_capture_on_commit_callbacks):
    code = make_code(admin_ops.user, django_capture_on_commit_callbacks)
    config_id = code.config_id

    with django_capture_on_commit_callbacks(execute=True):
        pushed = admin_ops.post(LIST, {"action": "push_again", "_selected_action": [code.pk]}, follow=True)
    assert "1 code is being sent to WeCom." in messages_of(pushed)

    with django_capture_on_commit_callbacks(execute=True):
        stopped = admin_ops.post(LIST, {"action": "deactivate_codes", "_selected_action": [code.pk]}, follow=True)
    assert "1 code deactivated." in messages_of(stopped)
    assert fresh(code).is_active is False and bodies(sim, DELETE) == [{"config_id": config_id}]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_ops.post(f"{LIST}{code.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert ChannelCode.objects.count() == 0
    assert AuditLog.objects.filter(action="delete", target_id=str(code.pk)).count() == 1


def test_the_adds_are_read_only_with_filters(sim, admin_ops, django_capture_on_commit_callbacks):
    code = make_code(admin_ops.user, django_capture_on_commit_callbacks)
    add = ChannelCodeAdd.objects.create(code=code, userid="lisi", external_userid="wm9", added_at=timezone.now())

    listing = admin_ops.get("/admin/groups/channelcodeadd/", {"welcome__exact": "none", "code__id__exact": code.pk})

    assert listing.status_code == 200 and "wm9" in listing.content.decode()
    assert admin_ops.get("/admin/groups/channelcodeadd/add/").status_code == 403
    assert admin_ops.post(f"/admin/groups/channelcodeadd/{add.pk}/delete/", {"post": "yes"}).status_code == 403


def test_sales_may_look_but_not_change(sim, client, make_user, django_capture_on_commit_callbacks):
    code = make_code(make_user("ops2", role=OPS), django_capture_on_commit_callbacks)
    client.force_login(make_user("sales1", role=SALES, is_staff=True))
    sim.requests.clear()

    assert client.get(LIST).status_code == 200
    assert client.get(f"{LIST}{code.pk}/change/").status_code == 200
    assert client.post(f"{LIST}{code.pk}/change/", form_data([{"userid": "lisi"}], code=code)).status_code == 403
    client.post(LIST, {"action": "deactivate_codes", "_selected_action": [code.pk]})
    assert (fresh(code).is_active, sim.requests) == (True, [])
