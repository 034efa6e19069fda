# ruff: noqa: F811 - pytest fixtures imported from transfer_fixtures are test arguments of the same name
"""Customer transfers against the WeCom simulator over HTTP: requests batched ≤ 100 per call, per-customer refusals,
results polled until final on the simulator's clock, the relation and the ownership moved once, transfer_fail
callbacks, loss alerts from del_follow_user, the 90-day rule, unassigned customers of resigned staff."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from customers.models import CustomerAlert, CustomerTransfer, FollowRelation, TimelineEntry
from customers.services.alerts import alerts_notify
from customers.services.transfer_results import transfers_poll, transfers_tick
from customers.services.transfers import customers_transfer, transfers_send, unassigned_refresh
from customers.transfer_selectors import transfer_eligibility, unassigned_contacts
from scrm.core.models import AuditLog
from scrm.core.roles import OPS
from scrm.wecom.models import InboxEvent
from scrm.wecom.services import inbox_drain
from tests.customers.transfer_fixtures import (  # noqa: F401 - fixtures
    IN_POST,
    app_messages,
    callback_crypto,
    clock,
    contacts,
    eager,
    employee,
    post_callback,
    seed,
    sim,
    wecom_configured,
)
from tests.helpers import event_xml

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):  # the stored reasons and messages, in the source language
        yield


TRANSFER = "externalcontact/transfer_customer"
RESULT = "externalcontact/transfer_result"
DAY = 86400


def request(exts, *, handover="zhangsan", takeover="lisi", kind=IN_POST, **options):
    return customers_transfer(
        contacts=contacts(exts), handover=employee(handover), takeover=employee(takeover), kind=kind, **options
    )


def requested_and_sent(exts, **options) -> list[CustomerTransfer]:
    result = request(exts, **options)
    transfers_send(transfer_ids=[row.pk for row in result.created])
    return list(CustomerTransfer.objects.order_by("pk"))


def deliver(post_callback, xml):
    assert post_callback(xml).status_code == 200
    with translation.override("en"):  # the callback request's LanguageMiddleware left zh-hans active
        inbox_drain()
    assert not InboxEvent.objects.exclude(status="done").exists(), list(InboxEvent.objects.values("last_error"))


# ---- requesting and sending ------------------------------------------------------------------------------------


def test_150_customers_go_out_as_two_calls_of_100_and_50_after_commit(
    sim, eager, make_user, django_capture_on_commit_callbacks
):
    exts = seed(sim, 150)
    actor = make_user("ops1", role=OPS)

    with django_capture_on_commit_callbacks() as callbacks:
        result = request(exts, actor=actor)
        assert sim.requests_to(TRANSFER) == []  # nothing leaves before the rows are committed

    assert (len(result.created), result.refused) == (150, [])
    assert CustomerTransfer.objects.filter(status="pending", requested_at__isnull=True, actor=actor).count() == 150
    assert sim.requests_to(TRANSFER) == []
    assert len(callbacks) == 1

    callbacks[0]()  # the send task, run in-process

    calls = sim.requests_to(TRANSFER)
    assert [len(call.body["external_userid"]) for call in calls] == [100, 50]
    assert {(call.body["handover_userid"], call.body["takeover_userid"]) for call in calls} == {("zhangsan", "lisi")}
    assert sorted(ext for call in calls for ext in call.body["external_userid"]) == sorted(exts)
    assert all("transfer_success_msg" not in call.body for call in calls)
    waiting = CustomerTransfer.objects.filter(status="waiting", errcode=0, reason="", requested_at__isnull=False)
    assert waiting.count() == 150
    assert AuditLog.objects.filter(action="transfer_request", actor=actor).count() == 1


def test_success_message_goes_with_an_in_post_transfer(sim, eager, django_capture_on_commit_callbacks):
    exts = seed(sim, 1)

    with django_capture_on_commit_callbacks(execute=True):
        request(exts, success_msg="您好，之后由李四为您服务")

    assert sim.requests_to(TRANSFER)[0].body["transfer_success_msg"] == "您好，之后由李四为您服务"


def test_per_customer_refusal_40128_is_recorded_and_the_others_wait(sim):
    exts = seed(sim, 3)
    with sim.state.lock:  # transferred twice already, in the WeCom console: we have no record of it
        now = sim.state.clock()
        for days in (30, 10):
            sim.state.transfers.append(
                {
                    "kind": "onjob",
                    "handover_userid": "chenqi",
                    "takeover_userid": "zhangsan",
                    "external_userid": exts[1],
                    "started": now - days * DAY,
                    "takeover_time": int(now - days * DAY + DAY),
                    "status": 1,
                }
            )

    rows = {row.contact.external_userid: row for row in requested_and_sent(exts)}

    assert len(sim.requests_to(TRANSFER)) == 1
    refused = rows[exts[1]]
    assert (refused.status, refused.errcode, refused.next_poll_at) == ("failed", 40128, None)
    assert refused.reason == "transferred twice within 90 days (errcode 40128)"
    assert [rows[ext].status for ext in (exts[0], exts[2])] == ["waiting", "waiting"]


def test_a_call_without_an_answer_is_not_sent_again_and_its_result_is_checked(sim, clock):
    exts = seed(sim, 2)
    sim.faults.inject(path=TRANSFER, drop="after")  # WeCom applied it, the answer was lost

    rows = requested_and_sent(exts)

    assert len(sim.requests_to(TRANSFER)) == 1
    assert {(row.status, row.errcode) for row in rows} == {("pending", None)}
    assert all(row.requested_at and "may have started" in row.reason for row in rows)
    assert transfers_tick() == Counter()  # not re-sent, not checked before its time
    assert len(sim.requests_to(TRANSFER)) == 1

    counts = transfers_tick(now=timezone.now() + timedelta(minutes=11))

    assert counts == Counter(waiting=2)
    assert len(sim.requests_to(TRANSFER)) == 1
    assert set(CustomerTransfer.objects.values_list("status", "errcode")) == {("waiting", 2)}


def test_a_request_that_never_arrived_fails_after_the_check(sim, clock):
    exts = seed(sim, 1)
    sim.faults.inject(path=TRANSFER, drop="before")  # the connection dropped before WeCom applied anything

    requested_and_sent(exts)
    counts = transfers_poll(now=timezone.now() + timedelta(minutes=11))

    assert counts == Counter(failed=1)
    row = CustomerTransfer.objects.get()
    assert (row.status, row.errcode) == ("failed", None)
    assert "did not start" in row.reason
    assert len(sim.requests_to(TRANSFER)) == 1
    assert CustomerAlert.objects.filter(kind="transfer_failed").count() == 1


def test_wecom_busy_leaves_the_rows_for_the_tick_which_sends_them(sim):
    exts = seed(sim, 2)
    sim.faults.inject(path=TRANSFER, errcode=45009, times=3)  # still limited after the client's own retries

    requested_and_sent(exts)

    assert set(CustomerTransfer.objects.values_list("status", "requested_at")) == {("pending", None)}
    assert transfers_tick(now=timezone.now() + timedelta(minutes=3)) == Counter(waiting=2)
    assert len(sim.requests_to(TRANSFER)) == 4


# ---- results ---------------------------------------------------------------------------------------------------


def test_polling_keeps_them_waiting_until_wecom_completes_them_then_moves_relation_and_owner(sim, clock):
    exts = seed(sim, 3)
    other = contacts([exts[2]])[0].customer
    other.owner = employee("wangwu")  # owned by someone else: the transfer does not make lisi its owner
    other.save(update_fields=["owner"])
    requested_and_sent(exts)
    start = timezone.now()

    assert transfers_poll(now=start + timedelta(minutes=30)) == Counter()  # not due yet
    assert transfers_poll(now=start + timedelta(hours=2)) == Counter(waiting=3)

    assert len(sim.requests_to(RESULT)) == 1
    assert set(CustomerTransfer.objects.values_list("status", "errcode")) == {("waiting", 2)}
    assert FollowRelation.objects.filter(employee__userid="lisi", contact__external_userid__in=exts).count() == 0

    clock.advance(DAY + 60)
    counts = transfers_poll(now=start + timedelta(hours=25))

    assert counts == Counter(done=3)
    assert set(CustomerTransfer.objects.values_list("status", "errcode", "next_poll_at")) == {("done", 1, None)}
    assert all(row.takeover_at for row in CustomerTransfer.objects.all())
    relations = FollowRelation.objects.filter(contact__external_userid__in=exts)
    assert Counter(relations.values_list("employee__userid", "status")) == {
        ("zhangsan", "transferred"): 3,
        ("lisi", "active"): 3,
    }
    assert set(relations.filter(employee__userid="lisi").values_list("add_way", flat=True)) == {202}
    moved = [contact.customer for contact in contacts(exts)]
    assert [customer.owner.userid for customer in moved] == ["lisi", "lisi", "wangwu"]
    entries = TimelineEntry.objects.filter(kind="relation", source_key__startswith="transfer:")
    assert Counter(entries.values_list("customer_id", flat=True)) == {customer.pk: 1 for customer in moved}
    assert AuditLog.objects.filter(action="transfer_done").count() == 3

    # polled again (a slow tick, a replay): nothing is due and nothing happens twice
    assert transfers_poll(now=start + timedelta(hours=30)) == Counter()
    assert entries.count() == 3
    assert len(sim.requests_to(RESULT)) == 2


def test_transfer_fail_callback_fails_the_transfer_and_raises_one_alert(sim, post_callback):
    exts = seed(sim, 1)
    (row,) = requested_and_sent(exts)
    fields = {"UserID": "lisi", "ExternalUserID": exts[0], "FailReason": "customer_refused"}

    deliver(post_callback, event_xml("change_external_contact", "transfer_fail", **fields))

    row.refresh_from_db()
    assert (row.status, row.errcode, row.reason) == ("failed", 3, "The customer refused the transfer.")
    alert = CustomerAlert.objects.get()
    assert (alert.kind, alert.customer_id, alert.employee.userid) == (
        "transfer_failed",
        row.contact.customer_id,
        "zhangsan",
    )
    assert "refused" in alert.message

    # delivered again (other bytes, so the inbox stores it again): the transfer is no longer open
    deliver(post_callback, event_xml("change_external_contact", "transfer_fail", **fields, Retry="1"))

    assert CustomerAlert.objects.count() == 1
    assert FollowRelation.objects.get(contact__external_userid=exts[0]).employee.userid == "zhangsan"
    assert transfers_poll(now=timezone.now() + timedelta(days=2)) == Counter()  # a failed one is never checked


# ---- loss alerts -----------------------------------------------------------------------------------------------


def test_a_customer_deleting_the_employee_raises_one_loss_alert_and_notifies_owner_and_ops(
    sim,
    clock,
    post_callback,
    eager,
    app_messages,
    make_user,
    django_capture_on_commit_callbacks,
):
    exts = seed(sim, 1)
    ops = employee("wangwu")
    ops.user = make_user("ops1", role=OPS)
    ops.save(update_fields=["user"])
    clock.advance(60)  # a minute after the sync saw the relation (event times have whole seconds)
    sim.customer_deletes_employee("zhangsan", exts[0])
    xml = sim.callbacks[-1]["xml"]

    with django_capture_on_commit_callbacks(execute=True):
        deliver(post_callback, xml)
        deliver(post_callback, xml)  # WeCom's retry: same bytes, stored once
        deliver(post_callback, xml.replace("</xml>", "<Retry>1</Retry></xml>"))  # same event, stored again

    assert InboxEvent.objects.filter(status="done").count() == 2
    relation = FollowRelation.objects.get(contact__external_userid=exts[0])
    assert relation.status == "deleted_by_customer"
    alert = CustomerAlert.objects.get()
    customer = relation.contact.customer
    assert (alert.kind, alert.customer, alert.employee.userid) == ("lost", customer, "zhangsan")
    assert alert.notified_at is not None and alert.resolved_at is None
    assert TimelineEntry.objects.filter(customer=customer, kind="relation", channel="wecom").count() == 1
    assert len(app_messages) == 1
    assert app_messages[0]["touser"] == "wangwu|zhangsan"  # ops and the owner
    assert app_messages[0]["msgtype"] == "text" and alert.message in app_messages[0]["text"]["content"]


def test_without_an_app_the_loss_alert_stays_unnotified(sim, clock, post_callback, settings):
    exts = seed(sim, 1)
    settings.WECOM_AGENT_SECRET = ""
    clock.advance(60)
    sim.customer_deletes_employee("zhangsan", exts[0])
    deliver(post_callback, sim.callbacks[-1]["xml"])
    alert = CustomerAlert.objects.get()

    assert alerts_notify(source_keys=[alert.source_key]) == 0

    alert.refresh_from_db()
    assert alert.notified_at is None
    assert sim.requests_to("message/send") == []


def test_a_batch_of_deletions_costs_a_fixed_number_of_queries_and_other_events_none(post_callback):
    def drain(change_type, count, start):
        for n in range(start, start + count):
            xml = event_xml("change_external_contact", change_type, UserID="zhangsan", ExternalUserID=f"wm{n}")
            assert post_callback(xml).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            assert inbox_drain() == count
        return queries

    adds = drain("add_external_contact", 10, 0)
    assert not any("customers_customeralert" in query["sql"] for query in adds.captured_queries)

    # new contacts each time, so both batches do the same inserts
    few, many = drain("del_follow_user", 5, 100), drain("del_follow_user", 40, 200)

    assert len(few.captured_queries) == len(many.captured_queries)
    assert CustomerAlert.objects.filter(kind="lost").count() == 45
    assert TimelineEntry.objects.filter(kind="relation").count() == 45


# ---- the 90-day rule -------------------------------------------------------------------------------------------


def past_transfer(contact, *, days_ago: int, status="done", **fields) -> CustomerTransfer:
    at = timezone.now() - timedelta(days=days_ago)
    return CustomerTransfer.objects.create(
        kind=IN_POST,
        contact=contact,
        handover=employee("chenqi"),
        takeover=employee("zhangsan"),
        status=status,
        requested_at=at,
        **fields,
    )


def test_two_transfers_within_90_days_refuse_a_third_until_the_older_leaves_the_window(sim):
    exts = seed(sim, 3)
    twice, once, long_ago = contacts(exts)
    now = timezone.now()
    first, second = past_transfer(twice, days_ago=80), past_transfer(twice, days_ago=10)
    past_transfer(once, days_ago=10)
    past_transfer(long_ago, days_ago=100)
    past_transfer(long_ago, days_ago=20, status="failed", errcode=40128)  # refused at once: not a transfer

    result = transfer_eligibility(contacts=[twice, once, long_ago], at=now)

    assert [(item.allowed, item.transfers_in_window) for item in result] == [(False, 2), (True, 1), (True, 0)]
    # possible again once only one of the two lies within the last 90 days: when the older one leaves
    assert result[0].possible_from == first.requested_at + timedelta(days=90) > now
    expected = timezone.localtime(first.requested_at + timedelta(days=90)).strftime("%Y-%m-%d %H:%M")
    assert str(result[0].reason) == f"Transferred twice within 90 days; possible again from {expected}."
    assert transfer_eligibility(contacts=[twice], at=result[0].possible_from)[0].allowed
    assert second.requested_at > first.requested_at
    # WeCom does not limit transfers on resignation
    assert transfer_eligibility(contacts=[twice], kind="resigned", at=now)[0].allowed


def test_a_refused_request_creates_nothing_and_sends_nothing(sim, django_capture_on_commit_callbacks):
    exts = seed(sim, 2)
    twice, busy = contacts(exts)
    past_transfer(twice, days_ago=40)
    past_transfer(twice, days_ago=5)
    open_row = past_transfer(busy, days_ago=0, status="waiting")
    before = CustomerTransfer.objects.count()

    with django_capture_on_commit_callbacks() as callbacks:
        result = request(exts)

    assert result.created == []
    refused = {item.contact: item for item in result.refused}
    assert refused.keys() == {twice, busy}
    assert refused[twice].possible_from is not None and refused[twice].open_transfer_id is None
    assert refused[busy].open_transfer_id == open_row.pk
    assert CustomerTransfer.objects.count() == before
    assert callbacks == []
    assert sim.requests_to(TRANSFER) == []


def test_requests_that_wecom_would_refuse_are_refused_with_the_field_named(sim):
    seed(sim, 1)

    with pytest.raises(ValidationError) as same:
        request([], takeover="zhangsan")
    with pytest.raises(ValidationError) as not_resigned:
        request([], kind="resigned")
    with pytest.raises(ValidationError) as too_long:
        request([], success_msg="字" * 201)

    assert "takeover" in same.value.message_dict
    assert "handover" in not_resigned.value.message_dict
    assert "success_msg" in too_long.value.message_dict
    assert CustomerTransfer.objects.count() == 0


# ---- unassigned customers of resigned staff --------------------------------------------------------------------


def test_unassigned_customers_are_listed_and_transferred_on_resignation(sim, clock):
    seed(sim, 0)
    expected = sorted(sim.state.customers_of("zhaoliu"))
    assert expected

    assert unassigned_refresh(page_size=1) == len(expected)

    assert len(sim.requests_to("externalcontact/get_unassigned_list")) == len(expected)
    listing = unassigned_contacts()
    assert sorted(row.contact.external_userid for row in listing.rows) == expected
    assert {row.handover_userid for row in listing.rows} == {"zhaoliu"}
    assert all(row.dimission_time for row in listing.rows)
    assert employee("zhaoliu").status == "resigned"

    result = customers_transfer(
        contacts=[row.contact for row in listing.rows],
        handover=employee("zhaoliu"),
        takeover=employee("lisi"),
        kind="resigned",
    )
    transfers_send(transfer_ids=[row.pk for row in result.created])

    (call,) = sim.requests_to("externalcontact/resigned/transfer_customer")
    assert sorted(call.body["external_userid"]) == expected
    assert unassigned_contacts().rows == []  # being transferred: off the list
    clock.advance(DAY + 60)
    assert transfers_poll(now=timezone.now() + timedelta(hours=25)) == Counter(done=len(expected))
    assert len(sim.requests_to("externalcontact/resigned/transfer_result")) == 1
