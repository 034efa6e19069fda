"""Tasks through a real worker process, on the configured broker (filesystem or Redis)."""

import os

import pytest

from scrm.core.logging import reset_request_id, set_request_id
from scrm.core.models import Heartbeat
from scrm.core.tasks import heartbeat, ping
from scrm.queues import Queue
from tests.helpers import wait_until


def test_round_trip_through_a_real_worker(celery_worker):
    result = ping.delay("hello").get(timeout=30)

    assert result["token"] == "hello"
    assert result["pid"] != os.getpid()


def test_request_id_travels_with_the_task(celery_worker):
    token = set_request_id("req-42")
    try:
        async_result = ping.delay("traced")
    finally:
        reset_request_id(token)

    assert async_result.get(timeout=30)["request_id"] == "req-42"


def test_task_without_request_uses_its_task_id(celery_worker):
    async_result = ping.delay("untraced")

    assert async_result.get(timeout=30)["request_id"] == async_result.id


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("queue", list(Queue))
def test_worker_consumes_every_queue_and_writes_to_the_test_database(celery_worker, queue):
    heartbeat.apply_async(kwargs={"queue": queue.value}, queue=queue.value)

    beat = wait_until(lambda: Heartbeat.objects.filter(key=f"queue:{queue.value}").first())

    assert beat is not None, f"no heartbeat from queue {queue.value}"
    assert beat.hostname.startswith("test-")
    assert Heartbeat.objects.count() == 1


def test_tasks_are_routed_to_their_queues():
    from scrm.celery import app
    from scrm.wecom.tasks import drain_inbox

    router = app.amqp.router
    assert router.route({}, drain_inbox.name)["queue"].name == Queue.REALTIME
    assert router.route({}, ping.name)["queue"].name == Queue.DEFAULT
    assert router.route({}, "customers.tasks.import_followups")["queue"].name == Queue.SYNC
    assert router.route({}, "customers.tasks.send_transfers")["queue"].name == Queue.DEFAULT
