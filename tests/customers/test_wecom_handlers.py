"""change_external_contact callbacks through the real inbox: stored, processed, applied by customers services."""

import logging
from datetime import UTC, datetime

import pytest

from customers.models import Employee, ExternalContact, FollowRelation
from scrm.wecom.events import parse_event
from scrm.wecom.models import InboxEvent
from scrm.wecom.services import inbox_event_process, inbox_event_receive
from tests.helpers import event_xml

pytestmark = pytest.mark.django_db

EVENT = "change_external_contact"
T_ADD = 1709283600  # 2024-03-01 09:00 UTC


def process(change_type: str, create_time: int = T_ADD, **fields: str) -> InboxEvent:
    xml = event_xml(EVENT, change_type, create_time=create_time, **fields)
    event_id, created = inbox_event_receive(raw_xml=xml, event=parse_event(xml))
    assert created
    assert inbox_event_process(event_id=event_id) == "done", InboxEvent.objects.get(pk=event_id).last_error
    return InboxEvent.objects.get(pk=event_id)


def relation() -> FollowRelation:
    return FollowRelation.objects.select_related("employee", "contact").get()


@pytest.mark.parametrize("change_type", ["add_external_contact", "add_half_external_contact"])
def test_add_creates_placeholders_and_an_active_relation_with_the_channel_state(change_type):
    process(change_type, UserID="zhangsan", ExternalUserID="wmA", State="store-001", WelcomeCode="WC1")

    assert (Employee.objects.count(), ExternalContact.objects.count(), FollowRelation.objects.count()) == (1, 1, 1)
    row = relation()
    assert (row.employee.userid, row.employee.name, row.contact.external_userid) == ("zhangsan", "", "wmA")
    assert row.contact.is_placeholder
    assert (row.status, row.state) == ("active", "store-001")
    assert row.added_at == row.status_changed_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def test_add_delivered_twice_is_applied_once():
    process("add_external_contact", UserID="zhangsan", ExternalUserID="wmA", State="store-001")
    before = list(FollowRelation.objects.values())

    # Same event, different bytes (WelcomeCode): the inbox stores it again, so the handler must be idempotent.
    process("add_external_contact", UserID="zhangsan", ExternalUserID="wmA", State="store-001", WelcomeCode="WC2")

    assert list(FollowRelation.objects.values()) == before
    assert InboxEvent.objects.filter(status="done").count() == 2


def test_delete_by_employee_then_by_customer_keep_the_row():
    process("add_external_contact", UserID="zhangsan", ExternalUserID="wmA")
    process("del_external_contact", create_time=T_ADD + 60, UserID="zhangsan", ExternalUserID="wmA")
    assert relation().status == "deleted_by_employee"

    process("add_external_contact", create_time=T_ADD + 120, UserID="lisi", ExternalUserID="wmA")
    process("del_follow_user", create_time=T_ADD + 180, UserID="lisi", ExternalUserID="wmA")

    assert dict(FollowRelation.objects.values_list("employee__userid", "status")) == {
        "zhangsan": "deleted_by_employee",
        "lisi": "deleted_by_customer",
    }


def test_re_add_after_delete_is_active_again_with_the_new_state():
    process("add_external_contact", UserID="zhangsan", ExternalUserID="wmA", State="store-001")
    process("del_follow_user", create_time=T_ADD + 60, UserID="zhangsan", ExternalUserID="wmA")

    process("add_external_contact", create_time=T_ADD + 120, UserID="zhangsan", ExternalUserID="wmA")

    row = relation()
    assert (row.status, row.state) == ("active", "")
    assert row.added_at == datetime(2024, 3, 1, 9, 2, tzinfo=UTC)


def test_edit_makes_sure_the_relation_exists():
    process("edit_external_contact", UserID="zhangsan", ExternalUserID="wmA")

    assert relation().status == "active"


def test_delete_of_an_unknown_relation_is_recorded():
    process("del_follow_user", UserID="zhangsan", ExternalUserID="wmA")

    assert relation().status == "deleted_by_customer"


def test_transfer_fail_and_msg_audit_approved_are_handled_without_changes(caplog):
    process("add_external_contact", UserID="zhangsan", ExternalUserID="wmA")
    before = list(FollowRelation.objects.values())

    with caplog.at_level(logging.INFO, logger="customers.wecom_handlers"):
        process("transfer_fail", UserID="lisi", ExternalUserID="wmA", FailReason="customer_refused")
        process("msg_audit_approved", UserID="zhangsan", ExternalUserID="wmA")

    assert list(FollowRelation.objects.values()) == before
    assert Employee.objects.count() == 1
    assert "customer_refused" in caplog.text


def test_an_event_without_ids_fails_and_changes_nothing():
    xml = event_xml(EVENT, "add_external_contact", UserID="zhangsan")
    event_id, _ = inbox_event_receive(raw_xml=xml, event=parse_event(xml))

    assert inbox_event_process(event_id=event_id) == "failed"

    assert "external_userid" in InboxEvent.objects.get(pk=event_id).last_error
    assert (Employee.objects.count(), FollowRelation.objects.count()) == (0, 0)
