"""The daily group roll-up: exact members, joins and quits per calendar day in Asia/Shanghai (a member who joined
at 23:59 and left at 00:01 counts on both days), only groups that existed that day, idempotent reruns that leave
the SOP counters alone, a bounded number of queries whatever the number of groups; the SOP counters service; the
task and the backfill command."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from groups.models import CustomerGroup, GroupDailyStat, GroupMember
from groups.services import group_dismiss, group_ensure, group_members_joined, group_members_left
from groups.services.stats import day_bounds, group_stats_add_pushes, stats_rollup
from groups.tasks.stats import stats_rollup as stats_rollup_task

pytestmark = pytest.mark.django_db

MAR1, MAR2, FEB29 = date(2024, 3, 1), date(2024, 3, 2), date(2024, 2, 29)


def cst(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """A time in Shanghai (UTC+8), as the UTC instant WeCom reports."""
    return datetime(2024, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture(autouse=True)
def shanghai(settings):
    settings.TIME_ZONE = "Asia/Shanghai"


@pytest.fixture
def group():
    chat = "wrSTATS"
    group_ensure(chat_id=chat, created_at=cst(1, 9, month=2))
    group_members_joined(chat_id=chat, member_ids=["zhangsan"], join_scene=1, at=cst(1, 10, month=2))
    group_members_joined(chat_id=chat, member_ids=["wmB"], join_scene=3, at=cst(28, 20, month=2))
    group_members_joined(chat_id=chat, member_ids=["wmA"], join_scene=3, at=cst(1, 23, 59))  # 23:59 on Mar 1
    group_members_left(chat_id=chat, member_ids=["wmA"], quit_scene=0, at=cst(2, 0, 1))  # 00:01 on Mar 2
    group_members_joined(chat_id=chat, member_ids=["wmC"], join_scene=3, at=cst(1, 10))
    group_members_left(chat_id=chat, member_ids=["wmC"], quit_scene=1, at=cst(1, 12))
    return CustomerGroup.objects.get(chat_id=chat)


def figures(day: date) -> dict[str, tuple]:
    return {
        row["group__chat_id"]: (row["members"], row["joins"], row["quits"], row["messages"], row["sop_pushes"])
        for row in GroupDailyStat.objects.filter(day=day).values(
            "group__chat_id", "members", "joins", "quits", "messages", "sop_pushes"
        )
    }


def test_day_bounds_are_shanghai_midnights():
    start, end = day_bounds(MAR1)

    assert (start.astimezone(UTC), end.astimezone(UTC)) == (
        datetime(2024, 2, 29, 16, tzinfo=UTC),
        datetime(2024, 3, 1, 16, tzinfo=UTC),
    )


def test_exact_figures_across_the_midnight_boundary(group):
    assert stats_rollup(day=FEB29) == 1
    assert stats_rollup(day=MAR1) == 1
    assert stats_rollup(day=MAR2) == 1

    # (members at the end of the day, joins, quits, messages, SOP pushes)
    assert figures(FEB29) == {"wrSTATS": (2, 0, 0, None, 0)}  # zhangsan, wmB
    assert figures(MAR1) == {"wrSTATS": (3, 2, 1, None, 0)}  # + wmA (23:59); wmC joined and left
    assert figures(MAR2) == {"wrSTATS": (2, 0, 1, None, 0)}  # wmA left at 00:01


def test_only_groups_that_existed_that_day(group):
    group_ensure(chat_id="wrLATER", created_at=cst(2, 9))  # created the next day
    group_ensure(chat_id="wrGONE", created_at=cst(1, 9, month=2))
    group_dismiss(chat_id="wrGONE", at=cst(29, 18, month=2))  # dismissed the day before
    group_ensure(chat_id="wrENDS", created_at=cst(1, 9, month=2))
    group_dismiss(chat_id="wrENDS", at=cst(1, 18))  # dismissed that day: still counted
    # a placeholder from a callback (no WeCom creation time, row made today) whose member joined that day
    group_members_joined(chat_id="wrPLACE", member_ids=["wmP"], join_scene=3, at=cst(1, 11))

    assert stats_rollup(day=MAR1) == 3

    assert figures(MAR1) == {
        "wrSTATS": (3, 2, 1, None, 0),
        "wrENDS": (0, 0, 0, None, 0),
        "wrPLACE": (1, 1, 0, None, 0),
    }


def test_rerun_writes_the_same_rows_and_keeps_the_sop_counters(group):
    group_stats_add_pushes(group_id=group.pk, day=MAR1, pushes=2, clicks=5)  # the SOP app, before the roll-up
    assert figures(MAR1) == {"wrSTATS": (0, 0, 0, None, 2)}

    assert stats_rollup(day=MAR1) == 1
    first = list(GroupDailyStat.objects.values())
    assert stats_rollup(day=MAR1) == 0  # nothing changed: nothing rewritten

    assert list(GroupDailyStat.objects.values()) == first
    assert figures(MAR1) == {"wrSTATS": (3, 2, 1, None, 2)}
    assert GroupDailyStat.objects.get().sop_clicks == 5

    # news arriving late (a departure at 22:00 that day) changes the rerun's figures, and only those
    group_members_left(chat_id="wrSTATS", member_ids=["wmB"], quit_scene=0, at=cst(1, 22))
    assert stats_rollup(day=MAR1) == 1
    assert figures(MAR1) == {"wrSTATS": (2, 2, 2, None, 2)}
    assert GroupDailyStat.objects.count() == 1


def _bulk_groups(count: int, prefix: str) -> None:
    created = cst(1, 9, month=2)
    groups = CustomerGroup.objects.bulk_create(
        CustomerGroup(chat_id=f"{prefix}{n}", wecom_created_at=created) for n in range(count)
    )
    GroupMember.objects.bulk_create(
        GroupMember(group=g, member_id=f"wm{n}", member_type=2, join_time=cst(1, 10 + n % 10))
        for g in groups
        for n in range(3)
    )


@pytest.mark.parametrize("count", [3, 300])
def test_queries_do_not_grow_with_the_number_of_groups(count, django_assert_max_num_queries):
    _bulk_groups(count, "wrBULK")

    with django_assert_max_num_queries(3):  # one INSERT … SELECT (and, inside the test's transaction, its savepoint)
        assert stats_rollup(day=MAR1) == count

    assert GroupDailyStat.objects.filter(day=MAR1, members=3, joins=3, quits=0).count() == count


def test_a_future_day_is_refused():
    tomorrow = timezone.localdate() + timedelta(days=1)

    with pytest.raises(ValidationError) as refused:
        stats_rollup(day=tomorrow)

    assert "day" in refused.value.message_dict
    assert GroupDailyStat.objects.count() == 0


def test_sop_counters_increment_and_insert_when_missing(group):
    group_stats_add_pushes(group_id=group.pk, day=MAR1, pushes=1)
    group_stats_add_pushes(group_id=group.pk, day=MAR1, pushes=2, clicks=3)
    group_stats_add_pushes(group_id=group.pk, day=MAR2, clicks=1)
    group_stats_add_pushes(group_id=group.pk, day=MAR2)  # nothing to add: nothing written

    assert sorted(GroupDailyStat.objects.values_list("day", "sop_pushes", "sop_clicks")) == [
        (MAR1, 3, 3),
        (MAR2, 0, 1),
    ]


def test_sop_counters_refuse_bad_input_naming_the_field(group):
    with pytest.raises(ValidationError) as unknown:
        group_stats_add_pushes(group_id=group.pk + 1000, day=MAR1, pushes=1)
    with pytest.raises(ValidationError) as negative:
        group_stats_add_pushes(group_id=group.pk, day=MAR1, pushes=-1, clicks=-2)

    assert list(unknown.value.message_dict) == ["group_id"]
    assert sorted(negative.value.message_dict) == ["clicks", "pushes"]
    assert GroupDailyStat.objects.count() == 0


def test_the_task_rolls_up_the_day_asked(group):
    group_members_joined(chat_id="wrSTATS", member_ids=["wmToday"], join_scene=3, at=timezone.now())

    stats_rollup_task.apply(kwargs={"days_ago": 1}).get()
    stats_rollup_task.apply().get()

    today, yesterday = timezone.localdate(), timezone.localdate() - timedelta(days=1)
    assert figures(yesterday) == {"wrSTATS": (2, 0, 0, None, 0)}
    assert figures(today) == {"wrSTATS": (3, 1, 0, None, 0)}


def test_backfill_command_rolls_up_each_day(group, capsys):
    call_command("groups_stats_backfill", "--days", "3", "--until", "2024-03-02")

    assert sorted(GroupDailyStat.objects.values_list("day", "members", "joins", "quits")) == [
        (FEB29, 2, 0, 0),
        (MAR1, 3, 2, 1),
        (MAR2, 2, 0, 1),
    ]
    assert "3 days rolled up, 3 rows written." in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("groups_stats_backfill", "--days", "0")
