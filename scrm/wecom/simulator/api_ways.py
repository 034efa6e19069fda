"""渠道活码 (contact_way, 「联系我」) and 群活码 (groupchat join_way)."""

from __future__ import annotations

from typing import Any

from scrm.wecom.simulator.routing import ApiError, Call, api
from scrm.wecom.simulator.state import SimState

MAX_STATE = 30
MAX_JOIN_CHATS = 5
MAX_ROOM_BASE_NAME = 40
MAX_WAYS = 500_000  # contact_way and join_way together, per corp
CONTACT_WAY_FIELDS = (
    "style",
    "remark",
    "skip_verify",
    "state",
    "user",
    "party",
    "is_temp",
    "expires_in",
    "chat_expires_in",
    "unionid",
    "conclusions",
)


def _check_state(value: Any) -> None:
    if value is not None and len(str(value)) > MAX_STATE:
        raise ApiError(40058, f"invalid Request Parameter: state exceeds {MAX_STATE} characters")


def _qr(config_id: str) -> str:
    return f"https://wework.qpic.cn/wwpic/sim/{config_id[:16]}/0"


def _room_full(state: SimState) -> None:
    if len(state.contact_ways) + len(state.join_ways) >= MAX_WAYS:
        raise ApiError(41045, "contact_way and join_way count exceeds 500000")


def _check_users(state: SimState, users: list[str]) -> None:
    for userid in users:
        if userid not in state.employees or state.employees[userid]["status"] == 5:
            raise ApiError(40003, f"invalid userid: {userid}")


@api("externalcontact/add_contact_way")
def add_contact_way(call: Call) -> dict[str, Any]:
    state = call.state
    kind, scene = call.required("type"), call.required("scene")
    if kind not in (1, 2):
        raise ApiError(41039, "invalid contact way type")
    if scene not in (1, 2):
        raise ApiError(41040, "invalid contact way scene")
    _check_state(call.arg("state"))
    users = call.arg("user") or []
    _check_users(state, users)
    if kind == 1 and len(users) + len(call.arg("party") or []) != 1:
        raise ApiError(40058, "invalid Request Parameter: type 1 (单人) needs exactly one user")
    _room_full(state)
    config_id = state.new_id("", "contact_way")
    way: dict[str, Any] = {"config_id": config_id, "type": kind, "scene": scene, "skip_verify": True}
    way.update({field: call.body[field] for field in CONTACT_WAY_FIELDS if field in call.body})
    if scene == 2:  # a QR code only for scene 2; scene 1 is the mini-program button
        way["qr_code"] = _qr(config_id)
    state.contact_ways[config_id] = way
    return {"config_id": config_id, **({"qr_code": way["qr_code"]} if scene == 2 else {})}


def _contact_way(call: Call) -> dict[str, Any]:
    way = call.state.contact_ways.get(call.required("config_id"))
    if way is None:
        raise ApiError(41044)
    return way


@api("externalcontact/get_contact_way")
def get_contact_way(call: Call) -> dict[str, Any]:
    return {"contact_way": dict(_contact_way(call))}


@api("externalcontact/update_contact_way")
def update_contact_way(call: Call) -> dict[str, Any]:
    way = _contact_way(call)
    _check_state(call.arg("state"))
    _check_users(call.state, call.arg("user") or [])
    way.update({field: call.body[field] for field in CONTACT_WAY_FIELDS if field in call.body})
    return {}


@api("externalcontact/del_contact_way")
def del_contact_way(call: Call) -> dict[str, Any]:
    call.state.contact_ways.pop(_contact_way(call)["config_id"])
    return {}


def _check_join_way(call: Call, *, creating: bool) -> dict[str, Any]:
    state, body = call.state, call.body
    fields: dict[str, Any] = {}
    if creating or "scene" in body:
        scene = call.required("scene")
        if scene not in (1, 2):
            raise ApiError(40058, "invalid Request Parameter: scene")
        fields["scene"] = scene
    if creating or "chat_id_list" in body:
        chat_ids = body.get("chat_id_list") or []
        if not chat_ids or len(chat_ids) > MAX_JOIN_CHATS:
            raise ApiError(40058, f"invalid Request Parameter: chat_id_list must hold 1 to {MAX_JOIN_CHATS} chats")
        for chat_id in chat_ids:
            if chat_id not in state.groups:
                raise ApiError(40050, f"chatid not found: {chat_id}")
        fields["chat_id_list"] = list(chat_ids)
    if "room_base_name" in body and len(body["room_base_name"] or "") > MAX_ROOM_BASE_NAME:
        raise ApiError(40058, f"invalid Request Parameter: room_base_name exceeds {MAX_ROOM_BASE_NAME} characters")
    _check_state(body.get("state"))
    for field in ("remark", "auto_create_room", "room_base_name", "room_base_id", "state", "mark_source"):
        if field in body:
            fields[field] = body[field]
    return fields


@api("externalcontact/groupchat/add_join_way")
def add_join_way(call: Call) -> dict[str, Any]:
    fields = _check_join_way(call, creating=True)
    _room_full(call.state)
    config_id = call.state.new_id("", "join_way")
    way = {
        "config_id": config_id,
        "remark": "",
        "auto_create_room": 1,
        "room_base_name": "",
        "room_base_id": 0,
        "state": "",
        **fields,
    }
    if way["scene"] == 2:
        way["qr_code"] = _qr(config_id)
    call.state.join_ways[config_id] = way
    return {"config_id": config_id}


def _join_way(call: Call) -> dict[str, Any]:
    way = call.state.join_ways.get(call.required("config_id"))
    if way is None:
        raise ApiError(41044)
    return way


@api("externalcontact/groupchat/get_join_way")
def get_join_way(call: Call) -> dict[str, Any]:
    return {"join_way": dict(_join_way(call))}


@api("externalcontact/groupchat/update_join_way")
def update_join_way(call: Call) -> dict[str, Any]:
    way = _join_way(call)
    way.update(_check_join_way(call, creating=False))
    return {}


@api("externalcontact/groupchat/del_join_way")
def del_join_way(call: Call) -> dict[str, Any]:
    call.state.join_ways.pop(_join_way(call)["config_id"])
    return {}
