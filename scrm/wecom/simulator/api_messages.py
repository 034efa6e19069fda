"""群发 (mass messages) and 欢迎语 (welcome messages).

``add_msg_template`` only creates a task: nothing reaches a customer until the sender confirms it in the WeCom
client. The simulator's stand-in for that tap is ``confirm_mass_message`` (``sim.employee_sends_mass_message``).
The monthly cap is applied then, as WeCom does: a recipient who already got the month's quota ends with send
status 3 (因客户已经收到其他群发消息导致发送失败), a customer who is no longer a friend with status 2.
"""

from __future__ import annotations

from typing import Any

from scrm.wecom.simulator.routing import AGENT, ApiError, Call, api, clamp_limit, page
from scrm.wecom.simulator.state import WELCOME_CODE_TTL, SimState

MAX_ATTACHMENTS = 9
MAX_CHAT_IDS = 2000
MAX_EXTERNAL_USERIDS = 10000


def _check_content(call: Call) -> tuple[dict[str, Any] | None, list[Any]]:
    text = call.arg("text")
    attachments = call.arg("attachments") or []
    if not isinstance(attachments, list):
        raise ApiError(40058, "invalid Request Parameter: attachments")
    if len(attachments) > MAX_ATTACHMENTS:
        raise ApiError(40058, f"invalid Request Parameter: at most {MAX_ATTACHMENTS} attachments")
    if not (text and text.get("content")) and not attachments:
        raise ApiError(40058, "invalid Request Parameter: text or attachments required")
    return text, attachments


@api("externalcontact/add_msg_template")
def add_msg_template(call: Call) -> dict[str, Any]:
    state = call.state
    chat_type = call.arg("chat_type") or "single"
    sender = call.arg("sender") or ""
    if sender and sender not in state.employees:
        raise ApiError(60111)
    text, attachments = _check_content(call)
    recipients: list[dict[str, Any]] = []
    fail_list: list[str] = []
    if chat_type == "single":
        wanted = call.arg("external_userid") or []
        if len(wanted) > MAX_EXTERNAL_USERIDS:
            raise ApiError(40058, "invalid Request Parameter: external_userid exceeds 10000")
        if not wanted and sender:
            wanted = state.customers_of(sender)
        for ext in dict.fromkeys(wanted):
            followers = sorted(state.follows.get(ext, []), key=lambda f: f["createtime"])
            if sender:
                followers = [f for f in followers if f["userid"] == sender]
            if not followers:
                fail_list.append(ext)
                continue
            # A customer gets the message once, from one follower (the sender, else the earliest follower).
            recipients.append({"userid": followers[0]["userid"], "external_userid": ext, "status": 0, "send_time": 0})
    elif chat_type == "group":
        if not sender:
            raise ApiError(40058, "invalid Request Parameter: sender is required for chat_type group")
        chat_ids = call.arg("chat_id_list") or []
        if len(chat_ids) > MAX_CHAT_IDS:
            raise ApiError(40058, f"invalid Request Parameter: chat_id_list exceeds {MAX_CHAT_IDS}")
        owned = sorted(c for c, g in state.groups.items() if g["owner"] == sender)
        for chat_id in dict.fromkeys(chat_ids or owned):
            if chat_id in owned:
                recipients.append({"userid": sender, "chat_id": chat_id, "status": 0, "send_time": 0})
            else:
                fail_list.append(chat_id)
    else:
        raise ApiError(40058, "invalid Request Parameter: chat_type")
    if not recipients:
        raise ApiError(41048, fail_list=fail_list)
    msgid = state.new_id("msg", "msgid", 30)
    state.mass_messages[msgid] = {
        "msgid": msgid,
        "chat_type": chat_type,
        "creator": sender,
        "create_type": 0,  # 0 created by the enterprise (API/admin), 1 by the member
        "create_time": state.now(),
        "text": text,
        "attachments": attachments,
        "recipients": recipients,
        "senders": {r["userid"]: {"status": 0, "send_time": 0} for r in recipients},
    }
    return {"fail_list": fail_list, "msgid": msgid}


def confirm_mass_message(state: SimState, msgid: str, userid: str | None = None) -> list[dict[str, Any]]:
    """The sender taps "send" in the client: recipients get status 1, 2 (not a friend) or 3 (monthly cap)."""
    task = state.mass_messages.get(msgid)
    if task is None:
        raise KeyError(msgid)
    now, month, limit = state.now(), state.month_key(), state.monthly_limit()
    done = []
    for recipient in task["recipients"]:
        if recipient["status"] != 0 or (userid and recipient["userid"] != userid):
            continue
        target = recipient.get("external_userid") or recipient["chat_id"]
        if "external_userid" in recipient and state.follow(target, recipient["userid"]) is None:
            recipient["status"] = 2
        elif state.received.get((target, month), 0) >= limit:
            recipient["status"] = 3
        else:
            state.received[(target, month)] = state.received.get((target, month), 0) + 1
            recipient.update(status=1, send_time=now)
        done.append(dict(recipient))
        task["senders"][recipient["userid"]] = {"status": 2, "send_time": now}
    return done


def _task(call: Call) -> dict[str, Any]:
    task = call.state.mass_messages.get(call.required("msgid"))
    if task is None:
        raise ApiError(41047)
    return task


@api("externalcontact/get_groupmsg_list_v2")
def get_groupmsg_list_v2(call: Call) -> dict[str, Any]:
    chat_type = call.arg("chat_type") or "single"
    start, end = int(call.required("start_time")), int(call.required("end_time"))
    creator, filter_type = call.arg("creator"), int(call.arg("filter_type", 2))
    limit = clamp_limit(call.arg("limit"), default=50, maximum=100)
    tasks = [
        t
        for t in sorted(call.state.mass_messages.values(), key=lambda t: (t["create_time"], t["msgid"]))
        if t["chat_type"] == chat_type
        and start <= t["create_time"] <= end
        and (not creator or t["creator"] == creator)
        and filter_type in (2, t["create_type"])
    ]
    chunk, next_cursor = page(tasks, call.arg("cursor"), limit)
    return {
        "next_cursor": next_cursor,
        "group_msg_list": [
            {
                "msgid": t["msgid"],
                "creator": t["creator"],
                "create_time": str(t["create_time"]),  # a string in WeCom's answer
                "create_type": t["create_type"],
                **({"text": t["text"]} if t["text"] else {}),
                "attachments": t["attachments"],
            }
            for t in chunk
        ],
    }


@api("externalcontact/get_groupmsg_task")
def get_groupmsg_task(call: Call) -> dict[str, Any]:
    task = _task(call)
    rows = [{"userid": u, **s} for u, s in sorted(task["senders"].items())]
    chunk, next_cursor = page(rows, call.arg("cursor"), clamp_limit(call.arg("limit"), default=500, maximum=1000))
    return {"next_cursor": next_cursor, "task_list": chunk}


@api("externalcontact/get_groupmsg_send_result")
def get_groupmsg_send_result(call: Call) -> dict[str, Any]:
    task = _task(call)
    userid = call.required("userid")
    rows = [dict(r) for r in task["recipients"] if r["userid"] == userid]
    chunk, next_cursor = page(rows, call.arg("cursor"), clamp_limit(call.arg("limit"), default=500, maximum=1000))
    return {"next_cursor": next_cursor, "send_list": chunk}


@api("externalcontact/send_welcome_msg")
def send_welcome_msg(call: Call) -> dict[str, Any]:
    state = call.state
    code = call.arg("welcome_code")
    if not code:
        raise ApiError(41049)
    issued = state.welcome_codes.get(code)
    if issued is None:
        raise ApiError(41050)
    if issued["used"]:
        raise ApiError(41051)  # the first sender won; never retry this
    if state.clock() - issued["created"] > WELCOME_CODE_TTL:
        raise ApiError(41050)
    text, attachments = _check_content(call)
    issued["used"] = True
    state.sent_welcomes.append({**issued, "text": text, "attachments": attachments, "sent_at": state.now()})
    return {}


@api("message/send", families=AGENT)
def send_app_message(call: Call) -> dict[str, Any]:
    """An app message (应用消息) to employees; recipients WeCom does not know come back as ``invaliduser``."""
    touser = str(call.body.get("touser") or "")
    if not (touser or call.body.get("toparty") or call.body.get("totag")):
        raise ApiError(40031)  # no recipient at all
    if str(call.body.get("agentid") or "") == "":
        raise ApiError(40056)
    users = [] if touser == "@all" else [u for u in touser.split("|") if u]
    invalid = [u for u in users if u not in call.state.employees]
    call.state.app_messages.append(dict(call.body))
    return {"invaliduser": "|".join(invalid), "invalidparty": "", "invalidtag": ""}
