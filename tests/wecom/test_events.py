import pytest

from scrm.wecom.events import KNOWN_CHANGE_TYPES, CallbackEvent, EventParseError, parse_event
from tests.helpers import event_xml


@pytest.mark.parametrize(
    ("event", "change_type"), [(event, change) for event, changes in KNOWN_CHANGE_TYPES.items() for change in changes]
)
def test_every_known_change_type_parses(event, change_type):
    parsed = parse_event(event_xml(event, change_type, UserID="zhangsan"))

    assert (parsed.event, parsed.change_type, parsed.create_time) == (event, change_type, 1700000000)
    assert parsed.known
    assert parsed.get("UserID") == "zhangsan"


def test_add_external_contact_fields():
    parsed = parse_event(
        event_xml(
            "change_external_contact",
            "add_external_contact",
            UserID="zhangsan",
            ExternalUserID="woAJ2GCAAAXtWyujaWJHDDGi0mACH71w",
            State="store-042",
            WelcomeCode="WELCOMECODE",
        )
    )

    assert parsed.get("ExternalUserID") == "woAJ2GCAAAXtWyujaWJHDDGi0mACH71w"
    assert parsed.get("State") == "store-042"
    assert parsed.get("WelcomeCode") == "WELCOMECODE"


CHAT_UPDATE = (
    "<xml><ToUserName><![CDATA[ww]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
    "<CreateTime>1700000001</CreateTime><MsgType><![CDATA[event]]></MsgType>"
    "<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA]]></ChatId>"
    "<ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[add_member]]></UpdateDetail>"
    "<JoinScene>1</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>2</MemChangeCnt>{members}"
    "<LastMemVer><![CDATA[9c3f97c2ada667dfb5f6d03308d963e1]]></LastMemVer>"
    "<CurMemVer><![CDATA[71217227bbd112ecfe3a49c482195cb4]]></CurMemVer></xml>"
)


@pytest.mark.parametrize(
    "members",
    [
        "<MemChangeList><Item><![CDATA[Jack]]></Item><Item><![CDATA[Rose]]></Item></MemChangeList>",
        "<MemChangeList><![CDATA[Jack]]></MemChangeList><MemChangeList><![CDATA[Rose]]></MemChangeList>",
    ],
    ids=["items", "repeated"],
)
def test_member_change_list_in_both_shapes(members):
    parsed = parse_event(CHAT_UPDATE.format(members=members))

    assert parsed.lists == {"MemChangeList": ["Jack", "Rose"]}
    assert parsed.get("UpdateDetail") == "add_member"
    assert parsed.get("JoinScene") == "1"
    assert parsed.get("MemChangeCnt") == "2"
    assert parsed.get("CurMemVer") == "71217227bbd112ecfe3a49c482195cb4"


def test_third_party_format_reads_the_same():
    parsed = parse_event(
        "<xml><InfoType><![CDATA[change_external_tag]]></InfoType><TimeStamp>1403610513</TimeStamp>"
        "<ChangeType><![CDATA[shuffle]]></ChangeType><Id><![CDATA[etXXX]]></Id></xml>"
    )

    assert (parsed.event, parsed.change_type, parsed.create_time) == ("change_external_tag", "shuffle", 1403610513)


def test_unknown_events_parse_but_are_not_known():
    parsed = parse_event(event_xml("change_contact", "create_user"))

    assert parsed.known is False


def test_payload_round_trip():
    parsed = parse_event(CHAT_UPDATE.format(members="<MemChangeList><Item>a</Item></MemChangeList>"))

    assert CallbackEvent.from_payload(parsed.as_payload()) == parsed


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ("<xml><Event>x", "malformed XML"),
        ("<root><Event>x</Event></root>", "root element"),
        ("<xml><ChangeType>x</ChangeType></xml>", "neither Event nor InfoType"),
        ("<xml><Event>e</Event><CreateTime>soon</CreateTime></xml>", "CreateTime is not an integer"),
        (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><xml><Event>&b;</Event></xml>',
            "malformed XML",
        ),
    ],
)
def test_bad_xml_is_refused_with_a_reason(xml, reason):
    with pytest.raises(EventParseError, match=reason):
        parse_event(xml)
