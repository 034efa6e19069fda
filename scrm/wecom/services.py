"""The callback inbox: receive (store once), process (claim, run handlers, record the outcome), retry, replay."""

import hashlib
import logging
import traceback
from contextlib import nullcontext
from datetime import datetime, timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from scrm.wecom.dispatch import handlers_for
from scrm.wecom.events import CallbackEvent
from scrm.wecom.models import InboxEvent

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
# A claim older than this belongs to a worker that died mid-event; the retry tick takes it back.
STALE_CLAIM = timedelta(minutes=10)

Status = InboxEvent.Status


def retry_delay(attempts: int) -> timedelta:
    return min(BASE_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)


def inbox_event_receive(*, raw_xml: str, event: CallbackEvent) -> tuple[InboxEvent, bool]:
    """Store a decrypted callback once. Returns (row, created); a duplicate delivery creates nothing.

    Insert first and let the unique dedupe key refuse a duplicate: a delivery is almost always new, so this is one
    autocommitted INSERT on the hot path (no SELECT, no BEGIN/SAVEPOINT/COMMIT round trips) and stays correct
    when WeCom's retry races the original (one INSERT wins, the other reads the winner's row).
    """
    from scrm.wecom.tasks import process_inbox_event

    dedupe_key = hashlib.sha256(raw_xml.encode()).hexdigest()
    row = InboxEvent(
        dedupe_key=dedupe_key,
        event=event.event[:64],
        change_type=event.change_type[:64],
        payload=event.as_payload(),
        raw_xml=raw_xml,
        next_attempt_at=timezone.now(),
    )
    try:
        # Inside a caller's transaction a savepoint keeps it usable after a refused duplicate; outside one the
        # INSERT commits on its own.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            row.save(force_insert=True)
    except IntegrityError:
        existing = InboxEvent.objects.filter(dedupe_key=dedupe_key).first()
        if existing is None:  # not the dedupe key that refused it
            raise
        return existing, False
    transaction.on_commit(lambda: process_inbox_event.delay(row.pk))  # at once when there is no transaction
    return row, True


def inbox_event_process(*, event_id: int, now: datetime | None = None) -> str | None:
    """Claim the event if it is due, run its handlers in one transaction with the status change.

    Returns the resulting status, or None when the event was not claimable (done, already being processed by
    another worker, or not due yet).
    """
    now = now or timezone.now()
    claimed = InboxEvent.objects.filter(
        pk=event_id, status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now
    ).update(status=Status.PROCESSING, attempts=F("attempts") + 1, claimed_at=now)
    if not claimed:
        return None
    row = InboxEvent.objects.get(pk=event_id)
    event = CallbackEvent.from_payload(row.payload)
    handlers = handlers_for(event)
    try:
        with transaction.atomic():
            for handler in handlers:
                handler(event)
            status = Status.DONE if handlers else Status.UNHANDLED
            InboxEvent.objects.filter(pk=event_id).update(
                status=status, processed_at=timezone.now(), last_error="", next_attempt_at=None
            )
    except Exception as exc:
        exhausted = row.attempts >= MAX_ATTEMPTS
        InboxEvent.objects.filter(pk=event_id).update(
            status=Status.FAILED,
            last_error=_describe(exc),
            next_attempt_at=None if exhausted else now + retry_delay(row.attempts),
        )
        logger.warning(
            "WeCom event %s (%s/%s) failed on attempt %s%s",
            event_id,
            event.event,
            event.change_type,
            row.attempts,
            "; giving up until replayed" if exhausted else "",
            exc_info=True,
        )
        return Status.FAILED
    if not handlers:
        logger.info("WeCom event %s (%s/%s) has no handler yet", event_id, event.event, event.change_type)
    return status


def inbox_events_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Failed events whose backoff has passed, and events stuck with a worker that died: made claimable again."""
    now = now or timezone.now()
    with transaction.atomic():
        InboxEvent.objects.filter(status=Status.PROCESSING, claimed_at__lt=now - STALE_CLAIM).update(
            status=Status.FAILED, next_attempt_at=now, last_error="worker stopped while processing"
        )
    due = InboxEvent.objects.filter(
        Q(status=Status.FAILED) | Q(status=Status.PENDING), next_attempt_at__lte=now
    ).order_by("next_attempt_at")
    return list(due.values_list("pk", flat=True)[:limit])


def inbox_events_replay(*, event_ids: list[int]) -> int:
    """Queue events again (from the admin), whatever their outcome was; not those being processed right now."""
    from scrm.wecom.tasks import process_inbox_event

    with transaction.atomic():
        ids = list(
            InboxEvent.objects.filter(pk__in=event_ids).exclude(status=Status.PROCESSING).values_list("pk", flat=True)
        )
        InboxEvent.objects.filter(pk__in=ids).update(status=Status.PENDING, next_attempt_at=timezone.now())

        def enqueue() -> None:
            for pk in ids:
                process_inbox_event.delay(pk)

        transaction.on_commit(enqueue)
    return len(ids)


def _describe(exc: Exception) -> str:
    return "".join(traceback.format_exception_only(exc)).strip()[:2000]
