"""Reads of channel live codes (渠道活码): the rota's current answer, the codes with today's adds, and per-code
figures (adds, retained after 7 days, lost), per member and per day.

"Today" is the calendar day in ``TIME_ZONE`` (Asia/Shanghai by default): daily limits reset at local midnight.
Retained and lost read the follow relation as it is now (customers' ``FollowRelation``, joined on the employee's
userid and the contact's external userid): an add is retained when it is at least 7 days old and its relation is
still active, lost when the customer or the employee deleted the other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, Exists, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from customers.models import FollowRelation
from groups.models import ChannelCode, ChannelCodeAdd, ChannelCodeMember

RETAINED_AFTER = timedelta(days=7)
LOST = (FollowRelation.Status.DELETED_BY_CUSTOMER, FollowRelation.Status.DELETED_BY_EMPLOYEE)
MAX_STATS_DAYS = 366

Role = ChannelCodeMember.Role


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_midnight(now: datetime | None = None) -> datetime:
    """The start of today in TIME_ZONE, as an aware datetime."""
    local = (now or timezone.now()).astimezone(local_zone())
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def local_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(local_zone()).date()


# ---- the rota ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rota:
    """Who takes the adds right now. ``users`` is what WeCom's contact_way should list."""

    users: list[str]
    resting: list[str] = field(default_factory=list)  # primary members at today's limit
    on_backup: bool = False  # every primary is at the limit: the backups stand in
    full_without_backup: bool = False  # every primary is at the limit and there is no backup: they stay on


def rota_of(*, members: Iterable[ChannelCodeMember], adds_today: dict[str, int]) -> Rota:
    """The rota's answer for these members given today's adds per userid (a pure function of its inputs)."""
    ordered = sorted(members, key=lambda member: (member.position, member.pk or 0))
    primaries = [member for member in ordered if member.role == Role.PRIMARY]
    backups = [member.userid for member in ordered if member.role == Role.BACKUP]
    open_, resting = [], []
    for member in primaries:
        at_limit = member.daily_limit is not None and adds_today.get(member.userid, 0) >= member.daily_limit
        (resting if at_limit else open_).append(member.userid)
    if open_:
        return Rota(users=open_, resting=resting)
    if backups:
        return Rota(users=backups, resting=resting, on_backup=True)
    # Nobody to stand in: a code that stops taking customers is worse than a member over their limit.
    return Rota(users=[member.userid for member in primaries], resting=resting, full_without_backup=bool(primaries))


def wecom_type(members: Iterable[ChannelCodeMember]) -> int:
    """WeCom's contact_way type: 1 (单人) when the rota can only ever list one user, else 2 (多人)."""
    members = list(members)
    primaries = sum(member.role == Role.PRIMARY for member in members)
    backups = sum(member.role == Role.BACKUP for member in members)
    return 1 if max(primaries, backups) == 1 else 2


def adds_today_by_member(code_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, dict[str, int]]:
    """code id → {userid: adds through that code since local midnight}, in one query."""
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        ChannelCodeAdd.objects.filter(code_id__in=list(code_ids), added_at__gte=local_midnight(now))
        .values("code_id", "userid")
        .annotate(adds=Count("pk"))
        .order_by()
    )
    for row in rows:
        counts[row["code_id"]][row["userid"]] = row["adds"]
    return counts


def channel_code_rota(*, code: ChannelCode, now: datetime | None = None) -> Rota:
    members = list(code.members.all())
    return rota_of(members=members, adds_today=adds_today_by_member([code.pk], now=now).get(code.pk, {}))


# ---- the list of codes ---------------------------------------------------------------------------------------


def _relation(status: Iterable[str]) -> Exists:
    """The add's follow relation (employee × contact) exists with one of these statuses."""
    return Exists(
        FollowRelation.objects.filter(
            employee__userid=OuterRef("userid"),
            contact__external_userid=OuterRef("external_userid"),
            status__in=list(status),
        )
    )


def _count(adds: QuerySet) -> Coalesce:
    counted = adds.order_by().values("code_id").annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def with_figures(codes: QuerySet[ChannelCode], *, now: datetime | None = None) -> QuerySet[ChannelCode]:
    """The codes annotated with ``adds_today``, ``adds_total``, ``retained_7d`` and ``lost`` (all time), a
    subquery each: the admin's list and the API's list read them without a query per row."""
    now = now or timezone.now()
    adds = ChannelCodeAdd.objects.filter(code=OuterRef("pk"))
    return codes.annotate(
        adds_today=_count(adds.filter(added_at__gte=local_midnight(now))),
        adds_total=_count(adds),
        retained_7d=_count(
            adds.filter(added_at__lte=now - RETAINED_AFTER).filter(_relation([FollowRelation.Status.ACTIVE]))
        ),
        lost=_count(adds.filter(_relation(LOST))),
    )


def channel_codes_decorate(codes: list[ChannelCode], *, now: datetime | None = None) -> list[ChannelCode]:
    """Give each code (members prefetched) ``today_by_member`` ({userid: adds today}) and ``rota`` (who takes
    the adds now), in one query for all of them."""
    today = adds_today_by_member([code.pk for code in codes], now=now)
    for code in codes:
        code.today_by_member = today.get(code.pk, {})
        code.rota = rota_of(members=code.members.all(), adds_today=code.today_by_member)
    return codes


def channel_codes_queryset(*, active: bool | None = None, now: datetime | None = None) -> QuerySet[ChannelCode]:
    """Codes newest first, with their members and figures (``with_figures``)."""
    codes = ChannelCode.objects.prefetch_related("members").select_related("created_by").order_by("-created_at", "-pk")
    if active is not None:
        codes = codes.filter(is_active=active)
    return with_figures(codes, now=now)


def channel_codes_list(*, active: bool | None = None, now: datetime | None = None) -> list[ChannelCode]:
    """Every code with its members, figures, today's adds per member and rota: four queries, however many."""
    now = now or timezone.now()
    return channel_codes_decorate(list(channel_codes_queryset(active=active, now=now)), now=now)


def channel_codes_full_without_backup(*, now: datetime | None = None) -> list[ChannelCode]:
    """Active codes whose every rota member reached today's limit with no backup to stand in (the admin warns)."""
    codes = list(ChannelCode.objects.filter(is_active=True).prefetch_related("members").order_by("name", "pk"))
    return [code for code in channel_codes_decorate(codes, now=now) if code.rota.full_without_backup]


def channel_code_get(*, pk: int, now: datetime | None = None) -> ChannelCode:
    """One code as ``channel_codes_list`` gives it (raises ``ChannelCode.DoesNotExist``)."""
    now = now or timezone.now()
    return channel_codes_decorate([channel_codes_queryset(now=now).get(pk=pk)], now=now)[0]


# ---- per-code figures ----------------------------------------------------------------------------------------


def _figures(now: datetime) -> dict:
    matured = Q(added_at__lte=now - RETAINED_AFTER)
    return {
        "adds": Count("pk"),
        "matured": Count("pk", filter=matured),  # old enough to count as retained or not
        "retained_7d": Count("pk", filter=matured & Q(active_relation=True)),
        "lost": Count("pk", filter=Q(lost_relation=True)),
    }


def _blank() -> dict[str, int]:
    return {"adds": 0, "matured": 0, "retained_7d": 0, "lost": 0}


def channel_code_stats(
    *, code: ChannelCode, date_from: date, date_to: date, now: datetime | None = None
) -> dict[str, object]:
    """The adds through ``code`` on the local days ``date_from``..``date_to`` (inclusive): totals, per member
    (every current member, and anyone else who took adds), and per day (every day of the range). Each figure:
    ``adds``, ``matured`` (adds at least 7 days old), ``retained_7d`` (of those, still friends), ``lost``."""
    now = now or timezone.now()
    zone = local_zone()
    start = datetime.combine(date_from, time.min, tzinfo=zone)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
    adds = ChannelCodeAdd.objects.filter(code=code, added_at__gte=start, added_at__lt=end).annotate(
        active_relation=_relation([FollowRelation.Status.ACTIVE]), lost_relation=_relation(LOST)
    )
    figures = _figures(now)
    totals = adds.aggregate(**figures)

    per_member = {member.userid: _blank() for member in code.members.all()}
    for row in adds.values("userid").annotate(**figures).order_by("userid"):
        per_member[row.pop("userid")] = row

    per_day = {date_from + timedelta(days=n): _blank() for n in range((date_to - date_from).days + 1)}
    for row in adds.annotate(day=TruncDate("added_at", tzinfo=zone)).values("day").annotate(**figures).order_by("day"):
        per_day[row.pop("day")] = row

    return {
        "code": code.pk,
        "date_from": date_from,
        "date_to": date_to,
        "totals": totals,
        "members": [{"userid": userid, **values} for userid, values in per_member.items()],
        "days": [{"date": day, **values} for day, values in per_day.items()],
    }
