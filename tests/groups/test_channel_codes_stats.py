"""Channel code figures: adds in a date range by local day (Asia/Shanghai), retained after 7 days (the follow
relation still active), lost (deleted by either side), per member and per day; the list's figures per code, in a
fixed number of queries."""

from datetime import date, timedelta

import pytest

from customers.models import Employee, ExternalContact, FollowRelation
from groups.models import ChannelCode, ChannelCodeAdd, ChannelCodeMember
from groups.selectors.channel_codes import channel_code_stats, channel_codes_list, with_figures
from tests.groups.channel_code_fixtures import at

pytestmark = pytest.mark.django_db

NOW = at(12, day=20)  # 2024-03-20 12:00 in Shanghai
Status = FollowRelation.Status


def relation(userid: str, external_userid: str, status: str) -> None:
    employee, _ = Employee.objects.get_or_create(userid=userid)
    contact, _ = ExternalContact.objects.get_or_create(external_userid=external_userid)
    FollowRelation.objects.create(employee=employee, contact=contact, status=status)


def add(code: ChannelCode, userid: str, external_userid: str, when, status: str | None = Status.ACTIVE) -> None:
    ChannelCodeAdd.objects.create(code=code, userid=userid, external_userid=external_userid, added_at=when)
    if status:
        relation(userid, external_userid, status)


@pytest.fixture
def code() -> ChannelCode:
    code = ChannelCode.objects.create(name="门店码", state="stats-1")
    ChannelCodeMember.objects.create(code=code, userid="zhangsan", position=0)
    ChannelCodeMember.objects.create(code=code, userid="lisi", position=1, daily_limit=5)
    add(code, "zhangsan", "wmZ", at(0, 10, day=1))  # 2024-02-29 16:10 UTC: the 1st in Shanghai
    add(code, "zhangsan", "wmA", at(10, day=1))
    add(code, "zhangsan", "wmB", at(23, 30, day=1), Status.DELETED_BY_CUSTOMER)
    add(code, "lisi", "wmC", at(9, day=10), Status.DELETED_BY_EMPLOYEE)
    add(code, "wangwu", "wmF", at(9, day=15))  # no longer a member of the code
    add(code, "lisi", "wmD", at(9, day=18))
    add(code, "lisi", "wmE", at(8, day=20), Status.TRANSFERRED)  # neither retained nor lost
    add(code, "zhangsan", "wmOld", at(23, 59, day=1) - timedelta(days=1))  # 2024-02-29 in Shanghai
    other = ChannelCode.objects.create(name="别的码", state="stats-2")
    add(other, "zhangsan", "wmX", at(10, day=1))
    return code


def figures(adds: int, matured: int, retained: int, lost: int) -> dict[str, int]:
    return {"adds": adds, "matured": matured, "retained_7d": retained, "lost": lost}


def test_stats_over_a_range_by_member_and_day(code):
    stats = channel_code_stats(code=code, date_from=date(2024, 3, 1), date_to=date(2024, 3, 20), now=NOW)

    assert stats["totals"] == figures(7, 4, 2, 2)
    assert stats["members"] == [
        {"userid": "zhangsan", **figures(3, 3, 2, 1)},
        {"userid": "lisi", **figures(3, 1, 0, 1)},
        {"userid": "wangwu", **figures(1, 0, 0, 0)},
    ]
    days = {row["date"]: {k: v for k, v in row.items() if k != "date"} for row in stats["days"]}
    assert len(days) == 20 and min(days) == date(2024, 3, 1) and max(days) == date(2024, 3, 20)
    assert {day: values for day, values in days.items() if values["adds"]} == {
        date(2024, 3, 1): figures(3, 3, 2, 1),
        date(2024, 3, 10): figures(1, 1, 0, 1),
        date(2024, 3, 15): figures(1, 0, 0, 0),
        date(2024, 3, 18): figures(1, 0, 0, 0),
        date(2024, 3, 20): figures(1, 0, 0, 0),
    }


def test_a_narrow_range_counts_only_its_days(code):
    stats = channel_code_stats(code=code, date_from=date(2024, 2, 29), date_to=date(2024, 2, 29), now=NOW)

    assert stats["totals"] == figures(1, 1, 1, 0)
    assert stats["members"] == [
        {"userid": "zhangsan", **figures(1, 1, 1, 0)},
        {"userid": "lisi", **figures(0, 0, 0, 0)},
    ]


def test_the_list_carries_figures_and_todays_adds_per_member(code, django_assert_num_queries):
    with django_assert_num_queries(3):
        codes = {listed.state: listed for listed in channel_codes_list(now=NOW)}

    listed = codes["stats-1"]
    assert (listed.adds_today, listed.adds_total, listed.retained_7d, listed.lost) == (1, 8, 3, 2)
    assert listed.today_by_member == {"lisi": 1}
    assert listed.rota.users == ["zhangsan", "lisi"]
    other = codes["stats-2"]
    assert (other.adds_today, other.adds_total, other.retained_7d, other.lost, other.today_by_member) == (
        0,
        1,
        1,
        0,
        {},
    )


def test_figures_of_a_code_without_adds_are_zero():
    quiet = ChannelCode.objects.create(name="新码", state="quiet")

    listed = with_figures(ChannelCode.objects.filter(pk=quiet.pk), now=NOW).get()

    assert (listed.adds_today, listed.adds_total, listed.retained_7d, listed.lost) == (0, 0, 0, 0)
