"""Fixtures for the transfer tests: the session simulator (reset, with a clock the test moves), a real sync of its
corp into the database, Celery tasks run in-process, and the app-message API the simulator lacks."""

import time

import pytest

from customers.models import Employee, ExternalContact
from scrm.wecom.client import get_client
from scrm.wecom.simulator import ManualClock
from scrm.wecom.sync import wecom_sync
from tests.wecom.conftest import callback_crypto, post_callback, wecom_configured  # noqa: F401 - fixtures

IN_POST = "in_post"


@pytest.fixture
def sim(wecom_configured):  # noqa: F811 - the fixture imported above
    return wecom_configured


class Clock(ManualClock):
    def advance(self, seconds: float) -> float:
        """Move on; the access token has expired by then, so take a new one now rather than have the next call
        be refused once (40014) and counted twice in the request log."""
        now = super().advance(seconds)
        get_client("contact").fetch_access_token()
        return now


@pytest.fixture
def clock(sim):
    """The simulator's clock, moved by hand (WeCom completes a transfer 24 hours after it starts)."""
    original = sim.state.clock
    sim.state.clock = Clock(time.time())
    yield sim.state.clock
    sim.state.clock = original


@pytest.fixture
def eager():
    """Tasks enqueued after commit run in this process, so a test sees the whole chain (Celery's own test mode)."""
    from scrm.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)


@pytest.fixture
def app_messages(sim):
    """The app messages (message/send) the simulator received during the test."""
    with sim.state.lock:
        sim.state.app_messages.clear()
    return sim.state.app_messages


def seed(sim, count: int, userid: str = "zhangsan") -> list[str]:
    """``count`` new customers of ``userid`` in the simulator, then the corp synced into the database."""
    with sim.state.lock:
        exts = [sim.state.add_customer(userid=userid, name=f"客户{n:03d}") for n in range(count)]
    results = wecom_sync(resources=("employees", "contacts"))
    assert "error" not in results["contacts"], results
    return exts


def contacts(exts: list[str]) -> list[ExternalContact]:
    found = ExternalContact.objects.select_related("customer").in_bulk(exts, field_name="external_userid")
    return [found[ext] for ext in exts]


def employee(userid: str) -> Employee:
    return Employee.objects.get(userid=userid)
