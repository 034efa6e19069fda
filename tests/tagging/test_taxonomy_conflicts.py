# ruff: noqa: F811 - pytest fixtures imported from taxonomy_fixtures are test arguments of the same name
"""WeCom → here against edits made here that WeCom does not have yet: the later writer wins, in both directions,
with an audit entry saying what each side had; an event about one tag never decides for another; a full sync
counts from its fetch; a deletion in WeCom stands. Real change_external_tag callbacks through the inbox, the tag
list read from the simulator over HTTP."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone, translation

from scrm.core.models import AuditLog
from scrm.wecom.client import get_client
from scrm.wecom.events import parse_event
from scrm.wecom.followups import tags_refresh
from scrm.wecom.services import inbox_event_process, inbox_event_receive
from scrm.wecom.sync import wecom_sync
from tagging.models import SyncState, Tag, TagGroup, TagKind
from tagging.services import corp_tags_upsert_from_wecom
from tagging.services.taxonomy import tag_create, tag_group_create, tag_update
from tests.tagging.taxonomy_fixtures import (  # noqa: F401 - fixtures
    EDIT,
    bodies,
    callback_crypto,
    fresh,
    library,
    ops,
    push,
    sim,
    sim_groups,
    wecom_configured,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def deliver(xml: str) -> None:
    """A callback as the inbox takes it: stored, then processed by the registered handlers."""
    event_id, created = inbox_event_receive(raw_xml=xml, event=parse_event(xml))
    assert created
    assert inbox_event_process(event_id=event_id) == "done"


def edited_here(tag: Tag, name: str, ops, *, ago: timedelta = timedelta(0)) -> Tag:
    tag_update(tag=tag, name=name, actor=ops)
    Tag.objects.filter(pk=tag.pk).update(local_changed_at=timezone.now() - ago)
    return fresh(tag)


def conflicts():
    return list(AuditLog.objects.filter(action="sync_conflict").order_by("pk"))


def test_wecom_wins_when_it_changed_the_tag_later(sim, library, ops):
    tag = edited_here(library["A类客户"], "A类(这里)", ops, ago=timedelta(seconds=10))
    sim.tag_changes("update", tag_id=tag.tag_id, name="A类(企微)")  # an admin renames it in WeCom, now

    deliver(sim.callbacks[-1]["xml"])
    tags_refresh()

    tag = fresh(tag)
    assert (tag.name, tag.sync_state, tag.sync_attempts, tag.sync_error) == ("A类(企微)", SyncState.SYNCED, 0, "")
    (entry,) = conflicts()
    assert (entry.actor, entry.actor_label, entry.target_id) == (None, "system", str(tag.pk))
    assert entry.changes["name"] == {"here": "A类(这里)", "wecom": "A类(企微)"}
    assert entry.changes["winner"] == "wecom"
    here_at, wecom_at = (
        datetime.fromisoformat(entry.changes[key]) for key in ("changed_here_at", "changed_in_wecom_at")
    )
    assert wecom_at > here_at
    assert push(tag) == "skipped"  # the pending push was cancelled
    assert sim.requests_to(EDIT) == []


def test_here_wins_when_it_changed_the_tag_later(sim, library, ops):
    tag = library["A类客户"]
    sim.tag_changes("update", tag_id=tag.tag_id, name="A类(企微)")  # WeCom first …
    tag = edited_here(tag, "A类(这里)", ops)  # … then here, before the event was processed

    deliver(sim.callbacks[-1]["xml"])
    tags_refresh()

    tag = fresh(tag)
    assert (tag.name, tag.sync_state) == ("A类(这里)", SyncState.PENDING)
    (entry,) = conflicts()
    assert entry.changes["name"] == {"here": "A类(这里)", "wecom": "A类(企微)"}
    assert entry.changes["winner"] == "here"
    assert push(tag) == "synced"  # and WeCom gets the later name
    assert "A类(这里)" in sim_groups(sim)["客户等级"]["tags"]
    assert bodies(sim, EDIT) == [{"id": tag.tag_id, "name": "A类(这里)", "order": tag.order}]


def test_an_event_about_one_tag_does_not_decide_for_another(sim, library, ops):
    a = edited_here(library["A类客户"], "A类(这里)", ops, ago=timedelta(seconds=10))
    b = library["B类客户"]
    sim.tag_changes("update", tag_id=b.tag_id, name="B类(企微)")

    deliver(sim.callbacks[-1]["xml"])
    tags_refresh()

    assert (fresh(a).name, fresh(a).sync_state) == ("A类(这里)", SyncState.PENDING)  # WeCom's old name is no news
    assert (fresh(b).name, fresh(b).sync_state) == ("B类(企微)", SyncState.SYNCED)
    (entry,) = conflicts()
    assert (entry.target_id, entry.changes["winner"], entry.changes["changed_in_wecom_at"]) == (
        str(a.pk),
        "here",
        None,
    )


def test_a_full_sync_counts_from_the_time_it_fetched(sim, library, ops):
    tag = edited_here(library["A类客户"], "A类(这里)", ops, ago=timedelta(seconds=10))

    assert "error" not in wecom_sync(resources=("tags",))["tags"]

    assert (fresh(tag).name, fresh(tag).sync_state) == ("A类客户", SyncState.SYNCED)
    (entry,) = conflicts()
    assert entry.changes["name"] == {"here": "A类(这里)", "wecom": "A类客户"}
    assert entry.changes["winner"] == "wecom"


def test_a_deletion_in_wecom_stands_over_a_later_edit_here(sim, library, ops):
    tag = library["A类客户"]
    sim.tag_changes("delete", tag_id=tag.tag_id)
    tag = edited_here(tag, "A类(这里)", ops)

    deliver(sim.callbacks[-1]["xml"])

    tag = fresh(tag)
    assert (tag.deleted, tag.sync_state, tag.name) == (True, SyncState.SYNCED, "A类(这里)")
    (entry,) = conflicts()
    assert (entry.changes["deleted"], entry.changes["winner"]) == ({"here": False, "wecom": True}, "wecom")


def test_agreeing_is_no_conflict(sim, library, ops):
    tag = library["A类客户"]
    sim.tag_changes("update", tag_id=tag.tag_id, name="A类(同名)")
    edited_here(tag, "A类(同名)", ops, ago=timedelta(seconds=10))

    deliver(sim.callbacks[-1]["xml"])
    tags_refresh()

    assert conflicts() == []
    assert fresh(tag).sync_state == SyncState.PENDING  # its push confirms what WeCom has


def test_a_full_list_marks_only_wecom_rows_it_could_have_known(sim, library, ops):
    unsent = tag_create(group=library["A类客户"].group, name="未发送", actor=ops)
    region = tag_group_create(name="区域", kind=TagKind.SYSTEM, actor=ops)
    shanghai = tag_create(group=region, name="上海", actor=ops)
    fetched_at = timezone.now()
    just_added = Tag.objects.create(group=library["A类客户"].group, tag_id="etJustAdded", name="刚加")  # after it

    tag_groups = get_client("contact").external_contact.get_corp_tag_list()["tag_group"]
    corp_tags_upsert_from_wecom(tag_groups=tag_groups, complete=True, fetched_at=fetched_at)

    assert not any(fresh(node).deleted for node in (unsent, region, shanghai, just_added))
    assert TagGroup.objects.filter(deleted=True).count() == 0
    assert conflicts() == []
