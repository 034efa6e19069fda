"""客户管理: follow-user list, customer list/detail, batch detail by employee, remark."""

from __future__ import annotations

from typing import Any

from scrm.wecom.simulator.routing import ApiError, Call, api, clamp_limit, decode_cursor, encode_cursor, page
from scrm.wecom.simulator.state import SimState


def follow_user_view(state: SimState, follow: dict[str, Any]) -> dict[str, Any]:
    """A follow relation as externalcontact/get shows it: tags as objects (group_name, tag_name, tag_id, type)."""
    view = {key: value for key, value in follow.items() if key != "tag_ids"}
    tags = []
    for tag_id in follow["tag_ids"]:
        found = state.tag(tag_id)
        if found:
            group, tag = found
            tags.append({"group_name": group["group_name"], "tag_name": tag["name"], "tag_id": tag_id, "type": 1})
    view["tags"] = tags
    return view


def follow_info_view(follow: dict[str, Any]) -> dict[str, Any]:
    """The same relation as batch/get_by_user shows it: ``follow_info`` with a plain ``tag_id`` list."""
    view = {key: value for key, value in follow.items() if key != "tag_ids"}
    view["tag_id"] = list(follow["tag_ids"])
    return view


def require_employee(state: SimState, userid: str | None) -> dict[str, Any]:
    employee = state.employees.get(userid or "")
    if employee is None:
        raise ApiError(60111, f"userid not found: {userid}")
    return employee


def require_contact(state: SimState, external_userid: str | None) -> dict[str, Any]:
    contact = state.contacts.get(external_userid or "")
    if contact is None or not state.follows.get(contact["external_userid"]):
        raise ApiError(84061)
    return contact


@api("externalcontact/get_follow_user_list")
def get_follow_user_list(call: Call) -> dict[str, Any]:
    # Members with 客户联系 enabled: everyone who is not resigned in the simulated corp.
    return {"follow_user": [u for u, e in call.state.employees.items() if e["status"] != 5]}


@api("externalcontact/list")
def list_customers(call: Call) -> dict[str, Any]:
    employee = require_employee(call.state, call.required("userid"))
    return {"external_userid": call.state.customers_of(employee["userid"])}


@api("externalcontact/get")
def get_customer(call: Call) -> dict[str, Any]:
    contact = require_contact(call.state, call.required("external_userid"))
    follows = sorted(call.state.follows[contact["external_userid"]], key=lambda f: f["createtime"])
    # WeCom pages follow_user by 500 when a customer has more followers; the simulator's corp is smaller.
    chunk, next_cursor = page(follows, call.arg("cursor"), 500)
    return {
        "external_contact": dict(contact),
        "follow_user": [follow_user_view(call.state, f) for f in chunk],
        "next_cursor": next_cursor,
    }


@api("externalcontact/batch/get_by_user")
def batch_get_by_user(call: Call) -> dict[str, Any]:
    userids = call.arg("userid_list") or []
    if not isinstance(userids, list) or not userids:
        raise ApiError(40058, "invalid Request Parameter: userid_list")
    if len(userids) > 100:
        raise ApiError(40058, "invalid Request Parameter: userid_list exceeds 100")
    limit = clamp_limit(call.arg("limit"), default=50, maximum=100)
    state = call.state
    # The (userid, customer) pairs of every listed employee in turn, paged by offset without building the list:
    # an employee may have tens of thousands of customers, and every page must not walk them all.
    lists = [
        (userid, state.customers_of(userid))
        for userid in dict.fromkeys(userids)  # keep order, drop duplicates
        if userid in state.employees  # WeCom skips members outside the app's visibility
    ]
    total = sum(len(customers) for _userid, customers in lists)
    start = decode_cursor(call.arg("cursor"))
    chunk: list[tuple[str, str]] = []
    skip = start
    for userid, customers in lists:
        if skip >= len(customers):
            skip -= len(customers)
            continue
        chunk.extend((userid, ext) for ext in customers[skip : skip + limit - len(chunk)])
        skip = 0
        if len(chunk) == limit:
            break
    end = start + len(chunk)
    next_cursor = encode_cursor(end) if end < total else ""
    items = []
    for userid, ext in chunk:
        follow = state.follow(ext, userid) or {}
        items.append({"external_contact": dict(state.contacts[ext]), "follow_info": follow_info_view(follow)})
    return {"external_contact_list": items, "next_cursor": next_cursor}


@api("externalcontact/remark")
def remark(call: Call) -> dict[str, Any]:
    state = call.state
    userid, ext = call.required("userid"), call.required("external_userid")
    require_employee(state, userid)
    follow = state.follow(ext, userid)
    if follow is None:
        raise ApiError(84061)
    for field, target in [
        ("remark", "remark"),
        ("description", "description"),
        ("remark_company", "remark_corp_name"),
        ("remark_mobiles", "remark_mobiles"),
    ]:
        if field in call.body:
            follow[target] = call.body[field]
    return {}
