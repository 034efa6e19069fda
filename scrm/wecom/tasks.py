import random

from celery import shared_task

from scrm.wecom.errors import WeComRateLimited, WeComTransientError
from scrm.wecom.followups import contact_refresh, group_refresh, tags_refresh
from scrm.wecom.services import inbox_drain, inbox_events_due

MAX_WECOM_RETRIES = 6


@shared_task(ignore_result=True)
def drain_inbox() -> None:
    inbox_drain()


@shared_task(ignore_result=True)
def retry_due_inbox_events() -> None:
    """Beat tick: take back events stuck with a dead worker, and drain if any event is due (failed ones whose
    backoff has passed, or pending ones whose drain was lost). Schedules are rows, not ETA tasks."""
    if inbox_events_due(limit=1):
        inbox_drain()


@shared_task(ignore_result=True)
def full_sync() -> None:
    """Nightly: re-read everything from WeCom so that whatever a missed callback left stale is healed."""
    from scrm.wecom.sync import wecom_sync

    wecom_sync()


def _retry_transient(task, call) -> None:
    """Run ``call``; WeCom being limited or busy is retried later, everything else fails the task at once."""
    try:
        call()
    except WeComRateLimited as exc:
        raise task.retry(countdown=exc.retry_after + random.uniform(0, 5), max_retries=MAX_WECOM_RETRIES) from exc  # noqa: S311
    except WeComTransientError as exc:
        countdown = min(600, 10 * 2**task.request.retries) + random.uniform(0, 5)  # noqa: S311 - jitter only
        raise task.retry(countdown=countdown, max_retries=MAX_WECOM_RETRIES) from exc


@shared_task(bind=True, ignore_result=True)
def refresh_contact(self, external_userid: str) -> None:
    _retry_transient(self, lambda: contact_refresh(external_userid=external_userid))


@shared_task(bind=True, ignore_result=True)
def refresh_group(self, chat_id: str) -> None:
    _retry_transient(self, lambda: group_refresh(chat_id=chat_id))


@shared_task(bind=True, ignore_result=True)
def refresh_tags(self) -> None:
    _retry_transient(self, tags_refresh)
