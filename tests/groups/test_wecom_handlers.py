"""change_external_chat callbacks through the real inbox: stored, processed, applied by groups services."""

from datetime import UTC, datetime

import pytest

from groups.models import CustomerGroup, GroupMember
from groups.services import group_upsert_from_wecom
from scrm.wecom.events import parse_event
from scrm.wecom.models import InboxEvent
from scrm.wecom.services import inbox_event_process, inbox_event_receive
from tests.helpers import CORP_ID, event_xml

pytestmark = pytest.mark.django_db

EVENT = "change_external_chat"
CHAT = "wrCHAT0001"
T = 1709283600  # 2024-03-01 09:00 UTC


def receive_and_process(xml: str) -> InboxEvent:
    event_id, created = inbox_event_receive(raw_xml=xml, event=parse_event(xml))
    assert created
    assert inbox_event_process(event_id=event_id) == "done", InboxEvent.objects.get(pk=event_id).last_error
    return InboxEvent.objects.get(pk=event_id)


def process(change_type: str, create_time: int = T, **fields: str) -> InboxEvent:
    return receive_and_process(event_xml(EVENT, change_type, create_time=create_time, ChatId=CHAT, **fields))


def member_change(detail: str, members: list[str], *, create_time: int = T, **fields: str) -> InboxEvent:
    """An update event as WeCom sends it: numbers bare, MemChangeList as <Item> children."""
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
    extra = "".join(f"<{name}>{value}</{name}>" for name, value in fields.items())
    xml = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{EVENT}]]></Event><ChatId><![CDATA[{CHAT}]]></ChatId>"
        f"<ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[{detail}]]></UpdateDetail>"
        f"{extra}<MemChangeCnt>{len(members)}</MemChangeCnt><MemChangeList>{items}</MemChangeList></xml>"
    )
    return receive_and_process(xml)


def group() -> CustomerGroup:
    return CustomerGroup.objects.get(chat_id=CHAT)


def test_create_makes_a_placeholder_group():
    process("create")

    row = group()
    assert (row.name, row.status, row.member_count, row.is_placeholder) == ("", "normal", 0, True)
    assert row.wecom_created_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def test_add_and_del_member_on_an_unknown_group():
    member_change("add_member", ["wmA", "wmB", "lisi"], JoinScene="3", LastMemVer="v0", CurMemVer="v1")

    assert CustomerGroup.objects.count() == 1
    assert (group().member_count, group().member_version) == (3, "v1")
    assert dict(GroupMember.objects.values_list("member_id", "join_scene")) == {"wmA": 3, "wmB": 3, "lisi": 3}

    member_change("del_member", ["wmB"], create_time=T + 60, QuitScene="1", LastMemVer="v1", CurMemVer="v2")

    assert (group().member_count, group().member_version) == (2, "v2")
    left = GroupMember.objects.get(member_id="wmB")
    assert (left.left_at, left.quit_scene) == (datetime(2024, 3, 1, 9, 1, tzinfo=UTC), 1)
    assert GroupMember.objects.count() == 3


def test_join_replayed_is_applied_once():
    member_change("add_member", ["wmA"], JoinScene="0", CurMemVer="v1")
    before = [*CustomerGroup.objects.values(), *GroupMember.objects.values()]

    # Same event, different bytes (whitespace in a field): a new inbox row, the same outcome.
    member_change("add_member", ["wmA"], JoinScene=" 0 ", CurMemVer="v1")

    assert [*CustomerGroup.objects.values(), *GroupMember.objects.values()] == before
    assert GroupMember.objects.get().join_scene == GroupMember.JoinScene.INVITED


def test_members_join_a_synced_group():
    group_upsert_from_wecom(
        detail={
            "chat_id": CHAT,
            "name": "私教体验群",
            "owner": "lisi",
            "member_list": [{"userid": "lisi", "type": 1, "join_time": T - 3600, "join_scene": 1}],
            "member_version": "v1",
        },
        at=datetime(2024, 3, 1, 8, 30, tzinfo=UTC),  # fetched half an hour before the join
    )

    member_change("add_member", ["wmA"], JoinScene="3", LastMemVer="v1", CurMemVer="v2")

    assert (group().name, group().member_count, group().member_version) == ("私教体验群", 2, "v2")


@pytest.mark.parametrize("detail", ["change_owner", "change_name", "change_notice"])
def test_field_changes_only_ensure_the_group(detail):
    process("update", UpdateDetail=detail)
    process("update", create_time=T + 1, UpdateDetail=detail)

    assert CustomerGroup.objects.count() == 1
    assert GroupMember.objects.count() == 0


def test_dismiss():
    member_change("add_member", ["wmA"], JoinScene="3", CurMemVer="v1")

    process("dismiss", create_time=T + 3600)

    assert (group().status, group().dismissed_at) == ("dismissed", datetime(2024, 3, 1, 10, 0, tzinfo=UTC))
    assert group().member_count == 1
