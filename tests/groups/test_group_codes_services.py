"""Group live codes: editing a code sends its join_way (and welcome template) to WeCom after commit; refused
input writes nothing and calls nothing; WeCom failures are recorded in plain words and retried."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from groups.models import ChannelCode, CustomerGroup, GroupCode, GroupCodeGroup
from groups.services.group_codes import (
    group_code_create,
    group_code_delete,
    group_code_pause,
    group_code_push_again,
    group_code_resume,
    group_code_update,
)
from groups.services.group_codes_wecom import group_code_push, group_codes_push_due
from groups.tasks.channel_codes import codes_push_due
from scrm.core.models import AuditLog
from tests.groups.group_code_fixtures import (  # noqa: F401 - fixtures
    ADD,
    DELETE,
    UPDATE,
    WELCOME_ADD,
    WELCOME_DEL,
    WELCOME_EDIT,
    code_groups,
    code_tags_fixture,
    eager_fixture,
    english_fixture,
    fresh,
    load,
    make_code,
    ops_fixture,
    sim_fixture,
    sim_group,
    way,
    wecom_calls,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]


@pytest.fixture
def chats(sim):
    return [sim_group(sim, f"门店{n}群") for n in range(1, 8)]


@pytest.fixture
def groups(chats):
    return load(*chats)


def test_a_new_code_gets_a_join_way_over_its_first_five_groups(
    sim, groups, chats, ops, django_capture_on_commit_callbacks
):
    code = make_code(django_capture_on_commit_callbacks, groups, actor=ops, threshold=150, room_base_name="门店新群")

    assert (code.wecom_sync, code.wecom_error, code.status) == ("synced", "", "open")
    assert code.state.startswith("gc-") and len(code.state) <= 30
    assert code.wecom_chat_ids == chats[:5]
    assert code.qr_code_url == way(sim, code)["qr_code"]
    joined = way(sim, code)
    assert (joined["chat_id_list"], joined["state"], joined["scene"]) == (chats[:5], code.state, 2)
    assert (joined["auto_create_room"], joined["room_base_name"], joined["room_base_id"]) == (1, "门店新群", 1)
    assert code_groups(code) == [(chat, False, False) for chat in chats]
    assert len(sim.requests_to(ADD)) == 1
    assert code.welcome_template_id == ""
    assert wecom_calls(sim, WELCOME_ADD) == 0
    assert AuditLog.objects.filter(action="create", target_id=str(code.pk), actor=ops).count() == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"groups": []}, "groups"),
        ({"state": "s" * 31}, "state"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 201}, "threshold"),
        ({"room_base_name": "群" * 41}, "room_base_name"),
        ({"name": ""}, "name"),
        ({"tag_ids": [999999]}, "tag_ids"),
        ({"welcome_text": "欢" * 1001}, "welcome_text"),
        ({"welcome_attachments": [{"msgtype": "image", "image": {"media_id": "m"}}] * 2}, "welcome_attachments"),
        ({"welcome_attachments": [{"msgtype": "voice", "voice": {"media_id": "m"}}]}, "welcome_attachments"),
        ({"welcome_attachments": [{"msgtype": "link"}]}, "welcome_attachments"),
    ],
)
def test_refused_input_writes_nothing_and_calls_nothing(
    sim, groups, code_tags, values, field, django_capture_on_commit_callbacks
):
    values = {"name": "门店群活码", "groups": groups[:2], **values}
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError) as error:
        group_code_create(actor=None, **values)

    assert field in error.value.message_dict
    assert (GroupCode.objects.count(), GroupCodeGroup.objects.count(), AuditLog.objects.count()) == (0, 0, 0)
    assert callbacks == []
    assert wecom_calls(sim) == 0


def test_personal_and_group_tags_are_refused(sim, groups, code_tags, english):
    for name in ("老客", "宝妈群"):
        with pytest.raises(ValidationError) as error:
            group_code_create(name="码", groups=groups[:1], tag_ids=[code_tags[name].pk], actor=None)
        assert list(error.value.message_dict) == ["tag_ids"]
    assert GroupCode.objects.count() == 0


def test_a_state_is_used_once_and_dismissed_groups_are_refused(
    sim, groups, english, django_capture_on_commit_callbacks
):
    make_code(django_capture_on_commit_callbacks, groups[:1], state="store-001")
    ChannelCode.objects.create(name="渠道码", state="store-002")
    calls = wecom_calls(sim)
    for state, message in (
        ("store-001", "Group live code with this Channel state already exists."),
        ("store-002", "A channel live code already uses this state."),
        ("store 003", "The state cannot contain spaces."),
    ):
        with pytest.raises(ValidationError) as error:
            group_code_create(name="另一个", groups=groups[1:2], state=state, actor=None)
        assert error.value.message_dict == {"state": [message]}

    CustomerGroup.objects.filter(pk=groups[2].pk).update(status="dismissed", dismissed_at=timezone.now())
    with pytest.raises(ValidationError) as error:
        group_code_create(name="另一个", groups=[groups[1], CustomerGroup.objects.get(pk=groups[2].pk)], actor=None)
    assert "is dismissed" in error.value.message_dict["groups"][0]
    with pytest.raises(ValidationError) as error:
        group_code_create(name="另一个", groups=[groups[1], groups[1]], actor=None)
    assert list(error.value.message_dict) == ["groups"]
    assert GroupCode.objects.count() == 1
    assert wecom_calls(sim) == calls


def test_an_edit_wecom_does_not_hold_sends_nothing(sim, groups, code_tags, django_capture_on_commit_callbacks):
    code = make_code(django_capture_on_commit_callbacks, groups[:2])
    calls = wecom_calls(sim)

    with django_capture_on_commit_callbacks(execute=True):
        changed = group_code_update(code=code, actor=None, remark="贴在收银台", tag_ids=[code_tags["门店群"].pk])
        assert group_code_update(code=code, actor=None, remark="贴在收银台") == []

    assert sorted(changed) == ["remark", "tag_ids"]
    assert fresh(code).wecom_sync == "synced"
    assert wecom_calls(sim) == calls


def test_reordered_groups_and_new_settings_go_to_wecom(sim, groups, chats, django_capture_on_commit_callbacks):
    code = make_code(django_capture_on_commit_callbacks, groups[:3])

    with django_capture_on_commit_callbacks(execute=True):
        changed = group_code_update(
            code=code, actor=None, groups=[groups[2], groups[0], groups[5]], state="shop-9", room_base_id=7
        )

    assert sorted(changed) == ["groups", "room_base_id", "state"]
    code = fresh(code)
    assert code_groups(code) == [(chats[2], False, False), (chats[0], False, False), (chats[5], False, False)]
    assert (code.wecom_sync, code.wecom_chat_ids) == ("synced", [chats[2], chats[0], chats[5]])
    joined = way(sim, code)
    assert (joined["chat_id_list"], joined["state"], joined["room_base_id"]) == (code.wecom_chat_ids, "shop-9", 7)
    assert (len(sim.requests_to(ADD)), len(sim.requests_to(UPDATE))) == (1, 1)


def test_groups_at_the_threshold_from_the_start_are_skipped(sim, django_capture_on_commit_callbacks):
    chats = [sim_group(sim, "老群", members=5), sim_group(sim, "新群", members=2)]
    code = make_code(django_capture_on_commit_callbacks, load(*chats), threshold=5)

    assert code_groups(code) == [(chats[0], True, False), (chats[1], False, False)]
    assert way(sim, code)["chat_id_list"] == [chats[1]]


def test_pause_deletes_the_join_way_and_resume_makes_a_new_one(sim, groups, django_capture_on_commit_callbacks):
    code = make_code(django_capture_on_commit_callbacks, groups[:2])
    first, token = code.config_id, code.public_token

    with django_capture_on_commit_callbacks(execute=True):
        assert group_code_pause(code=code, actor=None) is True
        assert group_code_pause(code=code, actor=None) is False
    paused = fresh(code)
    assert (paused.status, paused.wecom_sync, paused.config_id, paused.qr_code_url) == ("paused", "synced", "", "")
    assert first not in sim.state.join_ways
    assert len(sim.requests_to(DELETE)) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert group_code_resume(code=code, actor=None) is True
    resumed = fresh(code)
    assert (resumed.status, resumed.wecom_sync, resumed.public_token) == ("open", "synced", token)
    assert resumed.config_id not in ("", first)
    assert way(sim, resumed)["chat_id_list"] == [g.chat_id for g in groups[:2]]


def test_delete_removes_the_join_way_and_welcome_template(sim, groups, django_capture_on_commit_callbacks):
    code = make_code(django_capture_on_commit_callbacks, groups[:2], welcome_text="欢迎 %NICKNAME% 入群")
    config_id, template_id = code.config_id, code.welcome_template_id
    assert config_id and template_id

    with django_capture_on_commit_callbacks(execute=True):
        group_code_delete(code=code, actor=None)

    assert GroupCode.objects.count() == GroupCodeGroup.objects.count() == 0
    assert CustomerGroup.objects.count() == len(groups)
    assert config_id not in sim.state.join_ways
    assert [r.body for r in sim.requests_to(WELCOME_DEL)] == [{"template_id": template_id}]


def test_the_welcome_message_is_a_template_kept_with_the_code(sim, groups, django_capture_on_commit_callbacks):
    image = {"media_id": "MEDIA_1"}
    code = make_code(
        django_capture_on_commit_callbacks,
        groups[:1],
        welcome_text="欢迎 %NICKNAME%",
        welcome_attachments=[{"msgtype": "image", "image": image}],
    )
    assert sim.requests_to(WELCOME_ADD)[0].body == {"text": {"content": "欢迎 %NICKNAME%"}, "image": image, "notify": 1}

    with django_capture_on_commit_callbacks(execute=True):
        group_code_update(code=code, actor=None, welcome_text="新的欢迎语", welcome_attachments=[])
    assert sim.requests_to(WELCOME_EDIT)[-1].body == {
        "template_id": code.welcome_template_id,
        "text": {"content": "新的欢迎语"},
    }

    with django_capture_on_commit_callbacks(execute=True):
        group_code_update(code=code, actor=None, welcome_text="")
    assert fresh(code).welcome_template_id == ""
    assert len(sim.requests_to(WELCOME_DEL)) == 1
    assert (len(sim.requests_to(WELCOME_ADD)), fresh(code).wecom_sync) == (1, "synced")


def test_wecom_busy_leaves_the_code_pending_for_the_sweep(sim, groups, english, django_capture_on_commit_callbacks):
    sim.faults.inject(path=ADD, errcode=-1, times=10)

    code = make_code(django_capture_on_commit_callbacks, groups[:1])

    assert (code.wecom_sync, code.config_id) == ("pending", "")
    assert code.wecom_error.startswith("WeCom was busy or did not answer")
    assert group_codes_push_due() == 0  # resting
    sim.faults.clear()
    GroupCode.objects.filter(pk=code.pk).update(updated_at=timezone.now() - timedelta(minutes=2))

    codes_push_due()  # the beat's sweep of every live code

    code = fresh(code)
    assert (code.wecom_sync, code.wecom_error, code.wecom_chat_ids) == ("synced", "", [groups[0].chat_id])
    assert len(sim.requests_to(ADD)) == 4  # the client's three tries, then the sweep's


def test_a_wecom_refusal_is_failed_in_plain_words_until_pushed_again(
    sim, groups, ops, english, django_capture_on_commit_callbacks
):
    sim.faults.inject(path=ADD, errcode=40050, times=1)

    code = make_code(django_capture_on_commit_callbacks, groups[:1])

    assert code.wecom_sync == "failed"
    assert code.wecom_error.startswith("WeCom does not know one of the code's groups")
    assert "40050" in code.wecom_error
    assert group_codes_push_due() == 0  # failed codes wait an hour

    with django_capture_on_commit_callbacks(execute=True):
        group_code_push_again(code=code, actor=ops)

    code = fresh(code)
    assert (code.wecom_sync, code.wecom_error) == ("synced", "")
    assert AuditLog.objects.filter(action="push_again", actor=ops).count() == 1


def test_a_join_way_wecom_lost_is_made_again_behind_the_same_qr(sim, groups, django_capture_on_commit_callbacks):
    code = make_code(django_capture_on_commit_callbacks, groups[:1])
    lost, token = code.config_id, code.public_token
    sim.state.join_ways.pop(lost)  # deleted in the WeCom admin console

    with django_capture_on_commit_callbacks(execute=True):
        group_code_push_again(code=code, actor=None)

    code = fresh(code)
    assert code.config_id not in ("", lost)
    assert (code.wecom_sync, code.public_token) == ("synced", token)
    assert code.qr_code_url == way(sim, code)["qr_code"]


def test_one_push_at_a_time(sim, groups, django_capture_on_commit_callbacks):
    from django.core.cache import cache

    with django_capture_on_commit_callbacks(execute=False):
        code = group_code_create(name="码", groups=groups[:1], actor=None)
    cache.add(f"groups:group-code-push:{code.pk}", "1", timeout=60)  # another worker is pushing it

    assert group_code_push(code_id=code.pk) == "skipped"
    assert wecom_calls(sim) == 0
