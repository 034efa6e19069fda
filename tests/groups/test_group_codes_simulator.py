"""The simulator's side of group live codes, as WeCom behaves: a scan puts the joiner in the first listed group
with room, carrying the join_way's state; when every listed group is full, auto_create_room makes the next group;
and the group welcome templates (入群欢迎语素材) through the client."""

import pytest

from scrm.wecom.client import get_client
from scrm.wecom.errors import WeComError
from scrm.wecom.events import parse_event
from tests.groups.group_code_fixtures import fill, sim_group

pytestmark = pytest.mark.django_db


@pytest.fixture(name="sim")
def sim_fixture(wecom_configured):
    return wecom_configured


@pytest.fixture(name="api")
def api_fixture(sim):
    return get_client("contact", sleep=lambda _: None)


def test_a_scan_joins_the_first_group_with_room_with_the_ways_state(sim, api):
    chats = [sim_group(sim, "一群"), sim_group(sim, "二群")]
    fill(sim, chats[0], 200)
    config_id = api.external_contact_group_chat.add_join_way(2, chats, state="gc-test", auto_create_room=0)["config_id"]

    joined = sim.customer_scans_join_way(config_id, "wmJOINER0001")

    assert (joined["chat_id"], joined["created"], joined["external_userid"]) == (chats[1], False, "wmJOINER0001")
    event = parse_event(sim.callbacks[-1]["xml"])
    assert (event.change_type, event.get("UpdateDetail"), event.get("JoinScene")) == ("update", "add_member", "3")
    assert event.lists["MemChangeList"] == ["wmJOINER0001"]
    members = api.external_contact_group_chat.get(chats[1])["group_chat"]["member_list"]
    assert [(m["userid"], m.get("state"), m["join_scene"]) for m in members[1:]] == [("wmJOINER0001", "gc-test", 3)]

    fill(sim, chats[1], 200)
    with pytest.raises(ValueError, match="full"):
        sim.customer_scans_join_way(config_id)


def test_every_listed_group_full_makes_a_new_one_and_drops_the_oldest_of_five(sim, api):
    chats = [sim_group(sim, f"{n}群", owner="lisi" if n == 5 else "zhangsan") for n in range(1, 6)]
    for chat_id in chats:
        fill(sim, chat_id, 200)
    config_id = api.external_contact_group_chat.add_join_way(
        2, chats, auto_create_room=1, room_base_name="新群", room_base_id=3, state="gc-5"
    )["config_id"]
    start = len(sim.callbacks)

    joined = sim.customer_scans_join_way(config_id)

    new = joined["chat_id"]
    assert joined["created"] is True
    assert (sim.state.groups[new]["name"], sim.state.groups[new]["owner"]) == ("新群3", "lisi")
    way = api.external_contact_group_chat.get_join_way(config_id)["join_way"]
    assert (way["chat_id_list"], way["room_base_id"]) == ([*chats[1:], new], 4)
    create, join = (parse_event(c["xml"]) for c in sim.callbacks[start:])
    assert (create.change_type, create.get("ChatId")) == ("create", new)
    assert (join.get("UpdateDetail"), join.get("ChatId")) == ("add_member", new)
    assert [m.get("state") for m in sim.state.groups[new]["member_list"]] == [None, "gc-5"]


def test_customer_joins_group_takes_a_state(sim):
    chat_id = sim_group(sim, "群")
    sim.customer_joins_group(chat_id, "wmSTATE0001", state="store-1")
    sim.customer_joins_group(chat_id, "wmPLAIN0001")

    members = {m["userid"]: m for m in sim.state.groups[chat_id]["member_list"]}
    assert (members["wmSTATE0001"]["state"], "state" in members["wmPLAIN0001"]) == ("store-1", False)


def test_group_welcome_templates(sim, api):
    link = {"title": "新人礼", "url": "https://example.com/gift"}
    template_id = api.external_contact.add_group_welcome_template("欢迎 %NICKNAME%", link=link, notify=0)["template_id"]

    assert api.external_contact.get_group_welcome_template(template_id) == {
        "errcode": 0,
        "errmsg": "ok",
        "text": {"content": "欢迎 %NICKNAME%"},
        "link": link,
    }
    api.external_contact.edit_group_welcome_template(template_id, "新欢迎语")
    assert api.external_contact.get_group_welcome_template(template_id)["text"] == {"content": "新欢迎语"}
    assert "link" not in api.external_contact.get_group_welcome_template(template_id)

    api.external_contact.del_group_welcome_template(template_id)
    with pytest.raises(WeComError) as error:
        api.external_contact.get_group_welcome_template(template_id)
    assert error.value.errcode == 40058
    with pytest.raises(ValueError, match="needs text or an attachment"):
        api.external_contact.add_group_welcome_template()
    with pytest.raises(ValueError, match="3000 bytes"):
        api.external_contact.add_group_welcome_template("字" * 1001)
    assert len(sim.requests_to("externalcontact/group_welcome_template/add")) == 1


def test_an_empty_part_is_refused_by_wecom(sim, api):
    with pytest.raises(WeComError) as error:
        api.post("externalcontact/group_welcome_template/add", data={"text": {"content": "hi"}, "image": {}})
    assert error.value.errcode == 40063
