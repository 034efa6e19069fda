"""After a callback, a real worker reads what the event did not carry: the contact's detail, the group's
members, the tag list — from the simulator, over HTTP."""

import pytest

from customers.models import ExternalContact, FollowRelation
from groups.models import CustomerGroup
from scrm.wecom.followups import contact_refresh, group_refresh
from scrm.wecom.models import InboxEvent
from tagging.models import Tag
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def deliver_last_event(simulator, post_callback):
    response = post_callback(simulator.callbacks[-1]["xml"])
    assert response.status_code == 200


def test_new_customer_gets_their_full_detail(celery_worker, wecom_configured, post_callback):
    sim = wecom_configured
    ext = sim.customer_adds_employee("zhangsan", name="王小明", state="store-9")["external_userid"]

    deliver_last_event(sim, post_callback)

    contact = wait_until(lambda: ExternalContact.objects.filter(external_userid=ext, name="王小明").first())
    assert contact is not None, list(InboxEvent.objects.values("status", "last_error"))
    assert contact.synced_at is not None
    relation = FollowRelation.objects.get(contact=contact)
    assert (relation.employee.userid, relation.state, relation.status) == ("zhangsan", "store-9", "active")
    assert list(InboxEvent.objects.values_list("status", flat=True)) == ["done"]


def test_group_join_refreshes_the_member_list(celery_worker, wecom_configured, post_callback):
    sim = wecom_configured
    chat_id, group = next(iter(sim.state.groups.items()))
    newcomer = sim.customer_adds_employee(group["owner"], name="入群客户")["external_userid"]
    sim.customer_joins_group(chat_id, newcomer)

    deliver_last_event(sim, post_callback)

    def refreshed():
        return CustomerGroup.objects.filter(chat_id=chat_id, name=group["name"]).first()

    stored = wait_until(refreshed)
    assert stored is not None, list(InboxEvent.objects.values("status", "last_error"))
    assert stored.member_count == len(group["member_list"])
    assert stored.members.filter(member_id=newcomer, left_at__isnull=True).count() == 1


def test_new_tag_gets_its_name_and_group(celery_worker, wecom_configured, post_callback):
    sim = wecom_configured
    sim.tag_changes("create", name="高意向")

    deliver_last_event(sim, post_callback)

    tag = wait_until(lambda: Tag.objects.filter(name="高意向").first())
    assert tag is not None, list(InboxEvent.objects.values("status", "last_error"))
    assert tag.group is not None


def test_refreshing_a_contact_wecom_no_longer_knows_changes_nothing(wecom_configured):
    assert contact_refresh(external_userid="wmGONE") is False
    assert ExternalContact.objects.count() == 0


def test_group_refresh_is_idempotent(wecom_configured):
    chat_id = next(iter(wecom_configured.state.groups))
    group_refresh(chat_id=chat_id)
    first = CustomerGroup.objects.get(chat_id=chat_id)

    group_refresh(chat_id=chat_id)

    again = CustomerGroup.objects.get(chat_id=chat_id)
    assert (again.member_count, again.updated_at) == (first.member_count, first.updated_at)
