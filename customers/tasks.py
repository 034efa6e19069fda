"""Celery tasks of the customers app: thin, they take ids and call one service."""

from celery import shared_task

from customers.services.alerts import alerts_notify
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
