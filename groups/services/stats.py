"""Per group and day figures (``GroupDailyStat``): the member roll-up, and the SOP counters the SOP app adds to.

Days are calendar days in ``settings.TIME_ZONE`` (a day in Shanghai runs 16:00–16:00 UTC). For a day, the roll-up
computes for every group that existed then:

- ``members``: members in the group at the end of the day (joined before it ended, and not left or left after);
- ``joins`` / ``quits``: members whose join time / departure falls within the day;

and upserts them in one ``INSERT … SELECT … ON CONFLICT`` for all groups: the figures come from one aggregate over
the members, whatever the number of groups. ``messages`` stays NULL until chat sync lands, and ``sop_pushes`` /
``sop_clicks`` are never touched by it: ``group_stats_add_pushes`` owns them. Rerunning a day writes the same
figures; a row whose figures did not change is not rewritten at all.

A member row keeps only its latest stay (a rejoin moves ``join_time`` and clears ``left_at``), so a past day's
figures are exact for what the rows still say: the 30-minute and 00:20 runs record each day while it is fresh.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from groups.models import CustomerGroup, GroupDailyStat, GroupMember

FIGURES = ("members", "joins", "quits")


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day's first instant and the next day's, in ``settings.TIME_ZONE`` (a DST change is handled by the
    zone)."""
    zone = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, time.min, tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def _groups_of_day(start: datetime, end: datetime):
    """The groups that existed during [start, end), each with its figures for the day, as one grouped query."""
    joined_before_end = Exists(GroupMember.objects.filter(group=OuterRef("pk"), join_time__lt=end))
    created_before_end = Q(wecom_created_at__lt=end) | Q(wecom_created_at__isnull=True, created_at__lt=end)
    not_dismissed_before = Q(dismissed_at__isnull=True) | Q(dismissed_at__gte=start)
    in_at_end = (Q(members__join_time__lt=end) | Q(members__join_time__isnull=True)) & (
        Q(members__left_at__isnull=True) | Q(members__left_at__gte=end)
    )
    return (
        CustomerGroup.objects.filter((created_before_end | joined_before_end) & not_dismissed_before)
        .order_by()
        .values("id")
        .annotate(
            stat_members=Count("members", filter=in_at_end),
            stat_joins=Count("members", filter=Q(members__join_time__gte=start, members__join_time__lt=end)),
            stat_quits=Count("members", filter=Q(members__left_at__gte=start, members__left_at__lt=end)),
        )
    )


def stats_rollup(*, day: date) -> int:
    """Compute ``day``'s members, joins and quits for every group that existed that day and upsert them; returns
    the number of rows inserted or changed. Idempotent. A day still in the future is refused."""
    if day > timezone.localdate():
        raise ValidationError({"day": _("%(day)s has not happened yet.") % {"day": day.isoformat()}})
    start, end = day_bounds(day)
    select_sql, params = _groups_of_day(start, end).query.sql_with_params()
    table = connection.ops.quote_name(GroupDailyStat._meta.db_table)
    qn = connection.ops.quote_name
    figures = ", ".join(qn(name) for name in FIGURES)
    set_figures = ", ".join(f"{qn(name)} = excluded.{qn(name)}" for name in FIGURES)
    differs = " OR ".join(f"{table}.{qn(name)} <> excluded.{qn(name)}" for name in FIGURES)
    # "WHERE 1 = 1": SQLite needs a WHERE before ON CONFLICT in an INSERT … SELECT (else ON reads as a join's)
    sql = (
        f"INSERT INTO {table} ({qn('group_id')}, {qn('day')}, {figures}, {qn('messages')}, {qn('sop_pushes')}, "  # noqa: S608 - names from the model, values as parameters
        f"{qn('sop_clicks')}, {qn('computed_at')}) "
        f"SELECT s.{qn('id')}, %s, s.{qn('stat_members')}, s.{qn('stat_joins')}, s.{qn('stat_quits')}, NULL, 0, 0, %s "
        f"FROM ({select_sql}) s WHERE 1 = 1 "
        f"ON CONFLICT ({qn('group_id')}, {qn('day')}) DO UPDATE SET {set_figures}, "
        f"{qn('computed_at')} = excluded.{qn('computed_at')} WHERE {differs}"
    )
    values = [connection.ops.adapt_datefield_value(day), connection.ops.adapt_datetimefield_value(timezone.now())]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, [values[0], values[1], *params])
        return max(cursor.rowcount, 0)


def group_stats_add_pushes(*, group_id: int, day: date, pushes: int = 0, clicks: int = 0) -> None:
    """Add SOP pushes and clicks to a group's day (for the SOP app): an atomic ``F()`` increment of the row, created
    when missing (its member figures come with the next roll-up). Safe under concurrency: two first adds of a day
    race on the unique (group, day), and the loser increments the winner's row."""
    errors = {}
    if pushes < 0:
        errors["pushes"] = _("Cannot be negative.")
    if clicks < 0:
        errors["clicks"] = _("Cannot be negative.")
    if errors:
        raise ValidationError(errors)
    if not pushes and not clicks:
        return
    increment = {"sop_pushes": F("sop_pushes") + pushes, "sop_clicks": F("sop_clicks") + clicks}
    with transaction.atomic():
        if GroupDailyStat.objects.filter(group_id=group_id, day=day).update(**increment):
            return
        # the foreign key is only checked at commit on PostgreSQL: name the field now instead
        if not CustomerGroup.objects.filter(pk=group_id).exists():
            raise ValidationError({"group_id": _("No customer group has the id %(id)s.") % {"id": group_id}})
        try:
            with transaction.atomic():
                GroupDailyStat.objects.create(group_id=group_id, day=day, sop_pushes=pushes, sop_clicks=clicks)
        except IntegrityError:
            GroupDailyStat.objects.filter(group_id=group_id, day=day).update(**increment)
