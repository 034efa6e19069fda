"""change_external_tag callbacks through the real inbox: stored, processed, applied by tagging services."""

from datetime import UTC, datetime

import pytest

from scrm.wecom.events import parse_event
from scrm.wecom.models import InboxEvent
from scrm.wecom.services import inbox_event_process, inbox_event_receive
from tagging.models import Tag, TagGroup
from tagging.services import corp_tags_upsert_from_wecom
from tests.helpers import event_xml

pytestmark = pytest.mark.django_db

EVENT = "change_external_tag"


def process(change_type: str, create_time: int = 1709283600, **fields: str) -> InboxEvent:
    xml = event_xml(EVENT, change_type, create_time=create_time, **fields)
    event_id, created = inbox_event_receive(raw_xml=xml, event=parse_event(xml))
    assert created
    assert inbox_event_process(event_id=event_id) == "done", InboxEvent.objects.get(pk=event_id).last_error
    return InboxEvent.objects.get(pk=event_id)


@pytest.fixture
def synced():
    corp_tags_upsert_from_wecom(
        tag_groups=[
            {
                "group_id": "etG1",
                "group_name": "客户等级",
                "order": 1,
                "tag": [{"id": "etT1", "name": "A类客户"}, {"id": "etT2", "name": "B类客户"}],
            }
        ]
    )


def test_create_and_update_ensure_placeholders_by_type():
    process("create", Id="etT9", TagType="tag")
    process("create", Id="etG9", TagType="tag_group")
    process("update", create_time=1709283601, Id="etT9", TagType="tag")
    process("update", Id="etT8", TagType="tag")

    assert sorted(Tag.objects.values_list("tag_id", "name", "group")) == [("etT8", "", None), ("etT9", "", None)]
    assert list(TagGroup.objects.values_list("group_id", "name")) == [("etG9", "")]


def test_update_of_a_known_tag_records_only_when_wecom_changed_it(synced):
    before = list(Tag.objects.filter(tag_id="etT1").values())

    process("update", create_time=1709283600, Id="etT1", TagType="tag")
    process("update", create_time=1709283500, Id="etT1", TagType="tag")  # an older event, delivered late

    (after,) = Tag.objects.filter(tag_id="etT1").values()
    assert after["wecom_changed_at"] == datetime.fromtimestamp(1709283600, tz=UTC)  # moves forward only
    assert {**after, "wecom_changed_at": None, "updated_at": None} == {
        **before[0],
        "wecom_changed_at": None,
        "updated_at": None,
    }


def test_group_events_record_the_time_on_the_group(synced):
    process("update", create_time=1709283600, Id="etG1", TagType="tag_group")

    assert TagGroup.objects.get().wecom_changed_at == datetime.fromtimestamp(1709283600, tz=UTC)
    assert set(Tag.objects.values_list("wecom_changed_at", flat=True)) == {None}


def test_delete_tag(synced):
    process("delete", Id="etT1", TagType="tag")

    assert dict(Tag.objects.values_list("tag_id", "deleted")) == {"etT1": True, "etT2": False}


def test_delete_tag_group_marks_its_tags(synced):
    process("delete", Id="etG1", TagType="tag_group")

    assert TagGroup.objects.get().deleted is True
    assert Tag.objects.live().count() == 0
    assert Tag.objects.count() == 2


def test_shuffle_is_handled_without_changes(synced):
    before = [*TagGroup.objects.values(), *Tag.objects.values()]

    process("shuffle", Id="etG1")

    assert [*TagGroup.objects.values(), *Tag.objects.values()] == before
