"""The bot cap under concurrent assignment: real transactions on PostgreSQL, one connection per thread, all
released together and all queued on the bot's row at once, a few slots free. Exactly as many groups as there
are slots get a bot, the rest are refused whole, and ``group_count`` equals the ``BotGroup`` rows. The CHECK
constraint refuses a raw UPDATE above capacity on every database."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import translation

from groups.models import Bot, BotGroup
from groups.services.bots import bot_groups_assign
from tests.groups.bot_fixtures import corp_fixture, counts, ids, make_bot, make_groups  # noqa: F401
from tests.helpers import is_postgres, wait_until

concurrent = pytest.mark.skipif(
    not is_postgres(),
    reason="concurrent transactions need PostgreSQL: SQLite lets one writer at a time hold the whole database",
)


def waiting_on_locks() -> int:
    """Other sessions of this database blocked on a lock right now."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def assign_concurrently(bot: Bot, batches: list[list[int]]) -> tuple[list[list[int]], list[str]]:
    """One thread per batch, each on its own connection. The bot's row is held locked until every thread is
    blocked on it, so all the conditional UPDATEs really contend; returns (assigned batches, refusals)."""
    barrier = threading.Barrier(len(batches) + 1)
    assigned: list[list[int]] = []
    refused: list[str] = []
    failures: list[BaseException] = []

    def run(batch: list[int]) -> None:
        try:
            Bot.objects.filter(pk=bot.pk).exists()  # connect before the barrier, so all start together
            barrier.wait(timeout=30)
            with translation.override("en"):
                bot_groups_assign(bot=bot, group_ids=batch, actor=None)
            assigned.append(batch)
        except ValidationError as exc:
            refused.append(exc.message_dict["group_ids"][0])
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(batch,)) for batch in batches]
    with transaction.atomic():
        Bot.objects.select_for_update().get(pk=bot.pk)  # hold the row: the threads queue behind this lock
        for thread in threads:
            thread.start()
        barrier.wait(timeout=30)
        queued = wait_until(lambda: waiting_on_locks() >= len(batches), timeout=30)
        assert queued, f"only {waiting_on_locks()} of {len(batches)} assignments were waiting on the bot's row"
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures
    assert not any(thread.is_alive() for thread in threads)
    return assigned, refused


@concurrent
@pytest.mark.django_db(transaction=True)
def test_concurrent_assignments_never_pass_the_capacity(corp):
    bot = make_bot("bot01", capacity=4)
    groups = make_groups(10)

    assigned, refused = assign_concurrently(bot, [[pk] for pk in ids(groups)])

    assert (len(assigned), len(refused)) == (4, 6)
    assert all("has 0 free slots" in message for message in refused)
    assert counts() == {"bot01": (4, 4)}
    assert sorted(BotGroup.objects.values_list("group_id", flat=True)) == sorted(pk for [pk] in assigned)


@concurrent
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_take_all_their_slots_or_none(corp, settings):
    groups = make_groups(13)
    bot = make_bot("bot01", groups=groups[:1])
    settings.SOP_MAX_GROUPS_PER_BOT = 5  # lowered below the capacity (200), which the CHECK knows: 4 slots free
    batches = [ids(groups[n : n + 2]) for n in range(1, 13, 2)]  # six batches of two

    assigned, refused = assign_concurrently(bot, batches)

    assert (len(assigned), len(refused)) == (2, 4)
    assert all("has 0 free slots (it runs 5 of at most 5 groups)" in message for message in refused)
    assert counts() == {"bot01": (5, 5)}
    on_bot = set(BotGroup.objects.values_list("group_id", flat=True))
    assert on_bot == {groups[0].pk, *assigned[0], *assigned[1]}
    for batch in batches:
        assert set(batch) <= on_bot or not set(batch) & on_bot  # never half a batch


@concurrent
@pytest.mark.django_db(transaction=True)
def test_one_group_raced_onto_two_bots_gets_one(corp):
    group = make_groups(1)[0]
    first, second = make_bot("bot01"), make_bot("bot02")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(bot: Bot) -> None:
        try:
            barrier.wait(timeout=30)
            bot_groups_assign(bot=bot, group_ids=[group.pk], actor=None)
            outcomes.append("assigned")
        except ValidationError as exc:
            outcomes.append(next(iter(exc.message_dict)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(bot,)) for bot in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["assigned", "group_ids"]
    assert sorted(counts().values()) == [(0, 0), (1, 1)]


@pytest.mark.django_db
def test_the_check_constraint_refuses_a_count_above_capacity(corp):
    bot = make_bot("bot01", capacity=3, groups=make_groups(3))

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE groups_bot SET group_count = capacity + 1 WHERE id = %s", [bot.pk])
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE groups_bot SET capacity = 2 WHERE id = %s", [bot.pk])

    assert counts() == {"bot01": (3, 3)}
    assert Bot.objects.get().capacity == 3
