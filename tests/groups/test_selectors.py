"""groups selectors: the joins they promise, pinned by query counts."""

from datetime import UTC, datetime, timedelta

import pytest

from groups.selectors import group_members, groups_of_member, groups_owned_by, groups_without_detail
from groups.services import group_members_joined, group_members_left, group_update_fields

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, tzinfo=UTC)


@pytest.fixture
def groups():
    group_members_joined(chat_id="wr1", member_ids=["zhangsan", "wmA", "wmB"], join_scene=1, at=T0)
    group_members_joined(chat_id="wr1", member_ids=["wmC"], join_scene=3, at=T0 + timedelta(hours=1))
    group_members_left(chat_id="wr1", member_ids=["wmB"], quit_scene=0, at=T0 + timedelta(hours=2))
    group_members_joined(chat_id="wr2", member_ids=["wmA"], join_scene=3, at=T0)
    group_update_fields(chat_id="wr1", owner_userid="zhangsan", name="一群")


def test_group_members_is_one_query(groups, django_assert_num_queries):
    with django_assert_num_queries(1):
        rows = [(m.member_id, m.group.chat_id) for m in group_members(chat_id="wr1")]

    assert sorted(rows) == [("wmA", "wr1"), ("wmC", "wr1"), ("zhangsan", "wr1")]


def test_group_members_including_those_who_left(groups, django_assert_num_queries):
    with django_assert_num_queries(1):
        ids = [(m.member_id, m.in_group) for m in group_members(chat_id="wr1", include_left=True)]

    assert sorted(ids) == [("wmA", True), ("wmB", False), ("wmC", True), ("zhangsan", True)]
    assert list(group_members(chat_id="unknown")) == []


def test_groups_of_member_and_owner(groups, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert sorted(g.chat_id for g in groups_of_member(member_id="wmA")) == ["wr1", "wr2"]
    assert list(groups_of_member(member_id="wmB")) == []
    assert [g.chat_id for g in groups_of_member(member_id="wmB", include_left=True)] == ["wr1"]
    assert [g.name for g in groups_owned_by(userid="zhangsan")] == ["一群"]
    assert sorted(g.chat_id for g in groups_without_detail()) == ["wr1", "wr2"]
