"""客户群: list (status/owner filters, cursor) and detail."""

from __future__ import annotations

from typing import Any

from scrm.wecom.simulator.routing import ApiError, Call, api, clamp_limit, page


@api("externalcontact/groupchat/list")
def groupchat_list(call: Call) -> dict[str, Any]:
    status_filter = int(call.arg("status_filter") or 0)  # 0 all, 1 owner resigned, 2 inheriting, 3 inherited
    owners = set((call.arg("owner_filter") or {}).get("userid_list") or [])
    if call.arg("limit") in (None, ""):
        raise ApiError(40058, "invalid Request Parameter: limit")  # required by WeCom, 1..1000
    limit = clamp_limit(call.arg("limit"), default=1000, maximum=1000)
    chats = [
        {"chat_id": g["chat_id"], "status": g["status"]}
        for g in sorted(call.state.groups.values(), key=lambda g: (g["create_time"], g["chat_id"]))
        if (not status_filter or g["status"] == status_filter) and (not owners or g["owner"] in owners)
    ]
    chunk, next_cursor = page(chats, call.arg("cursor"), limit)
    return {"group_chat_list": chunk, "next_cursor": next_cursor}


@api("externalcontact/groupchat/get")
def groupchat_get(call: Call) -> dict[str, Any]:
    group = call.state.groups.get(call.required("chat_id"))
    if group is None:
        raise ApiError(40050)
    need_name = str(call.arg("need_name") or 0) == "1"
    members = []
    for member in group["member_list"]:
        view = dict(member)
        if not need_name:
            view.pop("name", None)
        members.append(view)
    detail = {k: v for k, v in group.items() if k != "status"}
    detail.update(member_list=members, admin_list=list(group["admin_list"]))
    return {"group_chat": detail}
