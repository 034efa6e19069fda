"""Fixtures for the channel live code tests: the reset simulator with its employees known here, tags a code may
put on customers, Celery tasks run in-process, and helpers to make codes and to look at what WeCom received."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone, translation

from customers.models import Employee
from customers.services import employee_upsert
from groups.models import ChannelCode
from groups.services.channel_codes import channel_code_create
from scrm.wecom.events import parse_event
from scrm.wecom.models import InboxEvent
from scrm.wecom.services import inbox_event_process, inbox_event_receive
from tagging.models import Tag, TagGroup, TagKind, TagTarget
from tests.helpers import event_xml
from tests.wecom.conftest import callback_crypto, post_callback, wecom_configured  # noqa: F401 - fixtures

ADD, UPDATE, DELETE, GET = (
    f"externalcontact/{name}"
    for name in ("add_contact_way", "update_contact_way", "del_contact_way", "get_contact_way")
)
WELCOME = "externalcontact/send_welcome_msg"
STAFF = ("zhangsan", "lisi", "wangwu", "chenqi")


@pytest.fixture
def english():
    with translation.override("en"):
        yield


@pytest.fixture
def sim(wecom_configured):  # noqa: F811 - the fixture imported above
    """The reset simulator; its active employees (and the one who resigned) known here."""
    for userid in STAFF:
        employee_upsert(userid=userid, name=userid)
    employee_upsert(userid="zhaoliu", name="zhaoliu", status=Employee.Status.RESIGNED)
    with wecom_configured.state.lock:  # the demo corp's own contact ways: without them, WeCom holds what we made
        wecom_configured.state.contact_ways.clear()
    return wecom_configured


@pytest.fixture
def ops(make_user):
    from scrm.core.roles import OPS

    return make_user("ops1", role=OPS, is_staff=True)


@pytest.fixture
def eager():
    """Tasks enqueued after commit run in this process (Celery's own test mode)."""
    from scrm.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)


@pytest.fixture
def code_tags(db) -> dict[str, Tag]:
    system = TagGroup.objects.create(name="渠道", kind=TagKind.SYSTEM)
    personal = TagGroup.objects.create(name="个人", kind=TagKind.PERSONAL)
    for_groups = TagGroup.objects.create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP)
    return {
        "门店": Tag.objects.create(name="门店", group=system, kind=TagKind.SYSTEM),
        "地推": Tag.objects.create(name="地推", group=system, kind=TagKind.SYSTEM),
        "老客": Tag.objects.create(name="老客", group=personal, kind=TagKind.PERSONAL),
        "宝妈群": Tag.objects.create(name="宝妈群", group=for_groups, kind=TagKind.SYSTEM),
        "旧": Tag.objects.create(name="旧", group=system, kind=TagKind.SYSTEM, deleted=True),
    }


def make_code(ops, capture, *, members=("zhangsan", "lisi"), **values) -> ChannelCode:
    """A code made by the service, its push run (after commit) by the caller's capture of on_commit callbacks."""
    specs = [m if isinstance(m, dict) else {"userid": m} for m in members]
    values.setdefault("name", "门店活码")
    with capture(execute=True):
        code = channel_code_create(members=specs, actor=ops, **values)
    return fresh(code)


def fresh(code: ChannelCode) -> ChannelCode:
    return ChannelCode.objects.get(pk=code.pk)


def bodies(sim, path: str) -> list[dict]:
    return [request.body for request in sim.requests_to(path)]


def way(sim, code: ChannelCode) -> dict:
    with sim.state.lock:
        return dict(sim.state.contact_ways[code.config_id])


def rewind(code: ChannelCode, *, by: timedelta) -> None:
    ChannelCode.objects.filter(pk=code.pk).update(updated_at=timezone.now() - by)


def add_xml(userid: str, external_userid: str, state: str, *, at: datetime, welcome_code: str = "") -> str:
    fields = {"UserID": userid, "ExternalUserID": external_userid, "State": state}
    if welcome_code:
        fields["WelcomeCode"] = welcome_code
    return event_xml("change_external_contact", "add_external_contact", create_time=int(at.timestamp()), **fields)


def deliver(xml: str) -> InboxEvent:
    """Store a callback in the inbox and process it with every registered handler, as the drain does."""
    event_id, _created = inbox_event_receive(raw_xml=xml, event=parse_event(xml))
    status = inbox_event_process(event_id=event_id)
    assert status in ("done", None), InboxEvent.objects.get(pk=event_id).last_error
    return InboxEvent.objects.get(pk=event_id)


def at(hour: int, minute: int = 0, *, day: int = 11) -> datetime:
    """A moment on 2024-03-``day`` in Asia/Shanghai (UTC+8), as UTC."""
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)
