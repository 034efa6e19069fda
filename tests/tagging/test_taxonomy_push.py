# ruff: noqa: F811 - pytest fixtures imported from taxonomy_fixtures are test arguments of the same name
"""Corp-tag edits made here reach the WeCom simulator over HTTP: each exactly once, new groups with their first
tags, retries after WeCom was busy, no duplicate after an add whose outcome is unknown, refusals recorded in plain
words, and WeCom's rules (3,000 tags, an app edits only its own tags) refused before any request."""

import threading
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from customers.models import ExternalContact
from customers.services.wecom import follow_relation_upsert
from scrm.core.models import AuditLog
from tagging.models import MAX_CORP_TAGS, Source, SyncState, Tag, TagKind, WeComTagPush
from tagging.services import customer_tags_change
from tagging.services.taxonomy import (
    tag_create,
    tag_delete,
    tag_group_create,
    tag_group_delete,
    tag_group_update,
    tag_update,
)
from tagging.services.taxonomy_push import (
    MAX_ATTEMPTS,
    retry_delay,
    taxonomy_push_again,
    taxonomy_pushes_due,
)
from tests.helpers import wait_until
from tests.tagging.taxonomy_fixtures import (  # noqa: F401 - fixtures
    ADD,
    DELETE,
    EDIT,
    LIST,
    bodies,
    callback_crypto,
    eager,
    fresh,
    library,
    ops,
    push,
    rewind,
    sim,
    sim_groups,
    wecom_configured,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_a_new_group_goes_out_with_its_first_tag_in_one_call(
    sim, library, ops, eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        group = tag_group_create(name="会员等级", order=7, actor=ops)
    assert (callbacks, sim.requests) == ([], [])  # WeCom has no empty groups: nothing to send yet

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        gold = tag_create(group=group, name="金卡", order=2, actor=ops)
    with django_capture_on_commit_callbacks(execute=True):
        silver = tag_create(group=group, name="银卡", order=1, actor=ops)

    assert len(callbacks) == 1
    group, gold, silver = fresh(group), fresh(gold), fresh(silver)
    assert bodies(sim, ADD) == [
        {"group_name": "会员等级", "order": 7, "tag": [{"name": "金卡", "order": 2}]},
        {"group_id": group.group_id, "tag": [{"name": "银卡", "order": 1}]},
    ]
    in_wecom = sim_groups(sim)["会员等级"]
    assert (group.group_id, group.created_here, group.sync_state) == (in_wecom["group_id"], True, SyncState.SYNCED)
    assert [(t.tag_id, t.created_here, t.sync_state, t.sync_attempts) for t in (gold, silver)] == [
        (in_wecom["tags"]["金卡"], True, SyncState.SYNCED, 0),
        (in_wecom["tags"]["银卡"], True, SyncState.SYNCED, 0),
    ]
    assert (push(gold), push(group)) == ("skipped", "skipped")
    assert len(sim.requests_to(ADD)) == 2


def test_customers_tagged_before_the_tag_reached_wecom_are_marked_once_it_has_an_id(
    sim, library, ops, django_capture_on_commit_callbacks
):
    follow_relation_upsert(userid="zhangsan", external_userid="wmA")
    customer = ExternalContact.objects.get(external_userid="wmA").customer
    with django_capture_on_commit_callbacks():  # the push waits: the tag has no WeCom id yet
        tag = tag_create(group=library["A类客户"].group, name="已到店", actor=ops)
        customer_tags_change(customer_ids=[customer.pk], add=[tag.pk], source=Source.MANUAL)
    assert WeComTagPush.objects.count() == 0

    assert push(tag) == "synced"

    queued = WeComTagPush.objects.get()
    assert (queued.relation.employee.userid, queued.add_tag_ids, queued.remove_tag_ids) == (
        "zhangsan",
        [fresh(tag).tag_id],
        [],
    )


def test_tags_created_before_the_first_push_go_together(sim, library, ops, django_capture_on_commit_callbacks):
    group = tag_group_create(name="会员等级", actor=ops)
    with django_capture_on_commit_callbacks() as callbacks:
        tags = [
            tag_create(group=group, name=name, order=order, actor=ops) for name, order in (("金卡", 2), ("银卡", 1))
        ]
    assert len(callbacks) == 2

    assert [push(tag) for tag in tags] == ["synced", "skipped"]

    assert bodies(sim, ADD) == [
        {"group_name": "会员等级", "order": 0, "tag": [{"name": "金卡", "order": 2}, {"name": "银卡", "order": 1}]}
    ]
    assert sorted(sim_groups(sim)["会员等级"]["tags"]) == ["金卡", "银卡"]
    assert {t.sync_state for t in Tag.objects.filter(group=group)} == {SyncState.SYNCED}


def test_edit_and_delete_reach_wecom_exactly_once_each(sim, library, ops, eager, django_capture_on_commit_callbacks):
    tag = library["A类客户"]
    with django_capture_on_commit_callbacks(execute=True):
        tag_update(tag=tag, name="A类客户(高)", order=9, actor=ops)
    assert bodies(sim, EDIT) == [{"id": tag.tag_id, "name": "A类客户(高)", "order": 9}]
    assert fresh(tag).sync_state == SyncState.SYNCED
    assert "A类客户(高)" in sim_groups(sim)["客户等级"]["tags"]

    with django_capture_on_commit_callbacks(execute=True):
        tag_delete(tag=tag, actor=ops)
    assert bodies(sim, DELETE) == [{"tag_id": [tag.tag_id]}]
    assert (fresh(tag).deleted, fresh(tag).sync_state) == (True, SyncState.SYNCED)
    assert sorted(sim_groups(sim)["客户等级"]["tags"]) == ["B类客户", "C类客户"]
    assert [r.path for r in sim.requests if r.path != "gettoken"] == [EDIT, DELETE]


def test_group_rename_and_delete(sim, library, ops, eager, django_capture_on_commit_callbacks):
    group = library["年卡会员"].group
    with django_capture_on_commit_callbacks(execute=True):
        tag_group_update(group=group, name="意向课程", actor=ops)
    assert bodies(sim, EDIT) == [{"id": group.group_id, "name": "意向课程", "order": group.order}]

    with django_capture_on_commit_callbacks(execute=True):
        tag_group_delete(group=group, actor=ops)

    assert bodies(sim, DELETE) == [{"group_id": [group.group_id]}]
    assert "意向课程" not in sim_groups(sim)
    assert (fresh(group).deleted, fresh(group).sync_state) == (True, SyncState.SYNCED)
    assert set(Tag.objects.filter(group=group).values_list("deleted", "sync_state")) == {(True, SyncState.SYNCED)}


def test_deleting_the_last_tag_deletes_the_group_as_wecom_does(
    sim, library, ops, eager, django_capture_on_commit_callbacks
):
    group = library["门店扫码"].group
    with django_capture_on_commit_callbacks(execute=True):
        for tag in Tag.objects.filter(group=group).order_by("pk"):
            tag_delete(tag=tag, actor=ops)

    assert "来源渠道" not in sim_groups(sim)
    assert len(sim.requests_to(DELETE)) == 3
    assert (fresh(group).deleted, fresh(group).sync_state) == (True, SyncState.SYNCED)


def test_busy_then_success(sim, library, ops):
    group = library["A类客户"].group
    tag = tag_create(group=group, name="D类客户", actor=ops)
    sim.faults.inject(path=ADD, errcode=-1, times=3)  # the client's own three tries all meet "system busy"

    assert push(tag) == "pending"
    tag = fresh(tag)
    assert (tag.sync_state, tag.sync_attempts, tag.tag_id) == (SyncState.PENDING, 1, "")
    assert "busy" in tag.sync_error and "errcode -1" in tag.sync_error
    assert push(tag) == "skipped"  # resting: not before retry_delay(1)
    assert len(sim.requests_to(ADD)) == 3

    rewind(tag, by=retry_delay(1))
    assert push(tag) == "synced"

    tag = fresh(tag)
    assert (tag.sync_state, tag.sync_attempts, tag.sync_error) == (SyncState.SYNCED, 0, "")
    assert tag.tag_id == sim_groups(sim)["客户等级"]["tags"]["D类客户"]
    # the retry looked first (an earlier add might have gone through), then added once
    assert [r.path for r in sim.requests if r.path in (ADD, LIST)] == [ADD, ADD, ADD, LIST, ADD]


@pytest.mark.parametrize("drop", ["after", "before"])
def test_an_add_whose_outcome_is_unknown_is_never_made_twice(sim, library, ops, drop):
    tag = tag_create(group=library["A类客户"].group, name="D类客户", actor=ops)
    sim.faults.inject(path=ADD, drop=drop)  # the connection breaks after WeCom applied it, or before

    assert push(tag) == "pending"
    assert "may or may not" in fresh(tag).sync_error
    rewind(tag, by=retry_delay(1))
    assert push(tag) == "synced"

    in_wecom = sim_groups(sim)["客户等级"]["tags"]
    assert list(in_wecom).count("D类客户") == 1
    assert fresh(tag).tag_id == in_wecom["D类客户"]
    assert len(sim.requests_to(ADD)) == (1 if drop == "after" else 2)


def test_a_new_group_whose_add_outcome_is_unknown_is_found_by_name(sim, library, ops):
    group = tag_group_create(name="会员等级", actor=ops)
    tag = tag_create(group=group, name="金卡", actor=ops)
    sim.faults.inject(path=ADD, drop="after")

    assert push(tag) == "pending"
    rewind(group, by=retry_delay(1))
    assert push(tag) == "synced"

    in_wecom = sim_groups(sim)["会员等级"]
    assert (fresh(group).group_id, fresh(tag).tag_id) == (in_wecom["group_id"], in_wecom["tags"]["金卡"])
    assert len(sim.requests_to(ADD)) == 1
    assert [g for g in sim_groups(sim) if g == "会员等级"] == ["会员等级"]


def test_a_refusal_is_recorded_in_plain_words_until_pushed_again(sim, library, ops):
    tag = library["A类客户"]
    sim.tag_changes("create", group_id=tag.group.group_id, name="A类客户(新)")  # in WeCom, not synced here yet
    tag_update(tag=tag, name="A类客户(新)", actor=ops)

    assert push(tag) == "failed"
    tag = fresh(tag)
    assert tag.sync_state == SyncState.FAILED
    assert "already has a tag group, or a tag in this group, with this name" in tag.sync_error
    assert "errcode 40071" in tag.sync_error
    assert push(tag) == "skipped"  # refused stays refused: no retry on its own
    assert len(sim.requests_to(EDIT)) == 1

    tag_update(tag=tag, name="A类客户(高)", actor=ops)  # a new name clears the refusal and is pushed
    assert push(tag) == "synced"
    assert "A类客户(高)" in sim_groups(sim)["客户等级"]["tags"]


def test_push_again_after_a_refusal(sim, library, ops):
    tag = library["A类客户"]
    tag_update(tag=tag, name="A+", actor=ops)
    sim.faults.inject(path=EDIT, errcode=40058)
    assert push(tag) == "failed"

    assert taxonomy_push_again(nodes=[fresh(tag)], actor=ops) == 1
    assert AuditLog.objects.filter(action="push_again", target_id=str(tag.pk)).count() == 1
    assert push(tag) == "synced"
    assert "A+" in sim_groups(sim)["客户等级"]["tags"]
    assert taxonomy_push_again(nodes=[fresh(tag)], actor=ops) == 0  # in sync: nothing to push


def test_a_busy_wecom_is_given_up_on_after_max_attempts(sim, library, ops):
    tag = library["A类客户"]
    tag_update(tag=tag, name="A+", actor=ops)
    Tag.objects.filter(pk=tag.pk).update(sync_attempts=MAX_ATTEMPTS - 1, updated_at=timezone.now() - timedelta(days=1))
    sim.faults.inject(path=EDIT, errcode=45009, times=3)

    assert push(tag) == "failed"
    assert fresh(tag).sync_error.startswith(f"Gave up after {MAX_ATTEMPTS} attempts")


def test_the_3000_tag_limit_is_refused_before_any_request(sim, library, ops, django_capture_on_commit_callbacks):
    group = library["A类客户"].group
    used = Tag.objects.filter(kind=TagKind.CORP).count()
    Tag.objects.bulk_create(
        Tag(group=group, name=f"批量{n}", tag_id=f"etBulk{n}", kind=TagKind.CORP) for n in range(MAX_CORP_TAGS - used)
    )
    before = Tag.objects.count()

    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError) as refused:
        tag_create(group=group, name="第3001个", actor=ops)

    assert "at most 3,000 corp tags" in refused.value.messages[0]
    assert (Tag.objects.count(), callbacks, sim.requests) == (before, [], [])
    assert not AuditLog.objects.filter(action="create").exists()


def test_a_tag_not_created_by_this_app_is_refused_without_the_contact_secret(sim, library, ops, settings):
    settings.WECOM_CONTACT_SECRET = ""  # tags are managed with the self-built app's secret
    tag = library["A类客户"]

    with pytest.raises(ValidationError) as refused:
        tag_update(tag=tag, name="A+", actor=ops)
    with pytest.raises(ValidationError):
        tag_delete(tag=tag, actor=ops)

    assert "Change it in the WeCom admin console" in refused.value.messages[0]
    assert (fresh(tag).name, fresh(tag).sync_state, sim.requests) == ("A类客户", SyncState.SYNCED, [])

    # one the app created itself (through the app's secret) it may change
    mine = tag_create(group=tag.group, name="D类客户", actor=ops)
    assert push(mine) == "synced"
    tag_update(tag=fresh(mine), name="D类客户+", actor=ops)
    assert push(mine) == "synced"
    assert "D类客户+" in sim_groups(sim)["客户等级"]["tags"]


def test_wecom_refusing_a_tag_it_says_is_not_ours_is_explained(sim, library, ops, settings):
    settings.WECOM_CONTACT_SECRET = ""
    tag = library["A类客户"]
    Tag.objects.filter(pk=tag.pk).update(created_here=True)  # we believed it ours; WeCom knows better
    tag_update(tag=fresh(tag), name="A+", actor=ops)

    assert push(tag) == "failed"
    assert "may change only the corp tags it created" in fresh(tag).sync_error
    assert "errcode 81011" in fresh(tag).sync_error


def test_system_tags_never_reach_wecom(sim, library, ops, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        group = tag_group_create(name="区域", kind=TagKind.SYSTEM, actor=ops)
        tag = tag_create(group=group, name="上海", actor=ops)
        tag_update(tag=tag, name="上海市", actor=ops)
        tag_delete(tag=tag, actor=ops)

    assert callbacks == []
    assert (push(tag), push(group)) == ("skipped", "skipped")
    assert sim.requests == []
    assert {fresh(group).sync_state, fresh(tag).sync_state} == {SyncState.LOCAL}


def test_the_sweep_takes_lost_and_due_pushes_only(sim, library, ops):
    now = timezone.now()
    lost = tag_update(tag=library["A类客户"], name="A+", actor=ops)
    fresh_edit = tag_update(tag=library["B类客户"], name="B+", actor=ops)
    resting = tag_update(tag=library["C类客户"], name="C+", actor=ops)
    Tag.objects.filter(pk=resting.pk).update(sync_attempts=2)
    refused = tag_update(tag=library["年卡会员"], name="年卡+", actor=ops)
    Tag.objects.filter(pk=refused.pk).update(sync_state=SyncState.FAILED)
    waiting_group = tag_group_create(name="空分组", actor=ops)  # no tags yet: nothing WeCom could take
    for node in (lost, resting, refused, waiting_group):
        rewind(node, by=timedelta(minutes=2))

    assert fresh_edit.sync_state == SyncState.PENDING
    assert taxonomy_pushes_due(now=now) == [("tag", lost.pk)]  # not the edit just made: its push is on the way
    assert ("tag", resting.pk) in taxonomy_pushes_due(now=now + retry_delay(2))


@pytest.mark.django_db(transaction=True)
def test_an_edit_made_while_a_push_is_in_flight_follows_it(sim, library, ops, eager):
    """The push sends the name it read; the newer edit waits for it, then goes out by itself."""
    group = library["A类客户"].group
    tag = Tag.objects.create(group=group, name="D类客户", sync_state=SyncState.PENDING, local_changed_at=timezone.now())
    sim.faults.inject(path=ADD, delay=0.5)
    outcome = []

    def send():
        try:
            outcome.append(push(tag))
        finally:
            connection.close()

    sender = threading.Thread(target=send)
    sender.start()
    while not Tag.objects.filter(pk=tag.pk, sync_attempts=1).exists():  # claimed
        time.sleep(0.02)
    tag_update(tag=fresh(tag), name="D类客户+", actor=ops)  # its push (eager, after commit) finds it claimed
    sender.join()

    assert outcome == ["pending"]  # it saw the newer edit, and queued its push (which ran, eagerly)
    tag = fresh(tag)
    assert (tag.sync_state, tag.name) == (SyncState.SYNCED, "D类客户+")
    assert sorted(sim_groups(sim)["客户等级"]["tags"]) == ["A类客户", "B类客户", "C类客户", "D类客户+"]
    assert bodies(sim, ADD) == [{"group_id": group.group_id, "tag": [{"name": "D类客户", "order": 0}]}]
    assert bodies(sim, EDIT) == [{"id": tag.tag_id, "name": "D类客户+", "order": 0}]


@pytest.mark.django_db(transaction=True)
def test_a_worker_pushes_after_commit_and_the_sweep_takes_a_lost_push(celery_worker, sim, library, ops):
    from tagging.tasks.taxonomy import taxonomy_push_due

    group = library["A类客户"].group
    tag = tag_create(group=group, name="D类客户", actor=ops)  # committed: its push goes to the worker

    assert wait_until(lambda: fresh(tag).sync_state == SyncState.SYNCED), fresh(tag).sync_error
    assert fresh(tag).tag_id == sim_groups(sim)["客户等级"]["tags"]["D类客户"]

    lost = Tag.objects.create(
        group=group, name="E类客户", sync_state=SyncState.PENDING, local_changed_at=timezone.now()
    )
    rewind(lost, by=timedelta(minutes=2))  # its push was never queued
    taxonomy_push_due.delay()

    assert wait_until(lambda: fresh(lost).sync_state == SyncState.SYNCED), fresh(lost).sync_error
    assert sorted(sim_groups(sim)["客户等级"]["tags"]) == ["A类客户", "B类客户", "C类客户", "D类客户", "E类客户"]
    assert len(sim.requests_to(ADD)) == 2
