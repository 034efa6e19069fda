"""Reads of the per group and day figures: one group's series, and the totals across groups per day. Every day of
the range is present: a day without a row reads as zeros (``messages`` as None: no chat data is not "no
messages"). Each is one query."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TypedDict

from django.core.exceptions import ValidationError
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from groups.models import GroupDailyStat

MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
FIGURES = ("members", "joins", "quits", "messages", "sop_pushes", "sop_clicks")


class DayFigures(TypedDict):
    day: date
    members: int
    joins: int
    quits: int
    messages: int | None
    sop_pushes: int
    sop_clicks: int


class DayTotals(DayFigures):
    groups: int


def stats_range(*, start: date | str | None = None, end: date | str | None = None) -> tuple[date, date]:
    """The range [start, end] a caller asked for, checked: ISO dates, start not after end, at most
    ``MAX_RANGE_DAYS`` days. Default: the ``DEFAULT_RANGE_DAYS`` days ending today (or ending ``end``). Errors
    name ``from`` (the start) or ``to`` (the end), as the API's parameters."""
    end_day = _parse(end, "to") if end not in (None, "") else timezone.localdate()
    start_day = _parse(start, "from") if start not in (None, "") else end_day - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start_day > end_day:
        raise ValidationError({"from": _("The range starts after it ends.")})
    if (end_day - start_day).days + 1 > MAX_RANGE_DAYS:
        raise ValidationError({"to": _("At most %(max)d days at a time.") % {"max": MAX_RANGE_DAYS}})
    return start_day, end_day


def _parse(value: date | str, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError({field: _("Enter a date as YYYY-MM-DD.")}) from None


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _zero(day: date) -> dict:
    return {"day": day, "members": 0, "joins": 0, "quits": 0, "messages": None, "sop_pushes": 0, "sop_clicks": 0}


def group_stats_series(*, group_id: int, start: date, end: date) -> list[DayFigures]:
    """One group's figures for each day of [start, end], oldest first."""
    rows = {
        row["day"]: row
        for row in GroupDailyStat.objects.filter(group_id=group_id, day__gte=start, day__lte=end).values(
            "day", *FIGURES
        )
    }
    return [rows.get(day) or _zero(day) for day in _days(start, end)]


def stats_daily_totals(*, start: date, end: date) -> list[DayTotals]:
    """For each day of [start, end], oldest first: the groups with figures that day and their sums. ``messages``
    is None on a day where no group has message figures."""
    sums = (
        GroupDailyStat.objects.filter(day__gte=start, day__lte=end)
        .order_by()
        .values("day")
        .annotate(total_groups=Count("id"), **{f"total_{name}": Sum(name) for name in FIGURES})
    )
    rows = {
        row["day"]: {"day": row["day"], "groups": row["total_groups"], **{n: row[f"total_{n}"] for n in FIGURES}}
        for row in sums
    }
    return [rows.get(day) or {**_zero(day), "groups": 0} for day in _days(start, end)]


def group_stats_recent(*, group_id: int, days: int = DEFAULT_RANGE_DAYS) -> list[DayFigures]:
    """The group's last ``days`` days, today included (the admin's growth chart)."""
    end = timezone.localdate()
    return group_stats_series(group_id=group_id, start=end - timedelta(days=days - 1), end=end)
