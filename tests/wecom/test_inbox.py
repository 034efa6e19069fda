"""Inbox processing: claim once, handlers and status in one transaction, failures kept, retried and replayable."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection, transaction
from django.utils import timezone

from customers.models import FollowRelation
from scrm.core.models import Heartbeat
from scrm.core.roles import OPS
from scrm.wecom import dispatch
from scrm.wecom.events import parse_event
from scrm.wecom.models import InboxEvent
from scrm.wecom.services import (
    MAX_ATTEMPTS,
    STALE_CLAIM,
    inbox_drain,
    inbox_event_process,
    inbox_event_receive,
    inbox_events_due,
    inbox_events_replay,
    retry_delay,
)
from tests.helpers import event_xml, wait_until

XML = event_xml("change_external_contact", "del_follow_user", UserID="zhangsan", ExternalUserID="wm9")


@pytest.fixture
def handled():
    """A handler with a visible, transactional effect (a Heartbeat row per call), registered for the test."""
    calls = []

    def handler(event):
        calls.append(event.get("ExternalUserID"))
        Heartbeat.objects.create(key=f"handled:{len(calls)}", seen_at=timezone.now())

    dispatch.register("change_external_contact", "del_follow_user")(handler)
    yield calls
    dispatch.unregister("change_external_contact", "del_follow_user", handler)


@pytest.fixture
def failing():
    state = {"fail": True}

    def handler(event):
        Heartbeat.objects.create(key="half-done", seen_at=timezone.now())
        if state["fail"]:
            raise RuntimeError("customers service unavailable")

    dispatch.register("change_external_contact", "del_follow_user")(handler)
    yield state
    dispatch.unregister("change_external_contact", "del_follow_user", handler)


def receive(xml=XML) -> InboxEvent:
    event_id, _ = inbox_event_receive(raw_xml=xml, event=parse_event(xml))
    return InboxEvent.objects.get(pk=event_id)


@pytest.mark.django_db
def test_processing_runs_the_handler_once(handled):
    row = receive()

    assert inbox_event_process(event_id=row.pk) == "done"
    assert inbox_event_process(event_id=row.pk) is None  # already done: not claimable

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("done", 1, "")
    assert handled == ["wm9"]
    assert Heartbeat.objects.count() == 1


@pytest.mark.django_db
def test_event_without_handler_is_kept_as_unhandled():
    row = receive(event_xml("change_external_chat", "some_future_type", ChatId="wr1"))

    assert inbox_event_process(event_id=row.pk) == "unhandled"
    row.refresh_from_db()
    assert row.status == "unhandled"
    assert row.next_attempt_at is None


@pytest.mark.django_db
def test_failure_rolls_back_the_handler_and_keeps_the_error(failing):
    row = receive()
    now = timezone.now()

    assert inbox_event_process(event_id=row.pk, now=now) == "failed"

    row.refresh_from_db()
    assert row.status == "failed"
    assert row.attempts == 1
    assert "RuntimeError: customers service unavailable" in row.last_error
    assert row.next_attempt_at == now + retry_delay(1)
    assert Heartbeat.objects.count() == 0  # the half-done write was rolled back


@pytest.mark.django_db
def test_failed_event_is_retried_with_backoff_then_succeeds(failing):
    row = receive()
    start = timezone.now()
    inbox_event_process(event_id=row.pk, now=start)

    assert inbox_events_due(now=start + retry_delay(1) - timedelta(seconds=1)) == []
    assert inbox_event_process(event_id=row.pk, now=start + timedelta(seconds=1)) is None  # not due yet

    failing["fail"] = False
    later = start + retry_delay(1)
    assert inbox_events_due(now=later) == [row.pk]
    assert inbox_event_process(event_id=row.pk, now=later) == "done"
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("done", 2)
    assert Heartbeat.objects.filter(key="half-done").count() == 1


def test_backoff_grows_and_is_capped():
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert retry_delay(20) == timedelta(hours=1)


@pytest.mark.django_db
def test_retries_stop_after_max_attempts_until_replayed(failing):
    row = receive()
    now = timezone.now()
    InboxEvent.objects.filter(pk=row.pk).update(attempts=MAX_ATTEMPTS - 1)

    assert inbox_event_process(event_id=row.pk, now=now) == "failed"

    row.refresh_from_db()
    assert row.attempts == MAX_ATTEMPTS
    assert row.next_attempt_at is None
    assert inbox_events_due(now=now + timedelta(days=1)) == []


@pytest.mark.django_db
def test_event_stuck_with_a_dead_worker_is_taken_back():
    row = receive()
    now = timezone.now()
    InboxEvent.objects.filter(pk=row.pk).update(status="processing", claimed_at=now - STALE_CLAIM - timedelta(1))

    assert inbox_events_due(now=now) == [row.pk]
    row.refresh_from_db()
    assert (row.status, row.last_error) == ("failed", "worker stopped while processing")


@pytest.mark.django_db
def test_concurrent_claims_process_once(handled):
    row = receive()

    results = [inbox_event_process(event_id=row.pk) for _ in range(3)]

    assert results == ["done", None, None]
    assert handled == ["wm9"]


@pytest.mark.django_db
def test_replay_requeues_done_and_failed_events_but_not_processing_ones(handled, django_capture_on_commit_callbacks):
    done, busy = receive(), receive(event_xml("change_external_chat", "some_future_type", ChatId="wr2"))
    inbox_event_process(event_id=done.pk)
    InboxEvent.objects.filter(pk=busy.pk).update(status="processing")

    with django_capture_on_commit_callbacks() as callbacks:
        count = inbox_events_replay(event_ids=[done.pk, busy.pk])

    assert count == 1
    assert len(callbacks) == 1
    assert InboxEvent.objects.get(pk=done.pk).status == "pending"
    assert InboxEvent.objects.get(pk=busy.pk).status == "processing"
    assert inbox_event_process(event_id=done.pk) == "done"
    assert handled == ["wm9", "wm9"]


@pytest.mark.django_db
def test_admin_replay_action(client, failing, django_capture_on_commit_callbacks):
    row = receive()
    inbox_event_process(event_id=row.pk)
    ops = User.objects.create_user("ops1", password="pw-12345!", is_staff=True)
    ops.groups.add(Group.objects.get(name=OPS))
    client.force_login(ops)

    listing = client.get("/admin/wecom/inboxevent/?status__exact=failed")
    with django_capture_on_commit_callbacks(execute=False):
        replayed = client.post(
            "/admin/wecom/inboxevent/", {"action": "replay", "_selected_action": [row.pk]}, follow=True
        )

    assert listing.status_code == 200
    assert "customers service unavailable" in listing.content.decode()
    assert replayed.status_code == 200
    assert InboxEvent.objects.get(pk=row.pk).status == "pending"


@pytest.mark.django_db(transaction=True)
def test_callback_to_worker_end_to_end(celery_worker, post_callback):
    xml = event_xml("change_external_contact", "del_follow_user", UserID="lisi", ExternalUserID="wmGone")
    response = post_callback(xml)

    assert response.status_code == 200
    row = wait_until(lambda: InboxEvent.objects.filter(status="done").first())
    assert row is not None, list(InboxEvent.objects.values("status", "last_error"))
    assert (row.event, row.change_type, row.attempts) == ("change_external_contact", "del_follow_user", 1)
    assert InboxEvent.objects.count() == 1
    # the worker ran the customers handler: the relation is kept, marked as deleted by the customer
    assert list(FollowRelation.objects.values_list("contact__external_userid", "status")) == [
        ("wmGone", "deleted_by_customer")
    ]


# ---- draining: batches, kicks, concurrent drains -----------------------------------------------------------------


def receive_many(count: int, start: int = 0) -> list[InboxEvent]:
    return [
        receive(event_xml("change_external_contact", "del_follow_user", UserID="zhangsan", ExternalUserID=f"wm{n}"))
        for n in range(start, start + count)
    ]


@pytest.mark.django_db
def test_drain_processes_every_due_event_in_batches_oldest_first(handled, django_assert_max_num_queries):
    receive_many(7)
    not_due = receive(event_xml("change_external_contact", "del_follow_user", UserID="zhangsan", ExternalUserID="x"))
    InboxEvent.objects.filter(pk=not_due.pk).update(status="failed", next_attempt_at=timezone.now() + timedelta(1))

    assert inbox_drain(batch=3) == 7

    assert handled == [f"wm{n}" for n in range(7)]
    assert InboxEvent.objects.filter(status="done", attempts=1).count() == 7
    assert InboxEvent.objects.get(pk=not_due.pk).status == "failed"  # its backoff has not passed
    assert inbox_drain() == 0


@pytest.mark.django_db
def test_drain_keeps_a_failure_to_itself(handled):
    rows = receive_many(3)

    def fail_second(event):
        if len(handled) == 2:
            raise RuntimeError("boom")

    dispatch.register("change_external_contact", "del_follow_user")(fail_second)
    try:
        assert inbox_drain() == 3
    finally:
        dispatch.unregister("change_external_contact", "del_follow_user", fail_second)

    statuses = dict(InboxEvent.objects.values_list("pk", "status"))
    assert [statuses[row.pk] for row in rows] == ["done", "failed", "done"]
    assert sorted(Heartbeat.objects.values_list("key", flat=True)) == ["handled:1", "handled:3"]  # 2 rolled back


@pytest.mark.django_db
def test_a_burst_enqueues_one_drain_until_it_finishes(enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        receive_many(5)
    assert enqueued == ["drain"]

    assert inbox_drain() == 5  # finished: the next event needs a drain of its own
    with django_capture_on_commit_callbacks(execute=True):
        receive_many(1, start=5)
    assert enqueued == ["drain", "drain"]


@pytest.mark.django_db
def test_a_drain_past_its_budget_hands_over_to_a_new_one(handled, enqueued):
    receive_many(5)

    assert inbox_drain(batch=2, budget=timedelta(0)) == 2

    assert enqueued == ["drain"]
    assert InboxEvent.objects.filter(status="pending").count() == 3


@pytest.mark.django_db
def test_the_beat_tick_drains_what_is_due(handled):
    from scrm.wecom.tasks import retry_due_inbox_events

    receive_many(2)  # as if their drain had been lost with the broker

    retry_due_inbox_events()

    assert InboxEvent.objects.filter(status="done").count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_drains_claim_different_events(enqueued):
    from scrm.wecom.services import _claim

    receive_many(6)  # not kicked (``enqueued``): a session worker would otherwise drain them
    now = timezone.now()
    with transaction.atomic():
        first = _claim(now=now, limit=4)  # locked until this transaction ends
        other = {}
        thread = threading.Thread(target=lambda: other.update(rows=_claim(now=now, limit=4)) or connection.close())
        thread.start()
        thread.join(10)

    assert len(first) == 4 and len(other["rows"]) == 2
    assert not {row.pk for row in first} & {row.pk for row in other["rows"]}


@pytest.mark.django_db
def test_drain_applies_a_run_of_follow_events_together(django_assert_max_num_queries):
    receive_many(50)  # the customers app's own del_follow_user handler, which has a batch form

    # one by one: a dozen per event, 600; +3 for the loss alerts, +4 to reconcile the tags the relations showed
    with django_assert_max_num_queries(34):
        assert inbox_drain() == 50

    assert InboxEvent.objects.filter(status="done", attempts=1).count() == 50
    assert FollowRelation.objects.filter(status="deleted_by_customer").count() == 50


@pytest.mark.django_db
def test_a_failing_batch_falls_back_to_one_by_one_and_the_failure_stays_with_its_event():
    receive_many(4)
    bad = receive(event_xml("change_external_contact", "del_follow_user", UserID="u" * 65, ExternalUserID="wmX"))

    assert inbox_drain() == 5

    assert InboxEvent.objects.filter(status="done").count() == 4
    bad.refresh_from_db()
    assert bad.status == "failed" and "userid" in bad.last_error
    assert FollowRelation.objects.count() == 4


# ---- the kick memo (WECOM_INBOX_KICK_MEMO, off in the test settings) ---------------------------------------------


@pytest.fixture
def kick_memo(settings, monkeypatch):
    from scrm.wecom import services

    settings.WECOM_INBOX_KICK_MEMO = 2.0  # long enough for the race below to be sure to happen inside it
    monkeypatch.setattr(services, "_kick_seen_at", float("-inf"))  # what an earlier test's kicks left
    return settings.WECOM_INBOX_KICK_MEMO


@pytest.mark.django_db
def test_with_the_memo_a_burst_asks_redis_once(kick_memo, enqueued, django_capture_on_commit_callbacks, monkeypatch):
    from scrm.wecom import services

    asked = []
    real_add = services.cache.add
    monkeypatch.setattr(
        services.cache, "add", lambda *args, **kwargs: asked.append(args[0]) or real_add(*args, **kwargs)
    )
    with django_capture_on_commit_callbacks(execute=True):
        receive_many(5)

    assert (asked, enqueued) == ([services.KICK_KEY], ["drain"])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_whose_kick_the_memo_skipped_is_found_by_the_finishing_drain(kick_memo, handled, enqueued):
    """The race the memo opens: a drain clears the key just after a callback found it set; that callback's event
    arrives with no kick. The drain waits out the memo before its last look, so the event is not left behind."""
    from django.core.cache import cache

    from scrm.wecom import services

    receive_many(1)  # this process finds the key unset, sets it and enqueues a drain, and remembers it
    assert enqueued == ["drain"]
    result = {}
    drain = threading.Thread(target=lambda: result.update(n=inbox_drain()) or connection.close())
    drain.start()
    assert wait_until(lambda: cache.get(services.KICK_KEY) is None, timeout=5)  # the drain found nothing more
    receive_many(1, start=1)  # within the memo: no kick, and nothing enqueued
    drain.join(10)

    assert enqueued == ["drain"]
    assert result["n"] == 2
    assert handled == ["wm0", "wm1"]
    assert InboxEvent.objects.filter(status="done").count() == 2
