"""groups services: the groupchat/get detail, member joins and departures, placeholders, dismissal."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from customers.services import employee_upsert
from groups.models import CustomerGroup, GroupMember
from groups.services import (
    group_dismiss,
    group_ensure,
    group_members_joined,
    group_members_left,
    group_update_fields,
    group_upsert_from_wecom,
)

pytestmark = pytest.mark.django_db

CHAT = "wrCHAT0001"
T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
FETCHED = T0 + timedelta(days=1)


def member(userid, kind=2, joined=1709283600, scene=3, **extra):
    return {"userid": userid, "type": kind, "join_time": joined, "join_scene": scene, "group_nickname": "", **extra}


def detail(*members, **fields):
    """groupchat/get's group_chat object."""
    return {
        "chat_id": CHAT,
        "name": "年卡会员一群",
        "owner": "zhangsan",
        "create_time": 1709280000,
        "notice": "欢迎加入",
        "member_list": list(members)
        or [
            member("zhangsan", kind=1, scene=1, name="张三"),
            member("wmA", invitor={"userid": "zhangsan"}, scene=1, unionid="oA", name="王芳"),
            member("wmB", name="李娜"),
        ],
        "admin_list": [{"userid": "lisi"}],
        "member_version": "v1",
        **fields,
    }


def snapshot():
    return [
        *CustomerGroup.objects.order_by("pk").values(),
        *GroupMember.objects.order_by("pk").values(),
    ]


def current(chat_id=CHAT):
    return sorted(GroupMember.objects.filter(group__chat_id=chat_id, left_at=None).values_list("member_id", flat=True))


def group(chat_id=CHAT) -> CustomerGroup:
    return CustomerGroup.objects.get(chat_id=chat_id)


# ---- the detail --------------------------------------------------------------------------------------------------


def test_upsert_from_wecom_stores_group_and_members():
    result = group_upsert_from_wecom(detail=detail(), at=FETCHED)

    assert (CustomerGroup.objects.count(), GroupMember.objects.count()) == (1, 3)
    assert (result.name, result.owner_userid, result.notice, result.member_version) == (
        "年卡会员一群",
        "zhangsan",
        "欢迎加入",
        "v1",
    )
    assert (result.member_count, result.admin_userids, result.status) == (3, ["lisi"], "normal")
    assert result.wecom_created_at == datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    assert result.synced_at == FETCHED
    wm_a = GroupMember.objects.get(member_id="wmA")
    assert (wm_a.member_type, wm_a.name, wm_a.unionid, wm_a.invitor_userid, wm_a.join_scene) == (
        2,
        "王芳",
        "oA",
        "zhangsan",
        1,
    )
    assert wm_a.join_time == T0
    assert GroupMember.objects.get(member_id="zhangsan").member_type == GroupMember.MemberType.EMPLOYEE


def test_upsert_accepts_the_whole_response_too():
    group_upsert_from_wecom(detail={"errcode": 0, "errmsg": "ok", "group_chat": detail()})

    assert group().member_count == 3


def test_upsert_from_wecom_twice_changes_nothing():
    group_upsert_from_wecom(detail=detail(), at=FETCHED)
    before = snapshot()

    group_upsert_from_wecom(detail=detail(), at=FETCHED + timedelta(hours=1))

    assert snapshot() == before


def test_members_no_longer_listed_are_marked_left_and_counted_out():
    group_upsert_from_wecom(detail=detail(), at=FETCHED)
    later = FETCHED + timedelta(days=1)

    group_upsert_from_wecom(
        detail=detail(member("zhangsan", kind=1, scene=1), member("wmC"), member_version="v2"), at=later
    )

    assert current() == ["wmC", "zhangsan"]
    assert GroupMember.objects.count() == 4
    assert set(GroupMember.objects.filter(left_at=later).values_list("member_id", flat=True)) == {"wmA", "wmB"}
    assert (group().member_count, group().member_version) == (2, "v2")


def test_a_member_listed_again_is_back_in():
    group_upsert_from_wecom(detail=detail(member("wmA")), at=FETCHED)
    group_members_left(chat_id=CHAT, member_ids=["wmA"], quit_scene=0, at=FETCHED + timedelta(hours=1))

    group_upsert_from_wecom(detail=detail(member("wmA", joined=1709500000)), at=FETCHED + timedelta(hours=2))

    row = GroupMember.objects.get()
    assert (row.left_at, row.quit_scene, group().member_count) == (None, None, 1)


def test_a_detail_fills_a_placeholder_but_does_not_undo_a_newer_departure():
    group_members_joined(chat_id=CHAT, member_ids=["wmA"], join_scene=3, at=T0)
    group_members_left(chat_id=CHAT, member_ids=["wmA"], quit_scene=1, at=FETCHED + timedelta(minutes=1))

    group_upsert_from_wecom(detail=detail(member("wmA"), member("wmB")), at=FETCHED)  # fetched before the departure

    assert current() == ["wmB"]
    assert group().member_count == 1
    assert group().synced_at == FETCHED


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "no id"}, "chat_id"),
        ({"chat_id": CHAT, "member_list": [{"type": 2}]}, "member_list.userid"),
        ({"chat_id": CHAT, "member_list": [{"userid": "wmA", "type": 9}]}, "member_type"),
        (
            {"chat_id": CHAT, "member_list": [{"userid": "wmA", "type": 2, "join_time": "noon"}]},
            "member_list.join_time",
        ),
        ({"chat_id": CHAT, "member_list": "wmA"}, "member_list"),
        ({"chat_id": CHAT, "admin_list": ["lisi"]}, "admin_list"),
    ],
)
def test_bad_wecom_data_is_refused_naming_the_field(data, field):
    with pytest.raises(ValidationError) as error:
        group_upsert_from_wecom(detail=data)

    assert field in error.value.message_dict
    assert snapshot() == []


# ---- joins and departures ----------------------------------------------------------------------------------------


def test_join_on_an_unknown_group_creates_a_placeholder():
    result = group_members_joined(chat_id=CHAT, member_ids=["wmA", "wmB"], join_scene=3, at=T0, member_version="v9")

    assert (result.name, result.status, result.member_version, result.member_count) == ("", "normal", "v9", 2)
    assert result.is_placeholder
    rows = list(GroupMember.objects.values_list("member_id", "member_type", "join_scene", "join_time"))
    assert sorted(rows) == [("wmA", 2, 3, T0), ("wmB", 2, 3, T0)]


def test_member_type_comes_from_known_employees_and_the_id():
    employee_upsert(userid="wmployee")  # an employee whose userid happens to look like an external one

    group_members_joined(chat_id=CHAT, member_ids=["wmployee", "lisi", "wmA", "woB"], join_scene=0, at=T0)

    assert dict(GroupMember.objects.values_list("member_id", "member_type")) == {
        "wmployee": 1,
        "lisi": 1,
        "wmA": 2,
        "woB": 2,
    }


def test_join_and_leave_keep_member_count_exact():
    group_upsert_from_wecom(detail=detail(), at=FETCHED)
    t = FETCHED + timedelta(hours=1)

    group_members_joined(chat_id=CHAT, member_ids=["wmC", "wmD"], join_scene=3, at=t, member_version="v2")
    assert (group().member_count, group().member_version) == (5, "v2")

    group_members_left(chat_id=CHAT, member_ids=["wmA", "wmC"], quit_scene=1, at=t + timedelta(1), member_version="v3")
    assert (group().member_count, group().member_version) == (3, "v3")
    assert current() == ["wmB", "wmD", "zhangsan"]
    left = GroupMember.objects.get(member_id="wmC")
    assert (left.left_at, left.quit_scene) == (t + timedelta(1), GroupMember.QuitScene.REMOVED)

    assert GroupMember.objects.count() == 5  # nobody's row is deleted


def test_join_and_leave_applied_twice_change_nothing():
    group_members_joined(chat_id=CHAT, member_ids=["wmA", "wmB"], join_scene=3, at=T0, member_version="v1")
    group_members_left(chat_id=CHAT, member_ids=["wmB"], quit_scene=0, at=T0 + timedelta(1), member_version="v2")
    before = snapshot()

    group_members_joined(chat_id=CHAT, member_ids=["wmA", "wmB"], join_scene=3, at=T0, member_version="v1")
    group_members_left(chat_id=CHAT, member_ids=["wmB"], quit_scene=0, at=T0 + timedelta(1), member_version="v2")

    assert snapshot() == before
    assert (group().member_count, group().member_version) == (1, "v2")


def test_a_late_event_does_not_wind_the_member_version_back():
    group_members_joined(chat_id=CHAT, member_ids=["wmA"], join_scene=3, at=T0 + timedelta(1), member_version="v2")

    group_members_joined(chat_id=CHAT, member_ids=["wmB"], join_scene=3, at=T0, member_version="v1")

    assert (group().member_version, group().member_version_at, group().member_count) == ("v2", T0 + timedelta(1), 2)


def test_rejoin_after_leaving():
    group_members_joined(chat_id=CHAT, member_ids=["wmA"], join_scene=3, at=T0)
    group_members_left(chat_id=CHAT, member_ids=["wmA"], quit_scene=0, at=T0 + timedelta(1))

    group_members_joined(chat_id=CHAT, member_ids=["wmA"], join_scene=0, at=T0 + timedelta(2))

    row = GroupMember.objects.get()
    assert (row.left_at, row.quit_scene, row.join_time, row.join_scene) == (None, None, T0 + timedelta(2), 0)
    assert group().member_count == 1


def test_out_of_order_join_and_leave():
    # The departure (day 1) is processed before the retried join (day 0): the member ends up gone.
    group_members_left(chat_id=CHAT, member_ids=["wmA"], quit_scene=0, at=T0 + timedelta(1))
    assert (GroupMember.objects.get().left_at, group().member_count) == (T0 + timedelta(1), 0)
    group_members_joined(chat_id=CHAT, member_ids=["wmA"], join_scene=3, at=T0)
    assert (GroupMember.objects.get().left_at, group().member_count) == (T0 + timedelta(1), 0)

    # Rejoined on day 3, and an old departure (day 2) arrives late: still in.
    group_members_joined(chat_id=CHAT, member_ids=["wmA"], join_scene=3, at=T0 + timedelta(3))
    group_members_left(chat_id=CHAT, member_ids=["wmA"], quit_scene=1, at=T0 + timedelta(2))
    assert (GroupMember.objects.get().left_at, group().member_count) == (None, 1)


def test_empty_member_id_is_refused():
    with pytest.raises(ValidationError) as error:
        group_members_joined(chat_id=CHAT, member_ids=["wmA", ""], join_scene=3, at=T0)

    assert "member_ids" in error.value.message_dict
    assert snapshot() == []


# ---- group fields and dismissal ----------------------------------------------------------------------------------


def test_dismiss_is_idempotent_and_keeps_members():
    group_upsert_from_wecom(detail=detail(), at=FETCHED)

    group_dismiss(chat_id=CHAT, at=FETCHED + timedelta(1))
    before = snapshot()
    group_dismiss(chat_id=CHAT, at=FETCHED + timedelta(2))

    assert snapshot() == before
    assert (group().status, group().dismissed_at, group().member_count) == ("dismissed", FETCHED + timedelta(1), 3)


def test_dismiss_of_an_unknown_group_records_it():
    group_dismiss(chat_id=CHAT, at=T0)

    assert (group().status, group().dismissed_at) == ("dismissed", T0)


def test_ensure_and_update_fields():
    group_ensure(chat_id=CHAT, created_at=T0)
    group_ensure(chat_id=CHAT, created_at=T0 + timedelta(1))  # the first creation time stays
    group_update_fields(chat_id=CHAT, name="新群名", notice="公告")
    group_update_fields(chat_id=CHAT, owner_userid="lisi")

    row = group()
    assert (row.name, row.notice, row.owner_userid, row.wecom_created_at) == ("新群名", "公告", "lisi", T0)
    assert CustomerGroup.objects.count() == 1
