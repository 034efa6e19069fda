from celery import shared_task

from scrm.wecom.services import inbox_event_process, inbox_events_due


@shared_task(ignore_result=True)
def process_inbox_event(event_id: int) -> None:
    inbox_event_process(event_id=event_id)


@shared_task(ignore_result=True)
def retry_due_inbox_events() -> None:
    """Beat tick: re-enqueue failed events whose backoff has passed (schedules are rows, not ETA tasks)."""
    for event_id in inbox_events_due():
        process_inbox_event.delay(event_id)


@shared_task(ignore_result=True)
def full_sync() -> None:
    """Nightly: re-read everything from WeCom so that whatever a missed callback left stale is healed."""
    from scrm.wecom.sync import wecom_sync

    wecom_sync()
