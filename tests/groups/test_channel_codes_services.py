# ruff: noqa: F811 - pytest fixtures imported from channel_code_fixtures are test arguments of the same name
"""Channel live codes reach the WeCom simulator over HTTP: a contact_way with the rota's users, the state and
skip-verify; an update only when the contact_way changes; deactivation and deletion; WeCom's refusals recorded in
plain words and its busy spells retried by the sweep; and refused input writes nothing and calls nothing."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from groups.models import ChannelCode, ChannelCodeMember, WeComSync
from groups.services.channel_codes import (
    channel_code_activate,
    channel_code_create,
    channel_code_deactivate,
    channel_code_delete,
    channel_code_update,
    channel_codes_push_again,
)
from groups.services.channel_codes_push import channel_code_push, channel_codes_push_due
from scrm.core.models import AuditLog
from tests.groups.channel_code_fixtures import (  # noqa: F401 - fixtures
    ADD,
    DELETE,
    GET,
    UPDATE,
    bodies,
    callback_crypto,
    code_tags,
    eager,
    english,
    fresh,
    make_code,
    ops,
    rewind,
    sim,
    way,
    wecom_configured,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english", "eager")]


def test_a_new_code_becomes_a_contact_way_with_the_rota_state_and_skip_verify(
    sim, ops, django_capture_on_commit_callbacks
):
    code = make_code(
        ops,
        django_capture_on_commit_callbacks,
        name="南京西路店",
        state="store-nj-01",
        skip_verify=False,
        members=[{"userid": "lisi", "position": 2}, {"userid": "zhangsan", "position": 1}, "wangwu"],
    )

    assert bodies(sim, ADD) == [
        {
            "type": 2,
            "scene": 2,
            "remark": "南京西路店",
            "skip_verify": False,
            "state": "store-nj-01",
            "user": ["zhangsan", "lisi", "wangwu"],  # by position (wangwu, third and without one, is 2 too)
        }
    ]
    assert (code.wecom_sync, code.wecom_error, code.wecom_users) == (
        WeComSync.SYNCED,
        "",
        ["zhangsan", "lisi", "wangwu"],
    )
    assert code.config_id and code.qr_code_url == way(sim, code)["qr_code"]
    assert way(sim, code)["user"] == ["zhangsan", "lisi", "wangwu"]
    assert AuditLog.objects.filter(action="create", target_id=str(code.pk)).count() == 1


def test_one_employee_is_a_single_contact_way_and_a_blank_state_is_generated(
    sim, ops, django_capture_on_commit_callbacks
):
    code = make_code(ops, django_capture_on_commit_callbacks, members=["zhangsan"])

    (body,) = bodies(sim, ADD)
    assert (body["type"], body["user"], body["skip_verify"]) == (1, ["zhangsan"], True)
    assert code.state.startswith("cc-") and len(code.state) == 15 and body["state"] == code.state


def test_a_primary_and_one_backup_is_still_single(sim, ops, django_capture_on_commit_callbacks):
    make_code(ops, django_capture_on_commit_callbacks, members=["zhangsan", {"userid": "lisi", "role": "backup"}])

    assert [(body["type"], body["user"]) for body in bodies(sim, ADD)] == [(1, ["zhangsan"])]


def test_edits_reach_wecom_only_when_the_contact_way_changes(sim, ops, code_tags, django_capture_on_commit_callbacks):
    code = make_code(ops, django_capture_on_commit_callbacks, state="s1")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        changed = channel_code_update(
            code=code,
            actor=ops,
            welcome_text="欢迎！",
            tag_ids=[code_tags["门店"].pk],
            remark="内部备注",
            members=["zhangsan", "lisi", {"userid": "wangwu", "role": "backup"}],  # the rota's answer is the same
        )
    assert sorted(changed) == ["members", "remark", "tag_ids", "welcome_text"]
    assert (callbacks, bodies(sim, UPDATE)) == ([], [])
    assert fresh(code).wecom_sync == WeComSync.SYNCED

    with django_capture_on_commit_callbacks(execute=True):
        assert channel_code_update(code=code, actor=ops, welcome_text="欢迎！") == []  # nothing new
        channel_code_update(code=code, actor=ops, skip_verify=False, name="新名字")
    with django_capture_on_commit_callbacks(execute=True):
        channel_code_update(code=code, actor=ops, members=["lisi", {"userid": "wangwu", "role": "backup"}])

    assert bodies(sim, UPDATE) == [
        {
            "config_id": code.config_id,
            "remark": "新名字",
            "skip_verify": False,
            "state": "s1",
            "user": ["zhangsan", "lisi"],
        },
        {"config_id": code.config_id, "remark": "新名字", "skip_verify": False, "state": "s1", "user": ["lisi"]},
    ]
    code = fresh(code)
    assert (code.wecom_sync, code.wecom_users) == (WeComSync.SYNCED, ["lisi"])
    assert list(code.members.values_list("userid", "role")) == [("lisi", "primary"), ("wangwu", "backup")]
    assert len(sim.requests_to(ADD)) == 1


def test_a_single_code_that_gets_a_second_employee_is_replaced_by_a_multi_one(
    sim, ops, django_capture_on_commit_callbacks
):
    code = make_code(ops, django_capture_on_commit_callbacks, members=["zhangsan"])
    old = code.config_id

    with django_capture_on_commit_callbacks(execute=True):
        channel_code_update(code=code, actor=ops, members=["zhangsan", "lisi"])

    code = fresh(code)
    assert [(b["type"], b["user"]) for b in bodies(sim, ADD)] == [(1, ["zhangsan"]), (2, ["zhangsan", "lisi"])]
    assert bodies(sim, GET) == [{"config_id": old}]
    assert bodies(sim, DELETE) == [{"config_id": old}]
    assert bodies(sim, UPDATE) == []
    assert code.config_id != old and list(sim.state.contact_ways) == [code.config_id]
    assert (code.wecom_sync, code.wecom_users, code.qr_code_url) == (
        WeComSync.SYNCED,
        ["zhangsan", "lisi"],
        way(sim, code)["qr_code"],
    )
    assert AuditLog.objects.filter(action="wecom_replaced", target_id=str(code.pk)).count() == 1


def test_deactivate_deletes_the_contact_way_and_activate_makes_a_new_one(sim, ops, django_capture_on_commit_callbacks):
    code = make_code(ops, django_capture_on_commit_callbacks)
    old = code.config_id

    with django_capture_on_commit_callbacks(execute=True):
        assert channel_code_deactivate(code=code, actor=ops) is True
        assert channel_code_deactivate(code=code, actor=ops) is False

    code = fresh(code)
    assert bodies(sim, DELETE) == [{"config_id": old}]
    assert (code.is_active, code.wecom_sync, code.config_id, code.qr_code_url, code.wecom_users) == (
        False,
        WeComSync.SYNCED,
        "",
        "",
        [],
    )
    assert sim.state.contact_ways == {}

    with django_capture_on_commit_callbacks(execute=True):
        assert channel_code_activate(code=code, actor=ops) is True

    code = fresh(code)
    assert len(sim.requests_to(ADD)) == 2
    assert code.is_active and code.config_id not in ("", old) and code.wecom_sync == WeComSync.SYNCED


def test_delete_removes_the_row_and_the_contact_way(sim, ops, eager, django_capture_on_commit_callbacks):
    code = make_code(ops, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=True):
        channel_code_delete(code=code, actor=ops)

    assert bodies(sim, DELETE) == [{"config_id": code.config_id}]
    assert (ChannelCode.objects.count(), ChannelCodeMember.objects.count(), sim.state.contact_ways) == (0, 0, {})
    assert AuditLog.objects.filter(action="delete", target_id=str(code.pk)).count() == 1


def test_a_busy_wecom_leaves_the_code_pending_and_the_sweep_sends_it(sim, ops, django_capture_on_commit_callbacks):
    sim.faults.inject(path=ADD, errcode=45009, times=3)  # the client's three tries all limited

    code = make_code(ops, django_capture_on_commit_callbacks)

    assert (code.wecom_sync, code.config_id) == (WeComSync.PENDING, "")
    assert "WeCom was busy or could not be reached" in code.wecom_error and "45009" in code.wecom_error
    assert channel_codes_push_due() == []  # resting
    rewind(code, by=timedelta(seconds=61))
    assert channel_codes_push_due() == [code.pk]

    assert channel_code_push(code_id=code.pk) == "synced"

    code = fresh(code)
    assert (code.wecom_sync, code.wecom_error, code.wecom_users) == (WeComSync.SYNCED, "", ["zhangsan", "lisi"])
    assert len(sim.requests_to(ADD)) == 4
    assert len(sim.state.contact_ways) == 1
    assert channel_code_push(code_id=code.pk) == "skipped"


def test_a_refusal_is_recorded_in_plain_words_until_pushed_again(sim, ops, django_capture_on_commit_callbacks):
    sim.faults.inject(path=ADD, errcode=40003)

    code = make_code(ops, django_capture_on_commit_callbacks)

    assert code.wecom_sync == WeComSync.FAILED
    assert code.wecom_error.startswith("WeCom does not know one of the code's employees, or they left")
    assert "errcode 40003" in code.wecom_error
    rewind(code, by=timedelta(hours=1))
    assert channel_codes_push_due() == []  # a refusal waits for a person

    with django_capture_on_commit_callbacks(execute=True):
        assert channel_codes_push_again(codes=[code], actor=ops) == 1

    code = fresh(code)
    assert (code.wecom_sync, code.wecom_error) == (WeComSync.SYNCED, "")
    assert len(sim.requests_to(ADD)) == 2


def test_a_contact_way_deleted_in_wecom_is_made_again_by_push_again(sim, ops, django_capture_on_commit_callbacks):
    code = make_code(ops, django_capture_on_commit_callbacks)
    with sim.state.lock:
        sim.state.contact_ways.clear()  # someone deleted it in the WeCom console

    with django_capture_on_commit_callbacks(execute=True):
        channel_code_update(code=code, actor=ops, skip_verify=False)

    gone = fresh(code)
    assert (gone.wecom_sync, gone.config_id, gone.qr_code_url) == (WeComSync.FAILED, "", "")
    assert "no longer has this code's contact way" in gone.wecom_error

    with django_capture_on_commit_callbacks(execute=True):
        channel_codes_push_again(codes=[gone], actor=ops)

    again = fresh(code)
    assert again.wecom_sync == WeComSync.SYNCED and again.config_id in sim.state.contact_ways
    assert way(sim, again)["skip_verify"] is False


@pytest.mark.django_db(transaction=True)
def test_an_edit_made_while_the_push_is_in_flight_follows_it(sim, ops, eager):
    """The push sends what it read; the edit's own push finds it busy, so the first queues the next when it ends."""
    sim.faults.inject(path=ADD, delay=0.5)
    created = []

    def create():
        try:  # eager: the push runs in this thread, right after the create commits
            created.append(channel_code_create(name="旧名", members=[{"userid": "zhangsan"}], actor=ops))
        finally:
            connection.close()

    creator = threading.Thread(target=create)
    creator.start()
    while not sim.requests_to(ADD) and creator.is_alive():
        time.sleep(0.01)
    code = ChannelCode.objects.get()
    channel_code_update(code=code, actor=ops, name="新名")  # its push (eager, after commit) finds the first busy
    creator.join()

    code = fresh(code)
    assert (code.wecom_sync, way(sim, code)["remark"]) == (WeComSync.SYNCED, "新名")
    assert [b["remark"] for b in bodies(sim, ADD)] == ["旧名"]
    assert [b["remark"] for b in bodies(sim, UPDATE)] == ["新名"]


# ---- refused input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"state": "x" * 31}, "state", "Ensure this value has at most 30 characters (it has 31)."),
        ({"state": "a b"}, "state", "The state cannot contain spaces."),
        ({"state": "taken"}, "state", "Another channel code already uses this state."),
        ({"name": ""}, "name", "This field cannot be blank."),
        ({"members": []}, "members", "Put at least one employee in the rota."),
        ({"members": [{"userid": "lisi", "role": "backup"}]}, "members", "Put at least one employee in the rota."),
        ({"members": ["zhangsan", "zhangsan"]}, "members", "“zhangsan” is listed twice."),
        (
            {"members": ["nobody"]},
            "members",
            "No employee “nobody”: check the userid, or sync the WeCom directory first.",
        ),
        ({"members": ["zhaoliu"]}, "members", "“zhaoliu” has left the company."),
        (
            {"members": ["zhangsan", {"userid": "lisi", "role": "backup", "daily_limit": 5}]},
            "members",
            "“lisi” is a backup: a backup takes every add once the rota is full, so it has no limit.",
        ),
        (
            {"members": [{"userid": "lisi", "daily_limit": 0}]},
            "members",
            "The daily add limit of “lisi” must be at least 1.",
        ),
        (
            {"welcome_attachments": [{"msgtype": "link", "link": {"title": "优惠"}}]},
            "welcome_attachments",
            "Attachment 1 (link) needs link.title, link.url.",
        ),
        (
            {"welcome_attachments": [{"msgtype": "voice"}]},
            "welcome_attachments",
            "Attachment 1: “voice” is not one of image, link, miniprogram, video, file.",
        ),
        (
            {"welcome_attachments": [{"msgtype": "image", "image": {"media_id": "m"}}] * 10},
            "welcome_attachments",
            "At most 9 attachments.",
        ),
    ],
)
def test_refused_input_writes_nothing_and_calls_nothing(
    sim, ops, django_capture_on_commit_callbacks, values, field, message
):
    make_code(ops, django_capture_on_commit_callbacks, state="taken")
    sim.requests.clear()
    before = (ChannelCode.objects.count(), ChannelCodeMember.objects.count(), AuditLog.objects.count())
    arguments = {"name": "新码", "members": ["zhangsan"], **values}

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError) as refused:
        channel_code_create(actor=ops, **arguments)

    assert message in refused.value.message_dict[field]
    assert (ChannelCode.objects.count(), ChannelCodeMember.objects.count(), AuditLog.objects.count()) == before
    assert (callbacks, sim.requests) == ([], [])


def test_tags_are_checked_by_tagging_through_the_hook(sim, ops, code_tags, django_capture_on_commit_callbacks):
    for tag, message in [
        (code_tags["老客"], "“老客” is an employee's personal WeCom tag: it can only be changed in WeCom."),
        (code_tags["宝妈群"], "does not apply to customers"),
        (code_tags["旧"], "has been deleted"),
    ]:
        with pytest.raises(ValidationError) as refused:
            channel_code_create(name="码", members=["zhangsan"], tag_ids=[tag.pk], actor=ops)
        assert message in " ".join(refused.value.message_dict["tag_ids"])
    with pytest.raises(ValidationError) as refused:
        channel_code_create(name="码", members=["zhangsan"], tag_ids=[987654], actor=ops)
    assert refused.value.message_dict["tag_ids"] == ["No such tag: 987654."]
    assert (ChannelCode.objects.count(), sim.requests) == (0, [])

    code = make_code(ops, django_capture_on_commit_callbacks, tag_ids=[code_tags["门店"].pk, code_tags["地推"].pk])
    assert code.tag_ids == sorted([code_tags["门店"].pk, code_tags["地推"].pk])


def test_a_refused_edit_changes_nothing(sim, ops, django_capture_on_commit_callbacks):
    code = make_code(ops, django_capture_on_commit_callbacks, state="s1")
    make_code(ops, django_capture_on_commit_callbacks, state="s2", members=["wangwu"])
    sim.requests.clear()
    before = list(ChannelCode.objects.order_by("pk").values()), list(ChannelCodeMember.objects.order_by("pk").values())

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError) as refused:
        channel_code_update(code=code, actor=ops, state="s2", members=["zhangsan", "nobody"])

    assert set(refused.value.message_dict) == {"state", "members"}
    after = list(ChannelCode.objects.order_by("pk").values()), list(ChannelCodeMember.objects.order_by("pk").values())
    assert after == before
    assert (callbacks, sim.requests) == ([], [])


def test_the_minute_tick_sends_codes_whose_push_was_lost(sim, ops, django_capture_on_commit_callbacks):
    from groups.tasks.channel_codes import codes_push_due

    with django_capture_on_commit_callbacks(execute=False):  # committed, but its push never ran
        code = channel_code_create(name="丢失的推送", members=["zhangsan"], actor=ops)
    codes_push_due.delay()
    assert (fresh(code).wecom_sync, sim.requests_to(ADD)) == (WeComSync.PENDING, [])  # resting: its push may come

    rewind(code, by=timedelta(seconds=61))
    with django_capture_on_commit_callbacks(execute=True):
        codes_push_due.delay()

    assert fresh(code).wecom_sync == WeComSync.SYNCED
    assert len(sim.requests_to(ADD)) == 1
