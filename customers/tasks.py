"""Celery tasks of the customers app: thin, they take ids and call one service."""

from celery import shared_task

from customers.models import ImportJob
from customers.services.alerts import alerts_notify
from customers.services.imports import followups_import, import_upload_path
from customers.services.transfer_results import transfers_tick as run_transfers_tick
from customers.services.transfers import transfers_send
from scrm.wecom.errors import WeComRateLimited, WeComTransientError

# ---- customer transfers and alerts -------------------------------------------------------------------------------


@shared_task(ignore_result=True)
def send_transfers(transfer_ids: list[int], success_msg: str = "") -> None:
    """Send a transfer request's pending rows to WeCom (≤ 100 customers per call)."""
    transfers_send(transfer_ids=transfer_ids, success_msg=success_msg)


@shared_task(ignore_result=True)
def transfers_tick() -> None:
    """Beat tick: send what a lost task left unsent, and check the transfer results that are due (rows with a
    due time, not ETA tasks)."""
    run_transfers_tick()


@shared_task(
    ignore_result=True,
    autoretry_for=(WeComTransientError, WeComRateLimited),
    retry_backoff=30,
    retry_backoff_max=600,
    max_retries=6,
)
def notify_alerts(source_keys: list[str]) -> None:
    """Tell the customers' owners and ops about new alerts (by source key) through the WeCom app."""
    alerts_notify(source_keys=source_keys)


# ---- follow-up imports -------------------------------------------------------------------------------------------


# A million rows take a minute or more: longer limits than the default, still under the broker's visibility
# timeout (an hour), so that a running import is not delivered to a second worker.
@shared_task(ignore_result=True, soft_time_limit=3000, time_limit=3300)
def import_followups(job_id: int) -> None:
    """Run (or, after a lost worker, resume) an import uploaded in the admin."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is not None:
        followups_import(job=job, path=import_upload_path(job))
