"""The callback inbox: receive (store once), drain (claim a batch, run handlers, record each outcome), retry,
replay."""

import functools
import hashlib
import json
import logging
import time
import traceback
from collections import defaultdict
from datetime import datetime, timedelta
from typing import NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from scrm.core.db import commit_without_waiting_for_disk
from scrm.wecom.dispatch import BatchHandler, batch_form, handlers_for
from scrm.wecom.events import CallbackEvent
from scrm.wecom.models import InboxEvent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
# A claim older than this belongs to a worker that died mid-event; the retry tick takes it back.
STALE_CLAIM = timedelta(minutes=10)
DRAIN_BATCH = 250  # events claimed per query
DRAIN_BUDGET = timedelta(seconds=20)  # then the drain hands over to a fresh task
# Pause after a short batch so that the next one is fuller: a batch of 100 costs a fifth of the CPU per event of a
# batch of 5 (worker and database), and a burst of 600/s fills a batch of 250 in 400 ms. The first event of a
# quiet spell does not wait: the drain a callback enqueues claims at once.
DRAIN_GATHER = timedelta(milliseconds=400)
KICK_KEY = "wecom:inbox:drain-queued"
KICK_EXPIRY = 60

Status = InboxEvent.Status


def retry_delay(attempts: int) -> timedelta:
    return min(BASE_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


def inbox_event_receive(*, raw_xml: str, event: CallbackEvent) -> tuple[int, bool]:
    """Store a decrypted callback once. Returns (inbox event id, created); a duplicate delivery creates nothing.

    One ``INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id``, autocommitted outside a transaction: the
    callback's hot path makes no SELECT, no savepoint and no model instance (the ORM's save costs the web worker
    three times the statement itself), and stays correct when WeCom's retry races the original: one INSERT wins,
    the other finds the winner's row.
    """
    dedupe_key = hashlib.sha256(raw_xml.encode()).hexdigest()
    params = [dedupe_key, event.event[:64], event.change_type[:64], json.dumps(event.as_payload()), raw_xml]
    for _ in range(2):  # the second time only if the winner's row vanished in between (a purge)
        with connection.cursor() as cursor:
            cursor.execute(_insert_once_sql(), params)
            inserted = cursor.fetchone()
        if inserted:
            transaction.on_commit(inbox_kick)  # at once when there is no transaction
            return inserted[0], True
        existing = InboxEvent.objects.filter(dedupe_key=dedupe_key).values_list("pk", flat=True).first()
        if existing is not None:
            return existing, False
    raise IntegrityError(f"inbox event {dedupe_key} neither inserted nor found")


@functools.cache
def _insert_once_sql() -> str:
    """The INSERT of ``inbox_event_receive`` (built once per process; the database's own clock for the times)."""
    meta, quote = InboxEvent._meta, connection.ops.quote_name
    now, _ = InboxEvent.objects.none().query.get_compiler(connection=connection).compile(Now())
    columns = {
        "dedupe_key": "%s",
        "event": "%s",
        "change_type": "%s",
        "payload": "%s",
        "raw_xml": "%s",
        "status": f"'{Status.PENDING}'",
        "attempts": "0",
        "last_error": "''",
        "received_at": now,
        "next_attempt_at": now,
    }
    names = ", ".join(quote(meta.get_field(name).column) for name in columns)
    return (
        f"INSERT INTO {quote(meta.db_table)} ({names}) VALUES ({', '.join(columns.values())}) "  # noqa: S608 - names from the model
        f"ON CONFLICT ({quote(meta.get_field('dedupe_key').column)}) DO NOTHING RETURNING {quote(meta.pk.column)}"
    )


# When this process last found the kick key set (time.monotonic(), taken before asking): see inbox_kick.
_kick_seen_at = float("-inf")


def inbox_kick() -> None:
    """Make sure a drain runs after this moment: enqueue one unless one is already queued or running.

    One cache ``add`` (Redis SET NX) instead of one Celery task per event: under a burst the web workers publish
    almost nothing and one drain takes the events in batches. The key stays set while a drain runs; see
    ``inbox_drain`` for why no event is left behind. The expiry only matters if a drain is lost with its worker;
    the beat tick covers that too.

    A process that found the key set skips even that round trip for ``WECOM_INBOX_KICK_MEMO`` seconds (most of a
    callback's Redis cost under a burst): a drain was queued or running then, and every drain waits that long
    between clearing the key and its last look, so it finds what those callbacks stored.
    """
    global _kick_seen_at
    asked = time.monotonic()
    if asked - _kick_seen_at < settings.WECOM_INBOX_KICK_MEMO:
        return
    _drain_enqueue_unless_queued()
    _kick_seen_at = asked


def _drain_enqueue_unless_queued() -> None:
    from scrm.wecom.tasks import drain_inbox

    if cache.add(KICK_KEY, "1", timeout=KICK_EXPIRY):
        drain_inbox.delay()


def inbox_drain(*, batch: int = DRAIN_BATCH, budget: timedelta = DRAIN_BUDGET) -> int:
    """Process due events, a batch claimed at a time, until none are left or ``budget`` is spent; returns how many
    were processed.

    When it finds nothing more, it clears the kick key, waits ``WECOM_INBOX_KICK_MEMO`` and looks once more: an
    event stored before the key was cleared, or by a callback that had found it set less than that long before,
    is found by that last look, and one stored after it enqueues a new drain. A drain out of budget hands
    over to a new task, so other realtime tasks get their turn. Several drains may run at once (the beat tick, a
    replay): each claims rows the others have not locked.
    """
    started, processed = timezone.now(), 0
    while True:
        rows = _claim(now=timezone.now(), limit=batch)
        if not rows:
            cache.delete(KICK_KEY)
            time.sleep(settings.WECOM_INBOX_KICK_MEMO)
            rows = _claim(now=timezone.now(), limit=batch)
            if rows:
                _process_claimed_rows(rows)
            return processed + len(rows)
        _process_claimed_rows(rows)
        processed += len(rows)
        if timezone.now() - started > budget:
            cache.delete(KICK_KEY)
            _drain_enqueue_unless_queued()
            return processed
        if len(rows) < batch:
            time.sleep(DRAIN_GATHER.total_seconds())  # let the next batch gather rather than claim one by one


def inbox_event_process(*, event_id: int, now: datetime | None = None) -> str | None:
    """Claim this one event if it is due, and process it: handlers and status in one transaction.

    Returns the resulting status, or None when the event was not claimable (done, already being processed by
    another worker, or not due yet).
    """
    now = now or timezone.now()
    claimed = InboxEvent.objects.filter(_due(now), pk=event_id).update(
        status=Status.PROCESSING, attempts=F("attempts") + 1, claimed_at=now
    )
    if not claimed:
        return None
    row = InboxEvent.objects.get(pk=event_id)
    return _process_claimed(row, CallbackEvent.from_payload(row.payload), now=now)


def _due(now: datetime) -> Q:
    return Q(status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now)


class Claim(NamedTuple):
    """A claimed event as the drain needs it (plain values: model instances cost more than the rest of a claim)."""

    pk: int
    attempts: int
    payload: dict


def _claim(*, now: datetime, limit: int) -> list[Claim]:
    """Up to ``limit`` due events, oldest first, marked processing. SKIP LOCKED: concurrent drains take
    different rows instead of waiting for each other (SQLite, which serializes writers, ignores it)."""
    with transaction.atomic():
        rows = list(
            InboxEvent.objects.select_for_update(skip_locked=True)
            .filter(_due(now))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", "attempts", "payload")[:limit]
        )
        InboxEvent.objects.filter(pk__in=[pk for pk, _attempts, _payload in rows]).update(
            status=Status.PROCESSING, attempts=F("attempts") + 1, claimed_at=now
        )
    return [Claim(pk, attempts + 1, payload) for pk, attempts, payload in rows]


def _process_claimed_rows(rows: list[Claim]) -> None:
    """Events whose handler has a batch form go together, a transaction per batch form; if a batch fails, its
    events are processed one at a time, so the failure stays with the event that caused it."""
    batches: dict[tuple[BatchHandler, ...], list[tuple[Claim, CallbackEvent]]] = defaultdict(list)
    for row in rows:
        event = CallbackEvent.from_payload(row.payload)
        forms = batch_form(handlers_for(event))
        if forms is None:
            _process_claimed(row, event)
        else:
            batches[forms].append((row, event))
    for forms, items in batches.items():
        if len(items) == 1 or not _process_together(forms, items):
            for row, event in items:
                _process_claimed(row, event)


def _process_together(forms: tuple[BatchHandler, ...], items: list[tuple[Claim, CallbackEvent]]) -> bool:
    events = [event for _row, event in items]
    try:
        with transaction.atomic():
            commit_without_waiting_for_disk()  # as in _process_claimed: the claims are durable
            for apply_batch in forms:
                apply_batch(events)
            _record_success([row.pk for row, _event in items], Status.DONE)
    except Exception:
        logger.info("A batch of %s WeCom events failed; processing them one by one", len(items), exc_info=True)
        return False
    return True


def _process_claimed(row: Claim | InboxEvent, event: CallbackEvent, *, now: datetime | None = None) -> str:
    """Run the handlers of a claimed event in one transaction with its new status; a failure rolls the handlers
    back and records the error with the time of the next attempt."""
    now = now or timezone.now()
    handlers = handlers_for(event)
    try:
        with transaction.atomic():
            # Safe to lose in a crash: the claim is durable, so the event is taken back and handled again.
            commit_without_waiting_for_disk()
            for handler in handlers:
                handler(event)
            status = Status.DONE if handlers else Status.UNHANDLED
            _record_success([row.pk], status)
    except Exception as exc:
        exhausted = row.attempts >= MAX_ATTEMPTS
        InboxEvent.objects.filter(pk=row.pk).update(
            status=Status.FAILED,
            last_error=_describe(exc),
            next_attempt_at=None if exhausted else now + retry_delay(row.attempts),
        )
        logger.warning(
            "WeCom event %s (%s/%s) failed on attempt %s%s",
            row.pk,
            event.event,
            event.change_type,
            row.attempts,
            "; giving up until replayed" if exhausted else "",
            exc_info=True,
        )
        return Status.FAILED
    if not handlers:
        logger.info("WeCom event %s (%s/%s) has no handler yet", row.pk, event.event, event.change_type)
    return status


def _record_success(pks: list[int], status: str) -> None:
    InboxEvent.objects.filter(pk__in=pks).update(
        status=status, processed_at=timezone.now(), last_error="", next_attempt_at=None
    )


def inbox_events_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Failed events whose backoff has passed, and events stuck with a worker that died: made claimable again."""
    now = now or timezone.now()
    with transaction.atomic():
        InboxEvent.objects.filter(status=Status.PROCESSING, claimed_at__lt=now - STALE_CLAIM).update(
            status=Status.FAILED, next_attempt_at=now, last_error="worker stopped while processing"
        )
    due = InboxEvent.objects.filter(_due(now)).order_by("next_attempt_at")
    return list(due.values_list("pk", flat=True)[:limit])


def inbox_events_replay(*, event_ids: list[int]) -> int:
    """Queue events again (from the admin), whatever their outcome was; not those being processed right now."""
    with transaction.atomic():
        ids = list(
            InboxEvent.objects.filter(pk__in=event_ids).exclude(status=Status.PROCESSING).values_list("pk", flat=True)
        )
        InboxEvent.objects.filter(pk__in=ids).update(status=Status.PENDING, next_attempt_at=timezone.now())
        transaction.on_commit(inbox_kick)
    return len(ids)


def _describe(exc: Exception) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()[:2000]
