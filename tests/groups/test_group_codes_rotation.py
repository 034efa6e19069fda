"""Group live codes rotating through their groups, driven by WeCom: customers scan the join_way in the simulator,
its signed callbacks reach the app, and everything queued after commit runs in this process. Exact chat lists."""

import pytest

from customers.models import ExternalContact
from groups.models import CustomerGroup
from groups.tasks.group_codes import group_codes_check
from tagging.models import CustomerTag
from tests.groups.group_code_fixtures import (  # noqa: F401 - fixtures
    UPDATE,
    alerts,
    code_groups,
    code_tags_fixture,
    deliver,
    eager_fixture,
    fill,
    fresh,
    load,
    make_code,
    scan,
    sim_fixture,
    sim_group,
    way,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("eager")]


def customers_of(*external_userids: str) -> list[int]:
    contacts = ExternalContact.objects.filter(external_userid__in=external_userids)
    return sorted(contacts.values_list("customer_id", flat=True))


def tagged(tag) -> list[int]:
    return sorted(CustomerTag.objects.filter(tag=tag).values_list("customer_id", flat=True))


def test_joiners_fill_each_group_in_turn_then_ops_are_alerted_once(
    sim, code_tags, post_callback, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    chats = [sim_group(sim, f"门店{n}群") for n in range(1, 8)]  # the owner in each: 1 member
    tag = code_tags["扫码入群"]
    code = make_code(capture, load(*chats), threshold=3, auto_create_room=False, tag_ids=[tag.pk])
    assert way(sim, code)["chat_id_list"] == chats[:5]

    joiners = []
    for n, chat_id in enumerate(chats):
        joiners += [scan(sim, post_callback, capture, code) for _ in range(2)]
        assert CustomerGroup.objects.get(chat_id=chat_id).member_count == 3
        assert [m["userid"] for m in sim.state.groups[chat_id]["member_list"][1:]] == joiners[-2:]
        if n < len(chats) - 1:  # the code moved on to the next five groups with room
            assert fresh(code).wecom_chat_ids == way(sim, code)["chat_id_list"] == chats[n + 1 : n + 6]
            assert (fresh(code).status, alerts(code)) == ("open", 0)

    code = fresh(code)
    assert code_groups(code) == [(chat_id, True, False) for chat_id in chats]
    assert (code.status, alerts(code)) == ("full", 1)
    assert code.alerted_at is not None
    assert way(sim, code)["chat_id_list"] == [chats[-1]]  # kept: WeCom takes no empty list
    assert len(sim.requests_to(UPDATE)) == 6

    group_codes_check()
    joiners.append(scan(sim, post_callback, capture, code))  # a late scanner still gets in: WeCom's limit is 200
    assert (fresh(code).status, alerts(code)) == ("full", 1)

    assert tagged(tag) == customers_of(*joiners) and len(joiners) == 15
    assert ExternalContact.objects.filter(external_userid__in=joiners, customer__isnull=True).count() == 0


def test_when_every_group_is_full_wecom_makes_the_next_one_and_it_is_adopted(
    sim, code_tags, post_callback, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    first = sim_group(sim, "门店群", owner="lisi")
    tag = code_tags["门店群"]
    code = make_code(capture, load(first), threshold=3, room_base_name="门店新群", room_base_id=5, tag_ids=[tag.pk])

    joiners = [scan(sim, post_callback, capture, code) for _ in range(2)]
    code = fresh(code)
    assert code_groups(code) == [(first, True, False)]
    assert (code.status, code.wecom_chat_ids, way(sim, code)["chat_id_list"]) == ("open", [first], [first])

    fill(sim, first, 200)  # WeCom lets joiners in until its own limit, then creates the next group
    start = len(sim.callbacks)
    joined = sim.customer_scans_join_way(code.config_id, sim.customer_adds_employee("lisi")["external_userid"])
    deliver(post_callback, capture, sim.callbacks[start:])

    new = joined["chat_id"]
    assert joined["created"] is True
    assert (sim.state.groups[new]["name"], sim.state.groups[new]["owner"]) == ("门店新群5", "lisi")
    code = fresh(code)
    assert code_groups(code) == [(first, True, False), (new, False, True)]
    assert (code.status, code.wecom_sync, code.wecom_chat_ids) == ("open", "synced", [new])
    assert way(sim, code)["chat_id_list"] == [new]
    assert code.room_base_id == way(sim, code)["room_base_id"] == 6  # WeCom's count kept: no second 门店新群5
    assert alerts(code) == 0
    assert tagged(tag) == customers_of(*joiners, joined["external_userid"])


def test_a_dismissed_group_moves_the_code_on(sim, post_callback, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    chats = [sim_group(sim, "一群"), sim_group(sim, "二群")]
    code = make_code(capture, load(*chats))

    sim.emit_callback(sim.event_fields("change_external_chat", "dismiss", ChatId=chats[0]))
    deliver(post_callback, capture, sim.callbacks[-1:])

    assert code_groups(fresh(code)) == [(chats[0], True, False), (chats[1], False, False)]
    assert way(sim, code)["chat_id_list"] == [chats[1]]


def test_the_periodic_check_catches_what_events_missed(sim, django_capture_on_commit_callbacks):
    capture = django_capture_on_commit_callbacks
    chats = [sim_group(sim, "一群"), sim_group(sim, "二群")]
    full_code = make_code(capture, load(*chats), threshold=10, auto_create_room=False)
    waiting = make_code(capture, load(sim_group(sim, "三群", members=10)), threshold=10, name="等新群")
    assert code_groups(waiting) == [(waiting.wecom_chat_ids[0], True, False)]

    # A member count the events never told the code about; a group WeCom made that no callback announced.
    CustomerGroup.objects.filter(chat_id=chats[0]).update(member_count=10)
    made = sim_group(sim, "等新群1")
    sim.state.join_ways[waiting.config_id]["chat_id_list"].append(made)

    with capture(execute=True):
        group_codes_check()

    assert code_groups(fresh(full_code)) == [(chats[0], True, False), (chats[1], False, False)]
    assert way(sim, full_code)["chat_id_list"] == [chats[1]]
    assert code_groups(fresh(waiting))[1] == (made, False, True)
    assert way(sim, waiting)["chat_id_list"] == [made]
    assert CustomerGroup.objects.get(chat_id=made).name == "等新群1"  # its detail read after adoption


def test_tagging_two_hundred_joiners_takes_the_queries_twenty_do(sim, code_tags, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from customers.models import Customer
    from groups.hooks_group_codes import members_changed
    from groups.models import GroupMember

    tag = code_tags["扫码入群"]
    small, large = load(sim_group(sim, "小群"), sim_group(sim, "大群"))
    code = make_code(django_capture_on_commit_callbacks, [small, large], tag_ids=[tag.pk])
    queries = {}
    for group, count in ((small, 20), (large, 200)):
        customers = Customer.objects.bulk_create([Customer(name=f"{group.name}{n}") for n in range(count)])
        ExternalContact.objects.bulk_create(
            [ExternalContact(external_userid=f"wm{group.pk}x{n:04d}", customer=c) for n, c in enumerate(customers)]
        )
        GroupMember.objects.bulk_create(
            GroupMember(group=group, member_id=f"wm{group.pk}x{n:04d}", member_type=2, join_state=code.state)
            for n in range(count)
        )
        with CaptureQueriesContext(connection) as captured:
            members_changed(group_ids=[group.pk])
        # The hook's own reads; tagging's writes are its business (SQLite splits a bulk INSERT in batches).
        own = [q["sql"] for q in captured.captured_queries if '"groups_' in q["sql"] or "externalcontact" in q["sql"]]
        queries[count] = (len(own), len(captured) < 40)
        assert CustomerTag.objects.filter(tag=tag, customer__in=customers).count() == count

    assert queries[200] == queries[20] == (6, True), queries  # five reads and the members marked tagged


def test_a_joiner_is_tagged_once_per_join_not_at_every_refresh(sim, code_tags, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from customers.models import Customer
    from groups.hooks_group_codes import members_changed
    from groups.models import GroupMember
    from tagging.models import Source
    from tagging.services import customer_tags_change

    tag = code_tags["扫码入群"]
    (group,) = load(sim_group(sim, "小群"))
    code = make_code(django_capture_on_commit_callbacks, [group], tag_ids=[tag.pk])
    customer = Customer.objects.create(name="王芳")
    ExternalContact.objects.create(external_userid="wmJOIN", customer=customer)
    joined_at = timezone.now() - timedelta(hours=1)
    member = GroupMember.objects.create(
        group=group, member_id="wmJOIN", member_type=2, join_state=code.state, join_time=joined_at
    )

    members_changed(group_ids=[group.pk])
    assert CustomerTag.objects.filter(tag=tag, customer=customer).count() == 1

    customer_tags_change(customer_ids=[customer.pk], remove=[tag.pk], source=Source.MANUAL)  # staff take it off
    members_changed(group_ids=[group.pk])  # the group refreshed again: same join
    assert CustomerTag.objects.filter(tag=tag, customer=customer).count() == 0

    GroupMember.objects.filter(pk=member.pk).update(join_time=timezone.now() + timedelta(seconds=1))  # joined again
    members_changed(group_ids=[group.pk])
    assert CustomerTag.objects.filter(tag=tag, customer=customer).count() == 1
