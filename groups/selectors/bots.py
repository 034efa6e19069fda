"""Reads of bots: their utilization, the groups each runs, the active groups no bot runs, and the rebalance
proposal (moves that ``groups.services.bots.bot_rebalance_apply`` applies).

A bot's limit is ``min(capacity, SOP_MAX_GROUPS_PER_BOT)``: lowering the setting lowers every bot's limit at
once, and a bot then running more groups than its limit is "over its limit" until the rebalance moves some.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db.models import Case, F, FloatField, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Cast, Least

from groups.models import Bot, BotGroup, CustomerGroup

# A bot this far above the fleet's mean utilization (0.2 = twenty percentage points) is worth relieving.
REBALANCE_MARGIN = 0.2


def bots_with_utilization() -> QuerySet[Bot]:
    """Every bot, annotated with ``limit_now`` (its capacity, lowered by the setting), ``free`` (slots left, 0
    when over its limit) and ``utilization_ratio`` (groups / limit, sortable): one query."""
    limit = Least(F("capacity"), Value(settings.SOP_MAX_GROUPS_PER_BOT), output_field=IntegerField())
    return Bot.objects.annotate(
        limit_now=limit,
        free=Case(
            When(group_count__gte=limit, then=Value(0)),
            default=limit - F("group_count"),
            output_field=IntegerField(),
        ),
        utilization_ratio=Cast(F("group_count"), FloatField()) / Cast(limit, FloatField()),
    ).order_by("userid")


def bot_groups(*, bot: Bot) -> QuerySet[CustomerGroup]:
    """The groups ``bot`` runs, oldest assignment first, the assignment joined in: one query."""
    return (
        CustomerGroup.objects.filter(bot_assignment__bot=bot)
        .select_related("bot_assignment__assigned_by")
        .order_by("bot_assignment__assigned_at", "pk")
    )


def groups_unassigned(*, search: str = "", owner_userid: str = "") -> QuerySet[CustomerGroup]:
    """Normal (not dismissed) groups no bot runs, newest first; ``search`` matches the name or chat id."""
    groups = CustomerGroup.objects.filter(status=CustomerGroup.Status.NORMAL, bot_assignment__isnull=True)
    if search:
        groups = groups.filter(Q(name__icontains=search) | Q(chat_id=search))
    if owner_userid:
        groups = groups.filter(owner_userid=owner_userid)
    return groups.order_by("-created_at", "-pk")


@dataclass(frozen=True)
class RebalanceMove:
    group_id: int
    chat_id: str
    group_name: str
    owner_userid: str
    from_bot_id: int
    from_bot: str
    to_bot_id: int
    to_bot: str
    reason: str  # "over_limit", "inactive" or "above_mean"

    def as_dict(self) -> dict:
        return asdict(self)


REASONS = ("over_limit", "inactive", "above_mean")


@dataclass
class _Load:
    bot: Bot
    count: int

    @property
    def limit(self) -> int:
        return self.bot.limit

    @property
    def utilization(self) -> float:
        return self.count / self.limit


def bot_rebalance_proposal(*, margin: float = REBALANCE_MARGIN) -> list[RebalanceMove]:
    """Moves that bring every bot within its limit and relieve the busiest, to the least-used active bots.

    Groups must leave a bot running more than its limit ("over_limit") and an inactive bot ("inactive"); an
    active bot more than ``margin`` above the mean utilization gives groups away until it is
    down to the mean ("above_mean"). Each group goes to the active bot whose userid owns it if that bot has room,
    else to the least-used active bot with room; a voluntary move never leaves its target busier than its source.
    From a bot, groups whose owner is another bot go first, groups the bot's own userid owns last. Nothing moves
    where no bot has room. Two queries.
    """
    loads = {bot.pk: _Load(bot, bot.group_count) for bot in Bot.objects.order_by("pk")}
    active = [load for load in loads.values() if load.bot.is_active]
    total_limit = sum(load.limit for load in active)
    if not active or not total_limit:
        return []
    # every group, the inactive bots' included: they are to be spread over the active bots
    mean = sum(load.count for load in loads.values()) / total_limit
    owner_bot = {load.bot.userid: load for load in active}

    quota: dict[int, dict[str, int]] = {}  # bot id → reason → how many groups to move away
    for load in loads.values():
        if not load.bot.is_active:
            wanted = {"inactive": load.count}
        else:
            over = max(load.count - load.limit, 0)
            within = load.count - over
            above = within - math.ceil(mean * load.limit) if within / load.limit > mean + margin else 0
            wanted = {"over_limit": over, "above_mean": max(above, 0)}
        if wanted := {reason: n for reason, n in wanted.items() if n > 0}:
            quota[load.bot.pk] = wanted
    if not quota:
        return []

    candidates: dict[int, list[BotGroup]] = defaultdict(list)
    rows = BotGroup.objects.filter(bot_id__in=list(quota)).select_related("group").order_by("-assigned_at", "-pk")
    for row in rows:
        candidates[row.bot_id].append(row)

    moves: list[RebalanceMove] = []
    order = sorted(quota, key=lambda pk: REASONS.index(next(iter(quota[pk]))))  # required moves first
    for bot_id in order:
        source = loads[bot_id]
        groups = sorted(candidates[bot_id], key=lambda row: _leaving_order(row, source, owner_bot))
        for reason in REASONS:
            for _n in range(quota[bot_id].get(reason, 0)):
                if not groups:
                    break
                row = groups[0]
                target = _target(row.group, source, active, owner_bot, required=reason != "above_mean")
                if target is None:
                    break
                groups.pop(0)
                source.count -= 1
                target.count += 1
                moves.append(
                    RebalanceMove(
                        group_id=row.group_id,
                        chat_id=row.group.chat_id,
                        group_name=row.group.name,
                        owner_userid=row.group.owner_userid,
                        from_bot_id=bot_id,
                        from_bot=str(source.bot),
                        to_bot_id=target.bot.pk,
                        to_bot=str(target.bot),
                        reason=reason,
                    )
                )
    return moves


def _leaving_order(row: BotGroup, source: _Load, owner_bot: dict[str, _Load]) -> int:
    owner = row.group.owner_userid
    if owner == source.bot.userid:
        return 2  # the bot is the group's owner: the last to leave
    if owner in owner_bot:
        return 0  # its owner is another bot: move it home first
    return 1


def _target(
    group: CustomerGroup, source: _Load, active: list[_Load], owner_bot: dict[str, _Load], *, required: bool
) -> _Load | None:
    def fits(load: _Load) -> bool:
        if load is source or load.count >= load.limit:
            return False
        # a voluntary move must not make its target busier than its source is after the move
        return required or (load.count + 1) / load.limit <= (source.count - 1) / source.limit

    owner = owner_bot.get(group.owner_userid)
    if owner is not None and fits(owner):
        return owner
    options = [load for load in active if fits(load)]
    return min(options, key=lambda load: (load.utilization, load.bot.pk)) if options else None
