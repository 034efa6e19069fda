import os
import socket

from celery import shared_task

from scrm.core.logging import current_request_id
from scrm.core.services import heartbeat_record


@shared_task
def ping(token: str) -> dict:
    """Round trip for operators and tests: proves a worker took the task and answered."""
    return {"token": token, "pid": os.getpid(), "hostname": socket.gethostname(), "request_id": current_request_id()}


@shared_task(ignore_result=True)
def heartbeat(*, queue: str) -> None:
    heartbeat_record(key=f"queue:{queue}", hostname=heartbeat.request.hostname or socket.gethostname())
