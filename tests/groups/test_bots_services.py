"""Bot services: bots created and edited within the cap, groups assigned all-or-nothing within the free slots,
released (by hand or when the group is dismissed) and moved, the counter always equal to the rows, ops' changes
audited; the rebalance proposal and its application."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from groups.models import Bot, BotGroup, CustomerGroup
from groups.selectors.bots import bot_groups, bot_rebalance_proposal, bots_with_utilization, groups_unassigned
from groups.services import group_dismiss
from groups.services.bots import (
    bot_create,
    bot_delete,
    bot_groups_assign,
    bot_groups_move,
    bot_groups_release,
    bot_rebalance_apply,
    bot_update,
)
from tests.groups.bot_fixtures import audits, corp_fixture, counts, ids, make_bot, make_groups  # noqa: F401

pytestmark = pytest.mark.django_db

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def refusal(call, **kwargs) -> dict[str, list[str]]:
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        call(**kwargs)
    return caught.value.message_dict


# ---- bots ---------------------------------------------------------------------------------------------------


def test_create_with_the_default_capacity_audited(corp):
    bot = bot_create(userid=" bot01 ", name="一号机", actor=corp.ops)

    bot.refresh_from_db()
    assert (bot.userid, bot.name, bot.capacity, bot.group_count, bot.is_active) == ("bot01", "一号机", 200, 0, True)
    assert (bot.limit, bot.utilization) == (200, 0.0)
    assert audits() == [("create", "一号机 (bot01)")]


def test_create_refuses_an_unknown_employee_a_capacity_above_the_cap_and_a_second_bot(corp, settings):
    settings.SOP_MAX_GROUPS_PER_BOT = 150
    make_bot("bot01")

    assert list(refusal(bot_create, userid="ghost", actor=corp.ops)) == ["userid"]
    assert "No employee has the userid ghost" in refusal(bot_create, userid="ghost", actor=corp.ops)["userid"][0]
    too_many = refusal(bot_create, userid="bot02", capacity=151, actor=corp.ops)
    assert too_many == {"capacity": ["A bot may run at most 150 groups (SOP_MAX_GROUPS_PER_BOT)."]}
    assert list(refusal(bot_create, userid="bot02", capacity=0, actor=corp.ops)) == ["capacity"]
    assert list(refusal(bot_create, userid="bot01", actor=corp.ops)) == ["userid"]
    assert list(Bot.objects.values_list("userid", flat=True)) == ["bot01"]
    assert audits() == [("create", "bot01")]


def test_update_keeps_capacity_between_the_groups_run_and_the_cap(corp, settings):
    bot = make_bot("bot01", capacity=10, groups=make_groups(3))

    below = refusal(bot_update, bot=bot, capacity=2, actor=corp.ops)
    assert below == {"capacity": ["This bot runs 3 groups: move some away before lowering its capacity."]}
    assert list(refusal(bot_update, bot=bot, capacity=201, actor=corp.ops)) == ["capacity"]
    assert list(refusal(bot_update, bot=bot, userid="ghost", actor=corp.ops)) == ["userid"]
    assert list(refusal(bot_update, bot=bot, group_count=0, actor=corp.ops)) == ["group_count"]
    assert Bot.objects.get().capacity == 10

    assert bot_update(bot=bot, capacity=3, name="满载", actor=corp.ops) == ["capacity", "name"]
    assert bot_update(bot=bot, capacity=3, actor=corp.ops) == []
    assert (bot.capacity, bot.name, bot.group_count) == (3, "满载", 3)

    # The setting lowered below the capacity: the bot's limit follows it, and other fields stay editable.
    settings.SOP_MAX_GROUPS_PER_BOT = 2
    assert bot_update(bot=bot, note="over the new cap", actor=corp.ops) == ["note"]
    assert Bot.objects.get().limit == 2
    assert [action for action, _ in audits()] == ["create", "assign_groups", "update", "update"]


def test_delete_is_refused_while_the_bot_runs_groups(corp):
    groups = make_groups(2)
    bot = make_bot("bot01", groups=groups)

    assert refusal(bot_delete, bot=bot, actor=corp.ops) == {
        "groups": ["This bot runs 2 groups: release or move them before deleting the bot."]
    }
    assert counts() == {"bot01": (2, 2)}

    assert bot_groups_release(group_ids=ids(groups), actor=corp.ops) == 2
    bot_delete(bot=bot, actor=corp.ops)
    assert Bot.objects.count() == 0
    assert [action for action, _ in audits()] == ["create", "assign_groups", "release_groups", "delete"]


# ---- assigning ----------------------------------------------------------------------------------------------


def test_assign_takes_one_slot_per_new_group_and_is_idempotent(corp):
    groups = make_groups(3)
    bot = make_bot("bot01", capacity=5)

    assert bot_groups_assign(bot=bot, group_ids=[groups[0].pk, groups[1].pk, groups[1].pk], actor=corp.ops) == 2
    assert bot.group_count == 2
    assert bot_groups_assign(bot=bot, group_ids=ids(groups), actor=corp.ops) == 1
    assert bot_groups_assign(bot=bot, group_ids=ids(groups), actor=corp.ops) == 0

    assert counts() == {"bot01": (3, 3)}
    assert set(BotGroup.objects.values_list("assigned_by__username", flat=True)) == {"ops1"}
    assert audits("assign_groups") == [("assign_groups", "bot01")] * 2


def test_a_batch_larger_than_the_free_slots_assigns_nothing(corp):
    bot = make_bot("bot01", capacity=5, groups=make_groups(3))
    more = make_groups(3, start=10)

    refused = refusal(bot_groups_assign, bot=bot, group_ids=ids(more), actor=corp.ops)

    assert refused == {
        "group_ids": ["Bot bot01 has 2 free slots (it runs 3 of at most 5 groups), not enough for 3: nothing changed."]
    }
    assert counts() == {"bot01": (3, 3)}
    assert len(audits("assign_groups")) == 1
    assert bot_groups_assign(bot=bot, group_ids=ids(more[:2]), actor=corp.ops) == 2
    assert counts() == {"bot01": (5, 5)}
    assert (
        "has 0 free slots"
        in refusal(bot_groups_assign, bot=bot, group_ids=[more[2].pk], actor=corp.ops)["group_ids"][0]
    )


def test_the_setting_lowers_every_bots_limit(corp, settings):
    bot = make_bot("bot01", capacity=5)
    settings.SOP_MAX_GROUPS_PER_BOT = 3
    groups = make_groups(4)

    assert (
        "of at most 3 groups" in refusal(bot_groups_assign, bot=bot, group_ids=ids(groups), actor=None)["group_ids"][0]
    )
    assert bot_groups_assign(bot=bot, group_ids=ids(groups[:3]), actor=None) == 3
    assert counts() == {"bot01": (3, 3)}


def test_assign_refuses_dismissed_unknown_and_other_bots_groups_and_inactive_bots(corp):
    one, two, three = make_groups(3)
    other = make_bot("bot02", groups=[two])
    bot = make_bot("bot01")
    group_dismiss(chat_id=three.chat_id, at=T0)

    dismissed = refusal(bot_groups_assign, bot=bot, group_ids=[one.pk, three.pk], actor=corp.ops)
    assert dismissed == {"group_ids": ["Dismissed groups cannot be assigned: wrG群3."]}
    taken = refusal(bot_groups_assign, bot=bot, group_ids=[one.pk, two.pk], actor=corp.ops)
    assert taken == {"group_ids": ["Already run by another bot (move them instead): wrG群2 (bot02)."]}
    assert refusal(bot_groups_assign, bot=bot, group_ids=[one.pk, 999999], actor=corp.ops) == {
        "group_ids": ["Unknown groups: 999999."]
    }
    assert list(refusal(bot_groups_assign, bot=bot, group_ids=[], actor=corp.ops)) == ["group_ids"]
    assert list(refusal(bot_groups_assign, bot=bot, group_ids="1,2", actor=corp.ops)) == ["group_ids"]
    bot_update(bot=bot, is_active=False, actor=corp.ops)
    assert refusal(bot_groups_assign, bot=bot, group_ids=[one.pk], actor=corp.ops) == {
        "bot": ["Bot bot01 is inactive: activate it before giving it groups."]
    }

    assert counts() == {"bot02": (1, 1), "bot01": (0, 0)}
    assert BotGroup.objects.get().bot == other


# ---- releasing and moving -----------------------------------------------------------------------------------


def test_release_gives_the_slots_back(corp):
    groups = make_groups(4)
    bot = make_bot("bot01", groups=groups[:3])
    other = make_bot("bot02", groups=groups[3:])

    assert bot_groups_release(group_ids=ids(groups[:2]), actor=corp.ops) == 2
    assert bot_groups_release(group_ids=ids(groups[:2]), actor=corp.ops) == 0
    assert counts() == {"bot01": (1, 1), "bot02": (1, 1)}

    refused = refusal(bot_groups_release, bot=bot, group_ids=ids(groups[2:]), actor=corp.ops)
    assert refused == {"group_ids": ["Run by another bot: wrG群4."]}
    assert bot_groups_release(bot=other, group_ids=ids(groups[3:]), actor=corp.ops) == 1
    assert counts() == {"bot01": (1, 1), "bot02": (0, 0)}
    assert audits("release_groups") == [("release_groups", "bot01"), ("release_groups", "bot02")]


def test_a_dismissed_group_releases_its_slot(corp):
    groups = make_groups(2)
    make_bot("bot01", capacity=2, groups=groups)

    group_dismiss(chat_id=groups[0].chat_id, at=T0)
    group_dismiss(chat_id=groups[0].chat_id, at=T0)  # the callback again: nothing more

    assert counts() == {"bot01": (1, 1)}
    assert CustomerGroup.objects.get(pk=groups[0].pk).status == CustomerGroup.Status.DISMISSED
    assert audits("release_groups") == [("release_groups", "bot01")]


def test_move_within_the_targets_free_slots(corp):
    groups = make_groups(4)
    source = make_bot("bot01", groups=groups[:3])
    target = make_bot("bot02", capacity=3, groups=groups[3:])
    unassigned = make_groups(1, start=20)[0]

    assert bot_groups_move(group_ids=ids(groups[:2]), to_bot=target, from_bot=source, actor=corp.ops) == 2
    assert counts() == {"bot01": (1, 1), "bot02": (3, 3)}
    assert target.group_count == 3
    assert set(BotGroup.objects.filter(bot=target).values_list("group_id", flat=True)) == {
        groups[0].pk,
        groups[1].pk,
        groups[3].pk,
    }

    full = refusal(bot_groups_move, group_ids=[groups[2].pk], to_bot=target, actor=corp.ops)
    assert "has 0 free slots" in full["group_ids"][0]
    stale = refusal(bot_groups_move, group_ids=[groups[3].pk], to_bot=source, from_bot=make_bot("bot03"), actor=None)
    assert stale == {"group_ids": ["No longer run by bot03: wrG群4."]}
    assert refusal(bot_groups_move, group_ids=[unassigned.pk], to_bot=target, actor=None) == {
        "group_ids": ["No bot runs these groups (assign them): wrG群20."]
    }
    assert counts() == {"bot01": (1, 1), "bot02": (3, 3), "bot03": (0, 0)}
    assert audits("move_groups_out") == [("move_groups_out", "bot01")]
    assert audits("move_groups_in") == [("move_groups_in", "bot02")]


# ---- rebalance ----------------------------------------------------------------------------------------------


def test_rebalance_spreads_the_busiest_bot_over_the_least_used(corp, settings):
    settings.SOP_MAX_GROUPS_PER_BOT = 10
    busy = make_bot("bot01", groups=make_groups(9, owner="zhangsan") + make_groups(1, owner="bot03", start=50))
    idle = make_bot("bot02")
    some = make_bot("bot03", groups=make_groups(2, prefix="wrS"))

    moves = bot_rebalance_proposal()

    # mean 12/30 = 0.4; bot01 at 1.0 goes down to 4; bot03's own group goes home first
    assert [(m.from_bot_id, m.reason) for m in moves] == [(busy.pk, "above_mean")] * 6
    assert moves[0].chat_id == "wrG050" and moves[0].to_bot_id == some.pk
    assert sorted(m.to_bot_id for m in moves).count(idle.pk) == 4

    assert bot_rebalance_apply(moves=[m.as_dict() for m in moves], actor=corp.ops) == 6
    assert counts() == {"bot01": (4, 4), "bot02": (4, 4), "bot03": (4, 4)}
    assert bot_rebalance_proposal() == []
    assert bot_rebalance_apply(moves=[m.as_dict() for m in moves], actor=corp.ops) == 0  # applied already


def test_rebalance_moves_groups_off_bots_over_their_limit_and_inactive_bots_where_there_is_room(corp, settings):
    busy = make_bot("bot01", capacity=10, groups=make_groups(10))
    other = make_bot("bot02", capacity=10, groups=make_groups(4, prefix="wrB"))
    resting = make_bot("bot03", capacity=10, groups=make_groups(3, prefix="wrR"))
    bot_update(bot=resting, is_active=False, actor=None)
    settings.SOP_MAX_GROUPS_PER_BOT = 8  # bot01 is now 2 over its limit

    moves = bot_rebalance_proposal()

    # 17 groups for 16 slots: what must move moves while there is room, the last of bot03's groups stays
    reasons = [(m.from_bot_id, m.to_bot_id, m.reason) for m in moves]
    assert reasons == [(busy.pk, other.pk, "over_limit")] * 2 + [(resting.pk, other.pk, "inactive")] * 2
    assert bot_rebalance_apply(moves=[m.as_dict() for m in moves], actor=corp.ops) == 4
    assert counts() == {"bot01": (8, 8), "bot02": (8, 8), "bot03": (1, 1)}


def test_a_stale_rebalance_applies_nothing(corp, settings):
    settings.SOP_MAX_GROUPS_PER_BOT = 4
    groups = make_groups(4)
    make_bot("bot01", groups=groups)
    second = make_bot("bot02")
    third = make_bot("bot03")
    moves = [m.as_dict() for m in bot_rebalance_proposal()]
    assert [m["to_bot_id"] for m in moves] == [second.pk, third.pk]
    bot_groups_move(group_ids=[moves[1]["group_id"]], to_bot=second, actor=corp.ops)  # not where it was proposed
    before = counts()

    refused = refusal(bot_rebalance_apply, moves=moves, actor=corp.ops)

    assert list(refused) == ["moves"] and "No longer run by bot01" in refused["moves"][0]
    assert counts() == before
    assert list(refusal(bot_rebalance_apply, moves=[{"group_id": 1}], actor=corp.ops)) == ["moves"]
    assert list(refusal(bot_rebalance_apply, moves=[], actor=corp.ops)) == ["moves"]


# ---- selectors ----------------------------------------------------------------------------------------------


def test_selectors_with_their_query_counts(corp, settings, django_assert_num_queries):
    groups = make_groups(4)
    busy = make_bot("bot01", capacity=10, groups=groups[:3])
    make_bot("bot02", capacity=4)
    group_dismiss(chat_id=groups[3].chat_id, at=T0)
    make_groups(1, start=9, owner="lisi")
    settings.SOP_MAX_GROUPS_PER_BOT = 2

    with django_assert_num_queries(1):
        rows = [(b.userid, b.limit_now, b.free, b.utilization_ratio) for b in bots_with_utilization()]
    assert rows == [("bot01", 2, 0, 1.5), ("bot02", 2, 2, 0.0)]
    with django_assert_num_queries(1):
        shown = [(g.chat_id, g.bot_assignment.assigned_at is not None) for g in bot_groups(bot=busy)]
    assert shown == [("wrG001", True), ("wrG002", True), ("wrG003", True)]
    assert [g.chat_id for g in groups_unassigned()] == ["wrG009"]  # not the dismissed one
    assert [g.chat_id for g in groups_unassigned(owner_userid="zhangsan")] == []
    assert [g.chat_id for g in groups_unassigned(search="群9")] == ["wrG009"]
    with django_assert_num_queries(2):
        moves = bot_rebalance_proposal()
    assert [(m.reason, m.to_bot) for m in moves] == [("over_limit", "bot02")]
