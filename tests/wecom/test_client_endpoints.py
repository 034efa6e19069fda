"""The endpoints wechatpy lacks, called through ``WeComClient`` against the simulator."""

import pytest

from scrm.wecom.client import get_client
from scrm.wecom.errors import WeComError


@pytest.fixture(autouse=True)
def sim(wecom_configured):
    """The shared simulator, reset, with every token revoked and the settings pointing at it."""
    return wecom_configured


@pytest.fixture
def client():
    return get_client("contact", sleep=lambda _: None)


def test_batch_get_by_user_pages_through_every_customer(sim, client):
    expected = sim.state.customers_of("zhangsan")
    assert len(expected) > 2

    items = list(client.external_contact.iter_batch_get_by_user(["zhangsan"], limit=2))

    assert sorted(item["external_contact"]["external_userid"] for item in items) == sorted(expected)
    assert {item["follow_info"]["userid"] for item in items} == {"zhangsan"}
    pages = sim.requests_to("externalcontact/batch/get_by_user")
    assert len(pages) == (len(expected) + 1) // 2
    assert "cursor" not in pages[0].body
    assert all(page.body["cursor"] and page.body["limit"] == 2 for page in pages[1:])


def test_batch_get_by_user_refuses_more_than_100_employees(client):
    with pytest.raises(ValueError, match="1 to 100"):
        client.external_contact.batch_get_by_user([f"u{n}" for n in range(101)])


def test_mass_message_results(sim, client):
    start = int(sim.clock()) - 60
    msgid = client.external_contact.add_msg_template(
        {"chat_type": "single", "sender": "zhangsan", "text": {"content": "新品到店"}}
    )["msgid"]
    sim.employee_sends_mass_message(msgid, "zhangsan")

    listed = client.external_contact.get_groupmsg_list_v2("single", start, int(sim.clock()) + 60, creator="zhangsan")
    tasks = client.external_contact.get_groupmsg_task(msgid)
    results = client.external_contact.get_groupmsg_send_result(msgid, "zhangsan", limit=500)

    assert msgid in [m["msgid"] for m in listed["group_msg_list"]]
    assert [(t["userid"], t["status"]) for t in tasks["task_list"]] == [("zhangsan", 2)]
    assert {r["external_userid"] for r in results["send_list"]} == set(sim.state.customers_of("zhangsan"))
    assert sim.requests_to("externalcontact/get_groupmsg_send_result")[0].body == {
        "msgid": msgid,
        "userid": "zhangsan",
        "limit": 500,
    }


def test_join_way_lifecycle(sim, client):
    chat_id = next(chat for chat, group in sim.state.groups.items() if group["status"] == 0)
    api = client.external_contact_group_chat

    config_id = api.add_join_way(
        2, [chat_id], remark="门店群", room_base_name="门店客户群", room_base_id=1, state="shop01"
    )["config_id"]
    api.update_join_way(config_id, 2, [chat_id], remark="门店群2", state="shop02")
    join_way = api.get_join_way(config_id)["join_way"]
    api.del_join_way(config_id)

    assert join_way["qr_code"]
    assert join_way["state"] == "shop02"
    assert join_way["chat_id_list"] == [chat_id]
    with pytest.raises(WeComError):
        api.get_join_way(config_id)


def test_join_way_limits_are_checked_before_calling(sim, client):
    api = client.external_contact_group_chat

    with pytest.raises(ValueError, match="1 to 5"):
        api.add_join_way(2, [f"wr{n}" for n in range(6)])
    with pytest.raises(ValueError, match="30"):
        api.add_join_way(2, ["wr1"], state="x" * 31)
    with pytest.raises(ValueError, match="40"):
        api.add_join_way(2, ["wr1"], room_base_name="群" * 41)
    assert sim.requests_to("externalcontact/groupchat/add_join_way") == []


def test_transfer_in_post(sim, client):
    external_userid = sim.state.customers_of("zhangsan")[0]

    started = client.external_contact.transfer_customer(
        "zhangsan", "lisi", [external_userid], "您好，后续由李四为您服务"
    )
    result = client.external_contact.transfer_result("zhangsan", "lisi")

    assert started["customer"] == [{"external_userid": external_userid, "errcode": 0}]
    assert [c["external_userid"] for c in result["customer"]] == [external_userid]


def test_transfer_on_resignation(sim, client):
    unassigned = list(client.external_contact.iter_unassigned(page_size=1))
    assert unassigned and {item["handover_userid"] for item in unassigned} == {"zhaoliu"}
    external_userid = unassigned[0]["external_userid"]

    started = client.external_contact.resigned_transfer_customer("zhaoliu", "lisi", [external_userid])
    result = client.external_contact.resigned_transfer_result("zhaoliu", "lisi")

    assert started["customer"][0]["errcode"] == 0
    assert external_userid in [c["external_userid"] for c in result["customer"]]
    assert len(sim.requests_to("externalcontact/get_unassigned_list")) == len(unassigned)


def test_group_transfer_on_resignation(sim, client):
    chat_id = next(chat for chat, group in sim.state.groups.items() if group["owner"] == "zhaoliu")

    result = client.external_contact_group_chat.transfer([chat_id], "lisi")

    assert result["failed_chat_list"] == []
    with pytest.raises(ValueError, match="1 to 100"):
        client.external_contact_group_chat.transfer([], "lisi")


def test_oauth_code_identifies_the_employee_once(sim):
    code = sim.issue_oauth_code("zhangsan")
    client = get_client("agent", sleep=lambda _: None)

    assert client.auth.get_user_info(code)["userid"] == "zhangsan"
    with pytest.raises(WeComError) as caught:
        client.auth.get_user_info(code)
    assert caught.value.errcode == 40029
    assert sim.requests_to("auth/getuserinfo")[0].query["code"] == code


def test_msgaudit_permit_user_list(sim):
    result = get_client("archive").msgaudit.get_permit_user_list()

    assert isinstance(result["ids"], list)
    assert sim.requests_to("msgaudit/get_permit_user_list")[0].body == {}
