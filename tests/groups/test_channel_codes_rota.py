# ruff: noqa: F811 - pytest fixtures imported from channel_code_fixtures are test arguments of the same name
"""The rota: a member who reaches today's add limit leaves the contact_way's user list, the backups stand in when
every primary is at their limit (the primaries stay when there is no backup), and local midnight brings everyone
back. Adds come through real callbacks in the inbox; WeCom is the simulator."""

from datetime import timedelta

import pytest
from django.utils import timezone

from groups.models import ChannelCode, ChannelCodeAdd, ChannelCodeMember, WeComSync
from groups.selectors.channel_codes import channel_code_rota, local_midnight, rota_of
from groups.tasks.channel_codes import channel_codes_rota
from tests.groups.channel_code_fixtures import (  # noqa: F401 - fixtures
    UPDATE,
    add_xml,
    bodies,
    callback_crypto,
    deliver,
    eager,
    english,
    fresh,
    make_code,
    ops,
    sim,
    way,
    wecom_configured,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]

Role = ChannelCodeMember.Role


def member(userid, role=Role.PRIMARY, limit=None, position=0):
    return ChannelCodeMember(userid=userid, role=role, daily_limit=limit, position=position)


def test_rota_of_takes_members_under_their_limit_in_order():
    members = [member("b", limit=2, position=2), member("a", limit=1, position=1), member("c", position=3)]

    assert rota_of(members=members, adds_today={}).users == ["a", "b", "c"]
    rota = rota_of(members=members, adds_today={"a": 1, "b": 1})
    assert (rota.users, rota.resting, rota.on_backup) == (["b", "c"], ["a"], False)


def test_rota_of_hands_over_to_the_backups_and_keeps_the_primaries_without_one():
    primaries = [member("a", limit=1), member("b", limit=1, position=1)]

    on_backup = rota_of(members=[*primaries, member("x", role=Role.BACKUP)], adds_today={"a": 1, "b": 3})
    assert (on_backup.users, on_backup.resting, on_backup.on_backup) == (["x"], ["a", "b"], True)

    alone = rota_of(members=primaries, adds_today={"a": 1, "b": 1})
    assert (alone.users, alone.full_without_backup) == (["a", "b"], True)


@pytest.fixture
def limited(sim, ops, django_capture_on_commit_callbacks):
    """zhangsan takes 2 adds a day, lisi 1, wangwu stands in."""
    return make_code(
        ops,
        django_capture_on_commit_callbacks,
        state="rota-1",
        members=[
            {"userid": "zhangsan", "daily_limit": 2},
            {"userid": "lisi", "daily_limit": 1},
            {"userid": "wangwu", "role": "backup"},
        ],
    )


def add(userid, n, *, when=None, state="rota-1"):
    deliver(add_xml(userid, f"wm{userid}{n}", state, at=when or timezone.now()))


def test_a_member_at_the_limit_leaves_the_list_and_backups_stand_in(sim, limited, django_capture_on_commit_callbacks):
    assert way(sim, limited)["user"] == ["zhangsan", "lisi"]

    with django_capture_on_commit_callbacks(execute=True):
        add("zhangsan", 1)  # under the limit: nothing to tell WeCom
    assert bodies(sim, UPDATE) == []

    with django_capture_on_commit_callbacks(execute=True):
        add("lisi", 1)  # lisi's one add: lisi sits out
    with django_capture_on_commit_callbacks(execute=True):
        add("zhangsan", 2)  # zhangsan's second: the backup takes over

    assert [body["user"] for body in bodies(sim, UPDATE)] == [["zhangsan"], ["wangwu"]]
    code = fresh(limited)
    assert (code.wecom_users, code.wecom_sync, way(sim, code)["user"]) == (["wangwu"], WeComSync.SYNCED, ["wangwu"])
    rota = channel_code_rota(code=code)
    assert (rota.resting, rota.on_backup) == (["zhangsan", "lisi"], True)

    with django_capture_on_commit_callbacks(execute=True):
        add("wangwu", 1)  # the backup has no limit
        add("zhangsan", 3)  # an add through a QR code scanned before the switch still counts
    assert len(bodies(sim, UPDATE)) == 2
    assert ChannelCodeAdd.objects.filter(code=code).count() == 5


def test_adds_of_yesterday_do_not_count(sim, limited, django_capture_on_commit_callbacks):
    evening = local_midnight() - timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        add("lisi", 1, when=evening)
        add("zhangsan", 1, when=evening)
        add("zhangsan", 2, when=evening)

    assert (bodies(sim, UPDATE), fresh(limited).wecom_users) == ([], ["zhangsan", "lisi"])
    assert channel_code_rota(code=limited).users == ["zhangsan", "lisi"]
    assert channel_code_rota(code=limited, now=evening).users == ["wangwu"]


def test_the_midnight_task_changes_only_codes_whose_list_changed(
    sim, ops, limited, eager, django_capture_on_commit_callbacks
):
    steady = make_code(ops, django_capture_on_commit_callbacks, state="steady", members=["chenqi"])
    evening = local_midnight() - timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        for userid, n in [("lisi", 1), ("zhangsan", 1), ("zhangsan", 2)]:
            add(userid, n, when=evening)
    ChannelCode.objects.filter(pk=limited.pk).update(wecom_users=["wangwu"])  # as yesterday evening left it
    sim.requests.clear()

    with django_capture_on_commit_callbacks(execute=True):
        channel_codes_rota.delay()
    with django_capture_on_commit_callbacks(execute=True):
        channel_codes_rota.delay()  # nothing new: no second update

    assert bodies(sim, UPDATE) == [
        {
            "config_id": limited.config_id,
            "remark": "门店活码",
            "skip_verify": True,
            "state": "rota-1",
            "user": ["zhangsan", "lisi"],
        }
    ]
    assert fresh(steady).wecom_sync == WeComSync.SYNCED


def test_without_a_backup_the_primaries_stay_when_all_are_at_the_limit(sim, ops, django_capture_on_commit_callbacks):
    code = make_code(
        ops,
        django_capture_on_commit_callbacks,
        state="alone",
        members=[{"userid": "zhangsan", "daily_limit": 1}, {"userid": "lisi", "daily_limit": 1}],
    )

    with django_capture_on_commit_callbacks(execute=True):
        add("zhangsan", 1, state="alone")
    with django_capture_on_commit_callbacks(execute=True):
        add("lisi", 1, state="alone")

    assert [body["user"] for body in bodies(sim, UPDATE)] == [["lisi"], ["zhangsan", "lisi"]]
    rota = channel_code_rota(code=fresh(code))
    assert (rota.users, rota.full_without_backup) == (["zhangsan", "lisi"], True)
