"""在职继承 / 离职继承: transfer customers and groups between employees.

A transfer is only *started* by the API (per-customer errcode 0); it completes 24 h later (``TRANSFER_DELAY`` on
the state clock), when the follow relation moves to the takeover user. ``settle_transfers`` runs before every
call so the outcome shows up whenever time has passed. A customer may be transferred twice per 90 days (40128).
"""

from __future__ import annotations

from typing import Any

from scrm.wecom.simulator.api_contacts import require_employee
from scrm.wecom.simulator.routing import ApiError, Call, api, clamp_limit, page
from scrm.wecom.simulator.state import TRANSFER_DELAY, TRANSFER_WINDOW, TRANSFERS_PER_WINDOW, SimState

MAX_PER_CALL = 100
MAX_SUCCESS_MSG = 200
WAITING, DONE = 2, 1  # transfer_result statuses: 1 接替完毕, 2 等待接替, 3 客户拒绝, 4 接替成员客户达到上限


def settle_transfers(state: SimState) -> None:
    now = state.clock()
    for transfer in state.transfers:
        if transfer["status"] != WAITING or transfer["takeover_time"] > now:
            continue
        ext, handover, takeover = transfer["external_userid"], transfer["handover_userid"], transfer["takeover_userid"]
        old = state.remove_follow(ext, handover)
        if old is not None and state.follow(ext, takeover) is None:
            state.add_follow(
                ext,
                {
                    **old,
                    "userid": takeover,
                    "createtime": int(transfer["takeover_time"]),
                    "oper_userid": handover,
                    "add_way": 202,
                },
            )  # 202: 管理员/负责人分配
        transfer["status"] = DONE


def _start(call: Call, *, resigned: bool) -> dict[str, Any]:
    state = call.state
    handover_id, takeover_id = call.required("handover_userid"), call.required("takeover_userid")
    handover, takeover = require_employee(state, handover_id), require_employee(state, takeover_id)
    if handover_id == takeover_id:
        raise ApiError(40130)
    if takeover["status"] != 1:
        raise ApiError(40003, f"takeover user is not active: {takeover_id}")
    if resigned and handover["status"] != 5:
        raise ApiError(40097)
    externals = call.arg("external_userid") or []
    if not externals or len(externals) > MAX_PER_CALL:
        raise ApiError(40058, f"invalid Request Parameter: external_userid must hold 1 to {MAX_PER_CALL} ids")
    if len(call.arg("transfer_success_msg") or "") > MAX_SUCCESS_MSG:
        raise ApiError(40058, "invalid Request Parameter: transfer_success_msg exceeds 200 characters")
    now = state.clock()
    results = []
    for ext in externals:
        recent = [t for t in state.transfers if t["external_userid"] == ext and now - t["started"] < TRANSFER_WINDOW]
        if ext not in state.contacts:
            code = 40096
        elif state.follow(ext, handover_id) is None:
            code = 40131
        elif any(t["status"] == WAITING for t in recent):
            code = 40129
        elif not resigned and len(recent) >= TRANSFERS_PER_WINDOW:
            code = 40128
        else:
            code = 0
            state.transfers.append(
                {
                    "kind": "resigned" if resigned else "onjob",
                    "handover_userid": handover_id,
                    "takeover_userid": takeover_id,
                    "external_userid": ext,
                    "started": now,
                    "takeover_time": int(now + TRANSFER_DELAY),
                    "status": WAITING,
                }
            )
        results.append({"external_userid": ext, "errcode": code})
    return {"customer": results}


def _result(call: Call, *, resigned: bool) -> dict[str, Any]:
    handover, takeover = call.required("handover_userid"), call.required("takeover_userid")
    rows = [
        {"external_userid": t["external_userid"], "status": t["status"], "takeover_time": t["takeover_time"]}
        for t in call.state.transfers
        if t["handover_userid"] == handover
        and t["takeover_userid"] == takeover
        and (t["kind"] == "resigned") == resigned
    ]
    chunk, next_cursor = page(rows, call.arg("cursor"), 1000)
    return {"customer": chunk, "next_cursor": next_cursor}


@api("externalcontact/transfer_customer")
def transfer_customer(call: Call) -> dict[str, Any]:
    return _start(call, resigned=False)


@api("externalcontact/transfer_result")
def transfer_result(call: Call) -> dict[str, Any]:
    return _result(call, resigned=False)


@api("externalcontact/resigned/transfer_customer")
def resigned_transfer_customer(call: Call) -> dict[str, Any]:
    return _start(call, resigned=True)


@api("externalcontact/resigned/transfer_result")
def resigned_transfer_result(call: Call) -> dict[str, Any]:
    return _result(call, resigned=True)


@api("externalcontact/get_unassigned_list")
def get_unassigned_list(call: Call) -> dict[str, Any]:
    state = call.state
    pending = {(t["handover_userid"], t["external_userid"]) for t in state.transfers if t["status"] == WAITING}
    rows = [
        {"handover_userid": userid, "external_userid": ext, "dimission_time": employee["resigned_at"]}
        for userid, employee in sorted(state.employees.items())
        if employee["status"] == 5
        for ext in state.customers_of(userid)
        if (userid, ext) not in pending
    ]
    limit = clamp_limit(call.arg("page_size"), default=1000, maximum=1000)
    chunk, next_cursor = page(rows, call.arg("cursor"), limit)
    return {"info": chunk, "is_last": not next_cursor, "next_cursor": next_cursor}


def _transfer_groups(call: Call, *, resigned: bool) -> dict[str, Any]:
    state = call.state
    chat_ids = call.arg("chat_id_list") or []
    if not chat_ids or len(chat_ids) > MAX_PER_CALL:
        raise ApiError(40058, f"invalid Request Parameter: chat_id_list must hold 1 to {MAX_PER_CALL} chats")
    new_owner = call.required("new_owner")
    if require_employee(state, new_owner)["status"] != 1:
        raise ApiError(40003, f"new owner is not active: {new_owner}")
    failed = []
    for chat_id in chat_ids:
        group = state.groups.get(chat_id)
        owner_resigned = group is not None and state.employees[group["owner"]]["status"] == 5
        if group is None:
            failed.append({"chat_id": chat_id, "errcode": 40050, "errmsg": "chatid not found"})
        elif resigned and not owner_resigned:
            failed.append({"chat_id": chat_id, "errcode": 90500, "errmsg": "the owner of this chat is not resigned"})
        elif not resigned and owner_resigned:
            failed.append({"chat_id": chat_id, "errcode": 90502, "errmsg": "the owner of this chat is resigned"})
        elif group["owner"] == new_owner:
            failed.append({"chat_id": chat_id, "errcode": 90504, "errmsg": "the owner is not changed"})
        else:
            group["owner"] = new_owner
            group["status"] = 3 if resigned else group["status"]
            if not any(m["userid"] == new_owner for m in group["member_list"]):
                group["member_list"].append(
                    {
                        "userid": new_owner,
                        "type": 1,
                        "join_time": state.now(),
                        "join_scene": 1,
                        "group_nickname": "",
                        "name": state.employees[new_owner]["name"],
                    }
                )
                group["member_version"] = state.member_version(chat_id)
    return {"failed_chat_list": failed}


@api("externalcontact/groupchat/transfer")
def groupchat_transfer(call: Call) -> dict[str, Any]:
    return _transfer_groups(call, resigned=True)


@api("externalcontact/groupchat/onjob_transfer")
def groupchat_onjob_transfer(call: Call) -> dict[str, Any]:
    return _transfer_groups(call, resigned=False)
