"""The WeCom simulator over real HTTP: auth and tokens, faults, the request log, paging, WeCom's limits, callbacks."""

import base64
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from xml.etree.ElementTree import Element

import pytest
import requests
from defusedxml import ElementTree as ET

from scrm.wecom.crypto import CallbackCrypto
from scrm.wecom.events import parse_event
from scrm.wecom.simulator import ManualClock, SimState, SimulatorServer

CORP_ID = "wwsim"
SECRETS = {"contact": "contact-secret", "agent": "agent-secret", "archive": "archive-secret"}
CALLBACK_TOKEN = "sim-callback-token"
CALLBACK_AES_KEY = base64.b64encode(bytes(range(1, 33))).decode().rstrip("=")
START = 1_741_600_000  # 2025-03-10 17:46 Asia/Shanghai: March has 31 days


def http_get(url, **kwargs):
    return requests.get(url, timeout=kwargs.pop("timeout", 5), **kwargs)


def http_post(url, **kwargs):
    return requests.post(url, timeout=kwargs.pop("timeout", 5), **kwargs)


class Receiver:
    """A tiny app stand-in that records WeCom callback POSTs and answers "success"."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                posts.append({"query": {k: v[0] for k, v in parse_qs(url.query).items()}, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"success")

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/wecom/callback"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def decrypted(self, index: int = -1) -> Element:
        """Verify the signature and decrypt the POST the way the app must, then parse the event XML."""
        post = self.posts[index]
        encrypted = ET.fromstring(post["body"]).findtext("Encrypt")
        crypto = CallbackCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, receive_id=CORP_ID)
        query = post["query"]
        crypto.verify(query["msg_signature"], query["timestamp"], query["nonce"], encrypted)
        return ET.fromstring(crypto.decrypt(encrypted))


@pytest.fixture(scope="module")
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.httpd.shutdown()
    receiver.httpd.server_close()


@pytest.fixture(scope="module")
def server(receiver):
    clock = ManualClock(START)
    sim = SimulatorServer(
        corp_id=CORP_ID,
        secrets=SECRETS,
        callback_url=receiver.url,
        callback_token=CALLBACK_TOKEN,
        callback_aes_key=CALLBACK_AES_KEY,
        clock=clock,
    ).start()
    yield sim
    sim.stop()


@pytest.fixture
def sim(server, receiver):
    server.reset()
    server.revoke_tokens()
    server.state.clock.now = START
    server.state.mass_message_monthly_limit = None
    receiver.posts.clear()
    yield server
    server.faults.clear()


def token(sim, family="contact"):
    answer = http_get(sim.base_url + "gettoken", params={"corpid": CORP_ID, "corpsecret": SECRETS[family]}).json()
    assert answer["errcode"] == 0, answer
    return answer["access_token"]


def call(sim, path, body=None, *, access_token=None, family="contact", timeout=5, **params):
    params["access_token"] = access_token if access_token is not None else token(sim, family)
    if body is None:
        return http_get(sim.base_url + path, params=params, timeout=timeout).json()
    return http_post(sim.base_url + path, params=params, json=body, timeout=timeout).json()


def customer_of(sim, userid="zhangsan"):
    return sim.state.customers_of(userid)[0]


# ---- tokens and secrets ---------------------------------------------------------------------------------------


def test_gettoken_answers_like_wecom(sim):
    url = sim.base_url + "gettoken"
    ok = http_get(url, params={"corpid": CORP_ID, "corpsecret": "contact-secret"}).json()
    again = http_get(url, params={"corpid": CORP_ID, "corpsecret": "contact-secret"}).json()
    agent = http_get(url, params={"corpid": CORP_ID, "corpsecret": "agent-secret"}).json()

    assert ok["errcode"] == 0 and ok["errmsg"] == "ok" and ok["expires_in"] == 7200
    assert again["access_token"] == ok["access_token"]  # same token while it is valid
    assert agent["access_token"] != ok["access_token"]  # each secret has its own
    assert http_get(url, params={"corpid": "wwother", "corpsecret": "contact-secret"}).json()["errcode"] == 40013
    assert http_get(url, params={"corpid": CORP_ID, "corpsecret": "wrong"}).json()["errcode"] == 40001
    assert http_get(url, params={"corpsecret": "contact-secret"}).json()["errcode"] == 41002
    assert http_get(url, params={"corpid": CORP_ID}).json()["errcode"] == 41004


def test_access_token_missing_unknown_expired_and_revoked(sim):
    ext = customer_of(sim)
    good = token(sim)
    assert call(sim, "externalcontact/get", access_token=good, external_userid=ext)["errcode"] == 0
    assert call(sim, "externalcontact/get", access_token="", external_userid=ext)["errcode"] == 41001
    assert call(sim, "externalcontact/get", access_token="forged", external_userid=ext)["errcode"] == 40014

    sim.state.clock.advance(7200)
    assert call(sim, "externalcontact/get", access_token=good, external_userid=ext)["errcode"] == 42001
    fresh = token(sim)
    assert fresh != good
    assert call(sim, "externalcontact/get", access_token=fresh, external_userid=ext)["errcode"] == 0

    sim.expire_tokens()
    assert call(sim, "externalcontact/get", access_token=fresh, external_userid=ext)["errmsg"] == "access_token expired"
    newest = token(sim)
    sim.revoke_tokens()
    assert call(sim, "externalcontact/get", access_token=newest, external_userid=ext)["errcode"] == 40014


def test_each_secret_may_call_only_its_apis(sim):
    ext = customer_of(sim)
    assert call(sim, "externalcontact/get", family="archive", external_userid=ext)["errcode"] == 48002
    assert call(sim, "externalcontact/get", family="agent", external_userid=ext)["errcode"] == 0
    assert call(sim, "msgaudit/get_permit_user_list", {}, family="contact")["errcode"] == 48002
    assert call(sim, "msgaudit/get_permit_user_list", {}, family="archive")["errcode"] == 0
    assert call(sim, "ticket/get", family="contact", type="agent_config")["errcode"] == 48002
    assert call(sim, "ticket/get", family="agent", type="agent_config")["expires_in"] == 7200


def test_unknown_api_fails_loudly(sim):
    answer = call(sim, "externalcontact/no_such_api", {})
    assert answer["errcode"] == 48002 and "no_such_api" in answer["errmsg"]


# ---- faults and the request log ---------------------------------------------------------------------------------


def test_errcode_fault_answers_n_times_then_normal(sim):
    ext, access_token = customer_of(sim), token(sim)
    sim.faults.inject(path="externalcontact/get", errcode=45009, times=2)

    answers = [call(sim, "externalcontact/get", access_token=access_token, external_userid=ext) for _ in range(3)]

    assert [a["errcode"] for a in answers] == [45009, 45009, 0]
    assert answers[0] == {"errcode": 45009, "errmsg": "api freq out of limit"}
    assert answers[2]["external_contact"]["external_userid"] == ext
    assert len(sim.requests_to("externalcontact/get")) == 3


def mass_message(ext):
    return {"chat_type": "single", "sender": "zhangsan", "external_userid": [ext], "text": {"content": "三月会员日"}}


def test_drop_before_changes_nothing(sim):
    access_token = token(sim)
    sim.faults.inject(path="externalcontact/add_msg_template", drop="before")

    with pytest.raises(requests.ConnectionError):
        call(sim, "externalcontact/add_msg_template", mass_message(customer_of(sim)), access_token=access_token)

    assert sim.state.mass_messages == {}
    assert len(sim.requests_to("externalcontact/add_msg_template")) == 1


def test_drop_after_changes_state_but_sends_no_answer(sim):
    access_token = token(sim)
    sim.faults.inject(path="externalcontact/add_msg_template", drop="after")

    with pytest.raises(requests.ConnectionError):
        call(sim, "externalcontact/add_msg_template", mass_message(customer_of(sim)), access_token=access_token)

    assert len(sim.state.mass_messages) == 1  # the retry a client makes now would create a second task
    again = call(sim, "externalcontact/add_msg_template", mass_message(customer_of(sim)), access_token=access_token)
    assert again["errcode"] == 0 and len(sim.state.mass_messages) == 2


def test_delay_fault_makes_the_client_time_out_once(sim):
    access_token = token(sim)
    sim.faults.inject(path="gettoken", drop="before")
    sim.faults.inject(path="externalcontact/get_follow_user_list", delay=0.5)

    with pytest.raises(requests.ConnectionError):
        token(sim)
    with pytest.raises(requests.ReadTimeout):
        call(sim, "externalcontact/get_follow_user_list", access_token=access_token, timeout=0.2)
    answer = call(sim, "externalcontact/get_follow_user_list", access_token=access_token)
    assert answer["follow_user"] == ["zhangsan", "lisi", "wangwu", "chenqi"]  # zhaoliu resigned


def test_requests_are_recorded_and_the_control_api_masks_the_secret(sim):
    access_token = token(sim)
    call(
        sim,
        "externalcontact/remark",
        {"userid": "zhangsan", "external_userid": "wmX", "remark": "r"},
        access_token=access_token,
    )

    gettoken, remark = sim.requests[-2:]
    assert (gettoken.method, gettoken.path, gettoken.query["corpsecret"]) == ("GET", "gettoken", "contact-secret")
    assert (remark.method, remark.path, remark.access_token) == ("POST", "externalcontact/remark", access_token)
    assert remark.body == {"userid": "zhangsan", "external_userid": "wmX", "remark": "r"}
    assert remark.at == START
    public = http_get(f"http://127.0.0.1:{sim.port}/_sim/requests").json()["requests"]
    assert public[-2]["query"]["corpsecret"] == "***"
    assert "contact-secret" not in http_get(f"http://127.0.0.1:{sim.port}/_sim/requests").text


def test_control_api_injects_faults_and_resets(sim):
    base = f"http://127.0.0.1:{sim.port}/_sim/"
    assert http_post(base + "faults", json={"path": "gettoken", "errcode": -1, "times": 1}).status_code == 200
    assert http_get(sim.base_url + "gettoken").json() == {"errcode": -1, "errmsg": "system busy"}
    sim.state.contacts.clear()

    assert http_post(base + "reset").json() == {"ok": True}
    assert len(sim.state.contacts) == 12 and sim.requests == []


# ---- customers ---------------------------------------------------------------------------------------------------


def test_batch_get_by_user_pages_through_every_follow_exactly_once(sim):
    access_token = token(sim)
    userids = list(sim.state.employees)
    expected = sorted((u, ext) for u in userids for ext in sim.state.customers_of(u))
    seen, cursor, pages = [], "", 0
    while True:
        body = {"userid_list": userids, "cursor": cursor, "limit": 4}
        answer = call(sim, "externalcontact/batch/get_by_user", body, access_token=access_token)
        assert answer["errcode"] == 0 and len(answer["external_contact_list"]) <= 4
        for item in answer["external_contact_list"]:
            assert set(item) == {"external_contact", "follow_info"}
            assert isinstance(item["follow_info"]["tag_id"], list) and "tags" not in item["follow_info"]
            seen.append((item["follow_info"]["userid"], item["external_contact"]["external_userid"]))
        pages += 1
        cursor = answer["next_cursor"]
        if not cursor:
            break

    assert sorted(seen) == expected and len(seen) == len(set(seen)) == 15
    assert pages == 4
    too_many = {"userid_list": [f"u{n}" for n in range(101)]}
    assert call(sim, "externalcontact/batch/get_by_user", too_many, access_token=access_token)["errcode"] == 40058
    bad_cursor = {"userid_list": userids, "cursor": "garbage"}
    assert call(sim, "externalcontact/batch/get_by_user", bad_cursor, access_token=access_token)["errcode"] == 50100


def test_get_customer_shows_tags_and_unknown_is_84061(sim):
    ext = customer_of(sim)
    answer = call(sim, "externalcontact/get", external_userid=ext)

    assert answer["external_contact"]["name"] == "王芳"
    [follow] = answer["follow_user"]
    assert follow["tags"] == [
        {"group_name": "客户等级", "tag_name": "A类客户", "tag_id": follow["tags"][0]["tag_id"], "type": 1}
    ]
    assert call(sim, "externalcontact/get", external_userid="wmnobody")["errcode"] == 84061


def test_mark_tag_and_agent_may_not_edit_console_tags(sim):
    ext, access_token = customer_of(sim), token(sim)
    groups = call(sim, "externalcontact/get_corp_tag_list", {}, access_token=access_token)["tag_group"]
    vip = groups[1]["tag"][0]["id"]

    marked = call(
        sim,
        "externalcontact/mark_tag",
        {"userid": "zhangsan", "external_userid": ext, "add_tag": [vip]},
        access_token=access_token,
    )
    assert marked == {"errcode": 0, "errmsg": "ok"}
    tags = call(sim, "externalcontact/get", access_token=access_token, external_userid=ext)["follow_user"][0]["tags"]
    assert [t["tag_name"] for t in tags] == ["A类客户", "年卡会员"]
    assert call(sim, "externalcontact/edit_corp_tag", {"id": vip, "name": "x"}, family="agent")["errcode"] == 81011
    created = call(
        sim, "externalcontact/add_corp_tag", {"group_name": "活动", "tag": [{"name": "三八节"}]}, family="agent"
    )
    assert created["tag_group"]["group_name"] == "活动"
    new_id = created["tag_group"]["tag"][0]["id"]
    assert call(sim, "externalcontact/edit_corp_tag", {"id": new_id, "name": "妇女节"}, family="agent")["errcode"] == 0


# ---- groups and live codes -----------------------------------------------------------------------------------------


def test_groupchat_list_pages_and_filters(sim):
    access_token = token(sim)
    seen, cursor = [], ""
    while True:
        answer = call(sim, "externalcontact/groupchat/list", {"cursor": cursor, "limit": 2}, access_token=access_token)
        seen += [g["chat_id"] for g in answer["group_chat_list"]]
        cursor = answer["next_cursor"]
        if not cursor:
            break

    assert sorted(seen) == sorted(sim.state.groups) and len(seen) == 5
    resigned = call(sim, "externalcontact/groupchat/list", {"status_filter": 1, "limit": 10}, access_token=access_token)
    assert [g["status"] for g in resigned["group_chat_list"]] == [1]
    owned = call(
        sim,
        "externalcontact/groupchat/list",
        {"owner_filter": {"userid_list": ["lisi"]}, "limit": 10},
        access_token=access_token,
    )
    assert len(owned["group_chat_list"]) == 2
    detail = call(sim, "externalcontact/groupchat/get", {"chat_id": seen[0], "need_name": 1}, access_token=access_token)
    group = detail["group_chat"]
    assert group["owner"] == "zhangsan" and group["member_list"][0]["name"] == "张三"
    assert {m["type"] for m in group["member_list"]} == {1, 2} and len(group["member_version"]) == 32


def test_join_way_takes_at_most_five_chats_and_a_short_room_name(sim):
    access_token, chats = token(sim), sorted(sim.state.groups)
    body = {"scene": 2, "chat_id_list": chats, "auto_create_room": 1, "room_base_name": "会员群", "state": "qr-7"}

    created = call(sim, "externalcontact/groupchat/add_join_way", body, access_token=access_token)
    six = call(
        sim,
        "externalcontact/groupchat/add_join_way",
        {**body, "chat_id_list": [*chats, chats[0]]},
        access_token=access_token,
    )
    long_name = call(
        sim, "externalcontact/groupchat/add_join_way", {**body, "room_base_name": "群" * 41}, access_token=access_token
    )

    assert created["errcode"] == 0 and six["errcode"] == 40058 and long_name["errcode"] == 40058
    way = call(
        sim, "externalcontact/groupchat/get_join_way", {"config_id": created["config_id"]}, access_token=access_token
    )["join_way"]
    assert way["chat_id_list"] == chats and way["state"] == "qr-7" and way["qr_code"].startswith("https://")
    assert len(sim.state.join_ways) == 1


def test_contact_way_state_over_30_chars_is_refused(sim):
    access_token = token(sim)
    body = {"type": 2, "scene": 2, "user": ["zhangsan", "lisi"], "state": "s" * 30}
    created = call(sim, "externalcontact/add_contact_way", body, access_token=access_token)
    refused = call(sim, "externalcontact/add_contact_way", {**body, "state": "s" * 31}, access_token=access_token)

    assert created["errcode"] == 0 and created["qr_code"]
    assert refused["errcode"] == 40058
    assert len(sim.state.contact_ways) == 4  # three seeded and the new one
    got = call(sim, "externalcontact/get_contact_way", {"config_id": created["config_id"]}, access_token=access_token)
    assert got["contact_way"]["state"] == "s" * 30
    assert call(sim, "externalcontact/get_contact_way", {"config_id": "nope"}, access_token=access_token)[
        "errcode"
    ] == (41044)


# ---- messages -------------------------------------------------------------------------------------------------------


def test_mass_messages_respect_the_monthly_cap(sim):
    access_token, ext = token(sim), customer_of(sim)
    sim.state.mass_message_monthly_limit = 2
    body = {**mass_message(ext), "external_userid": [ext, "wmnotafriend"]}
    msgids = []
    for _ in range(3):
        answer = call(sim, "externalcontact/add_msg_template", body, access_token=access_token)
        assert answer["fail_list"] == ["wmnotafriend"]
        msgids.append(answer["msgid"])
        sim.employee_sends_mass_message(answer["msgid"])

    statuses = [
        call(
            sim,
            "externalcontact/get_groupmsg_send_result",
            {"msgid": m, "userid": "zhangsan"},
            access_token=access_token,
        )["send_list"][0]["status"]
        for m in msgids
    ]
    assert statuses == [1, 1, 3]  # 3: 因客户已经收到其他群发消息导致发送失败
    task = call(sim, "externalcontact/get_groupmsg_task", {"msgid": msgids[0]}, access_token=access_token)
    assert task["task_list"] == [{"userid": "zhangsan", "status": 2, "send_time": START}]
    listed = call(
        sim,
        "externalcontact/get_groupmsg_list_v2",
        {"chat_type": "single", "start_time": START - 10, "end_time": START + 10},
        access_token=access_token,
    )
    assert sorted(m["msgid"] for m in listed["group_msg_list"]) == sorted(msgids)

    sim.state.clock.advance(31 * 86400)  # April: a new month, a new quota
    answer = call(sim, "externalcontact/add_msg_template", body, access_token=token(sim))
    assert sim.employee_sends_mass_message(answer["msgid"])[0]["status"] == 1


def test_mass_message_limits_on_chats_and_attachments(sim):
    access_token = token(sim)
    groups = {"chat_type": "group", "sender": "zhangsan", "text": {"content": "hi"}}
    too_many_chats = {**groups, "chat_id_list": [f"wr{n}" for n in range(2001)]}
    ten_attachments = {**groups, "attachments": [{"msgtype": "link", "link": {"title": "t", "url": "https://x"}}] * 10}

    assert call(sim, "externalcontact/add_msg_template", too_many_chats, access_token=access_token)["errcode"] == 40058
    assert call(sim, "externalcontact/add_msg_template", ten_attachments, access_token=access_token)["errcode"] == 40058
    owned = call(sim, "externalcontact/add_msg_template", groups, access_token=access_token)
    assert owned["errcode"] == 0 and owned["fail_list"] == []
    assert len(sim.state.mass_messages[owned["msgid"]]["recipients"]) == 2  # zhangsan owns two groups


def test_welcome_code_works_once_and_for_20_seconds(sim):
    access_token = token(sim)
    first = sim.customer_adds_employee("zhangsan", state="store-001", name="新客户甲")
    second = sim.customer_adds_employee("lisi", name="新客户乙")
    welcome = {"text": {"content": "您好,我是您的专属顾问"}}

    sent = call(
        sim,
        "externalcontact/send_welcome_msg",
        {**welcome, "welcome_code": first["welcome_code"]},
        access_token=access_token,
    )
    reused = call(
        sim,
        "externalcontact/send_welcome_msg",
        {**welcome, "welcome_code": first["welcome_code"]},
        access_token=access_token,
    )
    sim.state.clock.advance(21)
    late = call(
        sim,
        "externalcontact/send_welcome_msg",
        {**welcome, "welcome_code": second["welcome_code"]},
        access_token=token(sim),
    )

    assert (sent["errcode"], reused["errcode"], late["errcode"]) == (0, 41051, 41050)
    assert [w["external_userid"] for w in sim.state.sent_welcomes] == [first["external_userid"]]


def test_app_messages_are_recorded_and_unknown_recipients_reported(sim):
    body = {"touser": "zhangsan|nobody", "msgtype": "text", "agentid": 1000002, "text": {"content": "客户流失提醒"}}

    sent = call(sim, "message/send", body, family="agent")
    refused = call(sim, "message/send", {"msgtype": "text", "agentid": 1000002}, family="agent")
    wrong_secret = call(sim, "message/send", body, family="contact")

    assert (sent["errcode"], sent["invaliduser"]) == (0, "nobody")
    assert refused["errcode"] == 40031
    assert wrong_secret["errcode"] != 0
    assert sim.state.app_messages == [body]


# ---- callbacks -------------------------------------------------------------------------------------------------------


def test_customer_adds_employee_emits_a_signed_encrypted_event(sim, receiver):
    result = sim.customer_adds_employee("zhangsan", state="store-042", name="林先生")

    assert result["status"] == 200 and len(receiver.posts) == 1
    event = receiver.decrypted()
    assert {child.tag: child.text for child in event} == {
        "ToUserName": CORP_ID,
        "FromUserName": "sys",
        "CreateTime": str(START),
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": "add_external_contact",
        "UserID": "zhangsan",
        "ExternalUserID": result["external_userid"],
        "State": "store-042",
        "WelcomeCode": result["welcome_code"],
    }
    follow = sim.state.follow(result["external_userid"], "zhangsan")
    assert follow["state"] == "store-042" and sim.state.contacts[result["external_userid"]]["name"] == "林先生"


def test_group_join_and_leave_events_carry_member_changes(sim, receiver):
    chat_id = sorted(sim.state.groups)[0]
    newcomer = customer_of(sim, "wangwu")
    before = sim.state.groups[chat_id]["member_version"]

    sim.customer_joins_group(chat_id, newcomer, join_scene=3)
    sim.customer_leaves_group(chat_id, newcomer, quit_scene=0)

    joined, left = receiver.decrypted(0), receiver.decrypted(1)
    assert joined.findtext("Event") == "change_external_chat" and joined.findtext("ChangeType") == "update"
    assert joined.findtext("UpdateDetail") == "add_member" and joined.findtext("JoinScene") == "3"
    assert joined.findtext("MemChangeCnt") == "1"
    assert [item.text for item in joined.find("MemChangeList")] == [newcomer]
    assert joined.findtext("LastMemVer") == before and joined.findtext("CurMemVer") == left.findtext("LastMemVer")
    assert left.findtext("UpdateDetail") == "del_member" and left.findtext("QuitScene") == "0"
    assert left.findtext("CurMemVer") == before  # same members as before, same version
    assert all(m["userid"] != newcomer for m in sim.state.groups[chat_id]["member_list"])


def test_tag_and_delete_events(sim, receiver):
    created = sim.tag_changes("create", name="高意向")
    ext = customer_of(sim)
    sim.customer_deletes_employee("zhangsan", ext)

    tag_event, delete_event = receiver.decrypted(0), receiver.decrypted(1)
    assert (tag_event.findtext("Event"), tag_event.findtext("ChangeType")) == ("change_external_tag", "create")
    assert tag_event.findtext("Id") == created["id"] and tag_event.findtext("TagType") == "tag"
    assert delete_event.findtext("ChangeType") == "del_follow_user"
    assert delete_event.findtext("ExternalUserID") == ext
    assert sim.state.follow(ext, "zhangsan") is None


# ---- transfers and OAuth ------------------------------------------------------------------------------------------


def test_transfer_completes_after_24h_and_only_twice_per_90_days(sim):
    ext = customer_of(sim)
    body = {"handover_userid": "zhangsan", "takeover_userid": "lisi", "external_userid": [ext, "wmnobody"]}

    started = call(sim, "externalcontact/transfer_customer", body)
    assert started["customer"] == [
        {"external_userid": ext, "errcode": 0},
        {"external_userid": "wmnobody", "errcode": 40096},
    ]
    assert call(sim, "externalcontact/transfer_customer", body)["customer"][0]["errcode"] == 40129
    result = call(sim, "externalcontact/transfer_result", {"handover_userid": "zhangsan", "takeover_userid": "lisi"})
    assert result["customer"] == [{"external_userid": ext, "status": 2, "takeover_time": START + 86400}]

    sim.state.clock.advance(86400)
    result = call(sim, "externalcontact/transfer_result", {"handover_userid": "zhangsan", "takeover_userid": "lisi"})
    assert result["customer"][0]["status"] == 1
    assert sim.state.follow(ext, "zhangsan") is None and sim.state.follow(ext, "lisi")["add_way"] == 202

    back = {"handover_userid": "lisi", "takeover_userid": "zhangsan", "external_userid": [ext]}
    assert call(sim, "externalcontact/transfer_customer", back)["customer"][0]["errcode"] == 0
    sim.state.clock.advance(86400)
    third = call(sim, "externalcontact/transfer_customer", body | {"external_userid": [ext]})
    assert third["customer"][0]["errcode"] == 40128
    same = call(sim, "externalcontact/transfer_customer", {**back, "takeover_userid": "lisi"})
    assert same["errcode"] == 40130


def test_resigned_customers_and_groups(sim):
    unassigned = call(sim, "externalcontact/get_unassigned_list", {"page_size": 100})
    assert unassigned["is_last"] and {row["handover_userid"] for row in unassigned["info"]} == {"zhaoliu"}
    ext = unassigned["info"][0]["external_userid"]
    onjob = {"handover_userid": "zhangsan", "takeover_userid": "lisi", "external_userid": [customer_of(sim)]}

    assert call(sim, "externalcontact/resigned/transfer_customer", onjob)["errcode"] == 40097
    body = {"handover_userid": "zhaoliu", "takeover_userid": "lisi", "external_userid": [ext]}
    assert call(sim, "externalcontact/resigned/transfer_customer", body)["customer"] == [
        {"external_userid": ext, "errcode": 0}
    ]
    chats = sorted(sim.state.groups, key=lambda c: sim.state.groups[c]["owner"] != "zhaoliu")[:2]
    moved = call(sim, "externalcontact/groupchat/transfer", {"chat_id_list": chats, "new_owner": "lisi"})
    assert [f["errcode"] for f in moved["failed_chat_list"]] == [90500]
    assert sim.state.groups[chats[0]]["owner"] == "lisi" and sim.state.groups[chats[0]]["status"] == 3


def test_oauth_code_is_usable_once_within_five_minutes(sim):
    code, late = sim.issue_oauth_code("zhangsan"), sim.issue_oauth_code("lisi")
    agent = token(sim, "agent")

    assert call(sim, "auth/getuserinfo", access_token=agent, code=code) == {
        "errcode": 0,
        "errmsg": "ok",
        "userid": "zhangsan",
    }
    assert call(sim, "auth/getuserinfo", access_token=agent, code=code)["errcode"] == 40029
    sim.state.clock.advance(301)
    assert call(sim, "auth/getuserinfo", access_token=token(sim, "agent"), code=late)["errcode"] == 40029


def test_emitted_events_parse_with_the_apps_parser(sim):
    base = f"http://127.0.0.1:{sim.port}/_sim/"
    added = http_post(base + "emit/customer_adds_employee", json={"userid": "wangwu", "state": "live-0315"}).json()
    sim.customer_joins_group(sorted(sim.state.groups)[1], added["result"]["external_userid"])

    adds, joins = (parse_event(c["xml"]) for c in sim.callbacks)
    assert adds.known and (adds.event, adds.change_type) == ("change_external_contact", "add_external_contact")
    assert adds.get("State") == "live-0315" and adds.get("WelcomeCode") == added["result"]["welcome_code"]
    assert joins.known and joins.get("ChatId") == sorted(sim.state.groups)[1]


# ---- bulk corp and the userid index ---------------------------------------------------------------------------


def scanned_customers_of(state, userid):
    """``customers_of`` the slow way, to check the index against."""
    return sorted(ext for ext, follows in state.follows.items() if any(f["userid"] == userid for f in follows))


def test_bulk_seed_is_deterministic_and_counted():
    first, second = SimState(corp_id=CORP_ID), SimState(corp_id=CORP_ID)

    counts = first.seed_bulk(contacts=500, employees=7, groups=3, members_per_group=5, seed=3)
    second.seed_bulk(contacts=500, employees=7, groups=3, members_per_group=5, seed=3)

    assert counts == {"employees": 7, "contacts": 500, "follows": 550, "groups": 3}
    assert first.snapshot() == second.snapshot()
    assert first.tag_groups and not first.contact_ways  # corp tags stay; the demo corp's people are gone
    assert all(first.customers_of(userid) == scanned_customers_of(first, userid) for userid in first.employees)
    assert sum(len(first.customers_of(userid)) for userid in first.employees) == 550


def test_bulk_corp_survives_reset_and_its_pages_cover_every_follow_once():
    server = SimulatorServer(corp_id=CORP_ID, secrets=SECRETS, bulk={"contacts": 1000, "employees": 7}).start()
    try:
        server.state.contacts.clear()
        server.reset()
        assert len(server.state.contacts) == 1000
        access_token = token(server)
        userids = sorted(server.state.employees)
        expected = sorted((f["userid"], ext) for ext, follows in server.state.follows.items() for f in follows)
        seen, cursor, pages = [], "", 0
        while True:
            body = {"userid_list": userids, "cursor": cursor, "limit": 100}
            answer = call(server, "externalcontact/batch/get_by_user", body, access_token=access_token)
            assert answer["errcode"] == 0
            seen += [
                (i["follow_info"]["userid"], i["external_contact"]["external_userid"])
                for i in answer["external_contact_list"]
            ]
            pages, cursor = pages + 1, answer["next_cursor"]
            if not cursor:
                break
    finally:
        server.stop()

    assert len(seen) == len(expected) == 1100 and sorted(seen) == expected
    assert pages == 11


def test_the_userid_index_follows_transfers_deletions_and_group_joins(sim):
    ext = customer_of(sim)
    body = {"handover_userid": "zhangsan", "takeover_userid": "lisi", "external_userid": [ext]}
    assert call(sim, "externalcontact/transfer_customer", body)["customer"][0]["errcode"] == 0
    sim.state.clock.advance(86400)
    call(sim, "externalcontact/transfer_result", {"handover_userid": "zhangsan", "takeover_userid": "lisi"})
    other = customer_of(sim, "wangwu")
    sim.customer_deletes_employee("wangwu", other)
    chat_id = next(iter(sim.state.groups))
    sim.customer_joins_group(chat_id, "wmoutsider0001")

    assert ext not in sim.state.customers_of("zhangsan") and ext in sim.state.customers_of("lisi")
    assert other not in sim.state.customers_of("wangwu")
    assert all(sim.state.customers_of(u) == scanned_customers_of(sim.state, u) for u in sim.state.employees)
