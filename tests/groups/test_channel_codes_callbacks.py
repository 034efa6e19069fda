# ruff: noqa: F811 - pytest fixtures imported from channel_code_fixtures are test arguments of the same name
"""A customer adds an employee through a channel code: the add is recorded once, the customer carries the code's
tags, and the welcome message goes out with WeCom's welcome_code within its 20 seconds — end to end from the
simulator's signed callback to a live server, through the inbox and a real worker, back to the simulator."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import ExternalContact
from groups.models import ChannelCode, ChannelCodeAdd
from groups.services.channel_codes import channel_code_deactivate
from groups.services.channel_codes_adds import channel_code_welcome_send
from scrm.wecom.events import parse_event
from scrm.wecom.models import InboxEvent
from scrm.wecom.services import inbox_drain, inbox_event_process, inbox_event_receive, inbox_events_replay
from tagging.models import CustomerTag, Source
from tests.groups.channel_code_fixtures import (  # noqa: F401 - fixtures
    WELCOME,
    add_xml,
    bodies,
    callback_crypto,
    code_tags,
    deliver,
    eager,
    english,
    fresh,
    make_code,
    ops,
    sim,
    wecom_configured,
)
from tests.helpers import AES_KEY, TOKEN, wait_until

pytestmark = pytest.mark.django_db

WELCOME_TEXT = "欢迎光临！到店出示本消息领取新人礼。"
ATTACHMENTS = [
    {"msgtype": "link", "link": {"title": "新人礼", "url": "https://example.com/gift", "picurl": ""}},
    {"msgtype": "image", "image": {"pic_url": "https://example.com/store.png"}},
]
Welcome = ChannelCodeAdd.Welcome


@pytest.fixture
def code(sim, ops, code_tags, eager, django_capture_on_commit_callbacks):
    return make_code(
        ops,
        django_capture_on_commit_callbacks,
        state="store-sh-1",
        members=["zhangsan", "lisi"],
        tag_ids=[code_tags["门店"].pk, code_tags["地推"].pk],
        welcome_text=WELCOME_TEXT,
        welcome_attachments=ATTACHMENTS,
    )


def tags_of(external_userid: str) -> list[tuple[str, str]]:
    customer_id = ExternalContact.objects.get(external_userid=external_userid).customer_id
    return sorted(CustomerTag.objects.filter(customer_id=customer_id).values_list("tag__name", "source"))


def scan(sim, userid="zhangsan", state="store-sh-1", **options) -> dict:
    """The simulator's add (a real welcome_code issued), its callback delivered to the inbox and processed."""
    added = sim.customer_adds_employee(userid, state=state, **options)
    added["event"] = deliver(sim.callbacks[-1]["xml"])
    return added


def test_an_add_is_recorded_tagged_and_welcomed(sim, code, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        added = scan(sim)

    add = ChannelCodeAdd.objects.get()
    assert (add.code_id, add.userid, add.external_userid, add.welcome_code) == (
        code.pk,
        "zhangsan",
        added["external_userid"],
        added["welcome_code"],
    )
    assert (add.welcome, add.welcome_error) == (Welcome.SENT, "")
    assert tags_of(added["external_userid"]) == [("地推", Source.CODE), ("门店", Source.CODE)]
    assert bodies(sim, WELCOME) == [
        {"welcome_code": added["welcome_code"], "text": {"content": WELCOME_TEXT}, "attachments": ATTACHMENTS}
    ]
    (sent,) = sim.state.sent_welcomes
    assert (sent["external_userid"], sent["text"], sent["attachments"]) == (
        added["external_userid"],
        {"content": WELCOME_TEXT},
        ATTACHMENTS,
    )


def test_a_replayed_event_changes_nothing(sim, code, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        added = scan(sim)
    before = list(ChannelCodeAdd.objects.values()), tags_of(added["external_userid"])
    CustomerTag.objects.filter(tag__name="地推").delete()  # ops took one tag off since

    with django_capture_on_commit_callbacks(execute=True):
        assert inbox_events_replay(event_ids=[added["event"].pk]) == 1
        assert inbox_event_process(event_id=added["event"].pk) == "done"

    assert list(ChannelCodeAdd.objects.values()) == before[0]
    assert tags_of(added["external_userid"]) == [("门店", Source.CODE)]  # not put back
    assert len(sim.requests_to(WELCOME)) == 1


def test_adds_without_our_state_or_through_an_inactive_code_are_not_recorded(
    sim, ops, code, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        scan(sim, state="")
        scan(sim, state="someone-elses")
        channel_code_deactivate(code=code, actor=ops)
        scan(sim)

    assert ChannelCodeAdd.objects.count() == 0
    assert sim.requests_to(WELCOME) == []
    assert InboxEvent.objects.filter(change_type="add_external_contact").exclude(status="done").count() == 0


def test_without_a_welcome_code_nothing_is_sent_and_the_reason_is_noted(
    sim, code, english, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        scan(sim, welcome_code=False)

    add = ChannelCodeAdd.objects.get()
    assert (add.welcome, add.welcome_code) == (Welcome.NONE, "")
    assert add.welcome_error.startswith("WeCom sent no welcome code")
    assert sim.requests_to(WELCOME) == []


def test_a_batch_of_adds_is_applied_together(sim, code, django_capture_on_commit_callbacks):
    for userid in ("zhangsan", "lisi", "zhangsan"):
        sim.customer_adds_employee(userid, state="store-sh-1", welcome_code=False)
    for callback in sim.callbacks:
        inbox_event_receive(raw_xml=callback["xml"], event=parse_event(callback["xml"]))

    with django_capture_on_commit_callbacks(execute=True):
        assert inbox_drain(batch=10) == 3

    assert sorted(ChannelCodeAdd.objects.values_list("userid", flat=True)) == ["lisi", "zhangsan", "zhangsan"]
    assert set(InboxEvent.objects.values_list("status", "attempts")) == {("done", 1)}
    assert all(len(tags_of(ext)) == 2 for ext in ChannelCodeAdd.objects.values_list("external_userid", flat=True))


# ---- the welcome task's outcomes ---------------------------------------------------------------------------------


def pending_add(code: ChannelCode, *, age: float, welcome_code: str = "wc-unknown") -> ChannelCodeAdd:
    return ChannelCodeAdd.objects.create(
        code=code,
        userid="zhangsan",
        external_userid=f"wm{time.monotonic_ns()}",
        added_at=timezone.now() - timedelta(seconds=age),
        welcome=Welcome.PENDING,
        welcome_code=welcome_code,
    )


def issued_code(sim) -> str:
    return sim.customer_adds_employee("zhangsan", state="store-sh-1")["welcome_code"]


def test_already_sent_is_final_after_exactly_one_call(sim, code):
    add = pending_add(code, age=1, welcome_code=issued_code(sim))
    sim.faults.inject(path=WELCOME, errcode=41051)

    assert channel_code_welcome_send(add_id=add.pk) == ("already", None)
    assert channel_code_welcome_send(add_id=add.pk) == ("skipped", None)

    assert fresh_add(add).welcome == Welcome.ALREADY_SENT
    assert len(sim.requests_to(WELCOME)) == 1


def test_an_expired_code_is_not_sent(sim, code, english):
    add = pending_add(code, age=20.5, welcome_code=issued_code(sim))

    assert channel_code_welcome_send(add_id=add.pk) == ("expired", None)

    add = fresh_add(add)
    assert (add.welcome, add.welcome_error) == (
        Welcome.EXPIRED,
        "The welcome code expired (WeCom allows 20 seconds after the add).",
    )
    assert sim.requests_to(WELCOME) == []


def test_a_busy_wecom_is_retried_while_the_code_lasts(sim, code):
    add = pending_add(code, age=1, welcome_code=issued_code(sim))
    sim.faults.inject(path=WELCOME, errcode=-1, times=3)  # the client's own three tries

    assert channel_code_welcome_send(add_id=add.pk) == ("retry", 1.0)
    assert "errcode -1" in fresh_add(add).welcome_error
    assert channel_code_welcome_send(add_id=add.pk) == ("sent", None)

    add = fresh_add(add)
    assert (add.welcome, add.welcome_error, add.welcome_sent_at is not None) == (Welcome.SENT, "", True)
    assert len(sim.requests_to(WELCOME)) == 4
    assert len(sim.state.sent_welcomes) == 1


def test_busy_until_the_code_expires_fails_with_the_reason(sim, code, english):
    add = pending_add(code, age=19, welcome_code=issued_code(sim))
    sim.faults.inject(path=WELCOME, errcode=45033, times=3)

    assert channel_code_welcome_send(add_id=add.pk) == ("failed", None)

    add = fresh_add(add)
    assert add.welcome == Welcome.FAILED
    assert add.welcome_error.startswith("WeCom was busy until the welcome code expired.")
    assert len(sim.requests_to(WELCOME)) == 3


def test_other_refusals_fail_with_wecoms_reason(sim, code):
    add = pending_add(code, age=1, welcome_code="never-issued")

    assert channel_code_welcome_send(add_id=add.pk) == ("expired", None)  # 41050: WeCom does not take it
    assert "41050" in fresh_add(add).welcome_error

    other = pending_add(code, age=1, welcome_code=issued_code(sim))
    sim.faults.inject(path=WELCOME, errcode=40058, errmsg="invalid attachments")
    assert channel_code_welcome_send(add_id=other.pk) == ("failed", None)
    assert "invalid attachments" in fresh_add(other).welcome_error
    assert len(sim.requests_to(WELCOME)) == 2


def fresh_add(add: ChannelCodeAdd) -> ChannelCodeAdd:
    return ChannelCodeAdd.objects.get(pk=add.pk)


# ---- end to end ------------------------------------------------------------------------------------------------


@pytest.fixture
def live_callbacks(live_server, simulator, callback_crypto):
    """The simulator posts its signed callbacks to the app's /wecom/callback on a live server."""
    saved = simulator.callback_url, simulator.callback_token, simulator.callback_aes_key
    simulator.callback_url = f"{live_server.url}/wecom/callback"
    simulator.callback_token, simulator.callback_aes_key = TOKEN, AES_KEY
    yield simulator
    simulator.callback_url, simulator.callback_token, simulator.callback_aes_key = saved


@pytest.mark.django_db(transaction=True)
def test_end_to_end_the_welcome_goes_out_within_20_seconds(celery_worker, sim, ops, code_tags, live_callbacks):
    from groups.services.channel_codes import channel_code_create

    code = channel_code_create(
        name="门店活码",
        state="store-e2e",
        members=["zhangsan"],
        tag_ids=[code_tags["门店"].pk],
        welcome_text=WELCOME_TEXT,
        welcome_attachments=ATTACHMENTS,
        actor=ops,
    )
    assert wait_until(lambda: fresh(code).config_id), fresh(code).wecom_error  # the worker made the contact way

    added = sim.customer_adds_employee("zhangsan", state="store-e2e", name="王小明")

    assert added["status"] == 200
    assert wait_until(lambda: sim.state.sent_welcomes, timeout=25), (
        list(InboxEvent.objects.values("status", "last_error")),
        list(ChannelCodeAdd.objects.values("welcome", "welcome_error")),
    )
    (sent,) = sim.state.sent_welcomes
    (request,) = sim.requests_to(WELCOME)
    assert request.body == {
        "welcome_code": added["welcome_code"],
        "text": {"content": WELCOME_TEXT},
        "attachments": ATTACHMENTS,
    }
    assert (sent["external_userid"], sent["text"], sent["attachments"]) == (
        added["external_userid"],
        {"content": WELCOME_TEXT},
        ATTACHMENTS,
    )
    delay = request.at - sent["created"]
    assert 0 <= delay < 20, delay
    assert wait_until(lambda: fresh_add(ChannelCodeAdd.objects.get()).welcome == Welcome.SENT)
    assert tags_of(added["external_userid"]) == [("门店", Source.CODE)]
