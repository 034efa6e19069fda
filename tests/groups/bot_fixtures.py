"""Bots for the bots tests: employees, groups, and bots with some groups already assigned.

Import the fixtures you use into the test module (``from tests.groups.bot_fixtures import corp_fixture``)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from customers.services.wecom import employee_upsert
from groups.models import Bot, BotGroup, CustomerGroup
from groups.services import group_update_fields
from groups.services.bots import bot_create, bot_groups_assign
from scrm.core.models import AuditLog
from scrm.core.roles import OPS, SALES

EMPLOYEES = ("bot01", "bot02", "bot03", "bot04", "zhangsan")


def make_groups(count: int, *, prefix: str = "wrG", owner: str = "zhangsan", start: int = 1) -> list[CustomerGroup]:
    return [
        group_update_fields(chat_id=f"{prefix}{n:03d}", name=f"{prefix}群{n}", owner_userid=owner)
        for n in range(start, start + count)
    ]


def make_bot(userid: str, *, capacity: int | None = None, groups=(), **values) -> Bot:
    bot = bot_create(userid=userid, capacity=capacity, actor=None, **values)
    if groups:
        bot_groups_assign(bot=bot, group_ids=[g.pk for g in groups], actor=None)
    return bot


def ids(groups) -> list[int]:
    return [g.pk for g in groups]


def counts() -> dict[str, tuple[int, int]]:
    """Each bot's (group_count, BotGroup rows): the two must always agree."""
    return {
        bot.userid: (bot.group_count, BotGroup.objects.filter(bot=bot).count()) for bot in Bot.objects.order_by("pk")
    }


def audits(action: str | None = None) -> list[tuple[str, str]]:
    rows = AuditLog.objects.filter(target_type="groups.bot").order_by("pk")
    if action:
        rows = rows.filter(action=action)
    return list(rows.values_list("action", "target_repr"))


@dataclass
class Corp:
    ops: object
    sales: object


@pytest.fixture(name="corp")
def corp_fixture(make_user) -> Corp:
    for userid in EMPLOYEES:
        employee_upsert(userid=userid, name=userid.upper())
    return Corp(ops=make_user("ops1", role=OPS, is_staff=True), sales=make_user("sales1", role=SALES, is_staff=True))
