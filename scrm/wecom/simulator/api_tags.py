"""企业客户标签: list, add, edit, delete corp tags, and tag a customer (mark_tag)."""

from __future__ import annotations

from typing import Any

from scrm.wecom.simulator.routing import ApiError, Call, api

MAX_CORP_TAGS = 3000


def _owner(call: Call) -> str:
    return f"app:{call.family}"


def _may_edit(call: Call, item: dict[str, Any]) -> None:
    # The 客户联系 system secret manages every tag; a self-built app only the tags it created through the API.
    if call.family != "contact" and item.get("created_by") != _owner(call):
        raise ApiError(81011, "no privilege to modify this tag: it was not created by this app")


def _public(group: dict[str, Any], tags: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    view = {k: v for k, v in group.items() if k not in ("tag", "created_by")}
    view["tag"] = [{k: v for k, v in t.items() if k != "created_by"} for t in (group["tag"] if tags is None else tags)]
    return view


@api("externalcontact/get_corp_tag_list")
def get_corp_tag_list(call: Call) -> dict[str, Any]:
    tag_ids = set(call.arg("tag_id") or [])
    group_ids = set(call.arg("group_id") or [])
    groups = sorted(call.state.tag_groups.values(), key=lambda g: (g["order"], g["create_time"]))
    result = []
    for group in groups:
        if tag_ids:  # tag_id wins over group_id, as documented
            tags = [t for t in group["tag"] if t["id"] in tag_ids]
            if tags:
                result.append(_public(group, tags))
        elif not group_ids or group["group_id"] in group_ids:
            result.append(_public(group))
    return {"tag_group": result}


@api("externalcontact/add_corp_tag")
def add_corp_tag(call: Call) -> dict[str, Any]:
    state = call.state
    new_tags = call.arg("tag") or []
    if not new_tags or any(not (t.get("name") or "").strip() for t in new_tags):
        raise ApiError(40058, "invalid Request Parameter: tag.name")
    if sum(len(g["tag"]) for g in state.tag_groups.values()) + len(new_tags) > MAX_CORP_TAGS:
        raise ApiError(40126, "corp tag count exceeds 3000")
    group_id, group_name = call.arg("group_id"), call.arg("group_name")
    if group_id:
        group = state.tag_groups.get(group_id)
        if group is None:
            raise ApiError(40068)
    else:
        if not group_name:
            raise ApiError(40058, "invalid Request Parameter: group_id or group_name")
        # An existing group name means "add to that group", as WeCom does.
        group = next((g for g in state.tag_groups.values() if g["group_name"] == group_name), None)
        if group is None:
            gid = state.new_id("et", "tag")
            group = state.tag_groups[gid] = {
                "group_id": gid,
                "group_name": group_name,
                "create_time": state.now(),
                "order": int(call.arg("order") or 0),
                "deleted": False,
                "tag": [],
                "created_by": _owner(call),
            }
    existing = {t["name"] for t in group["tag"]}
    created = []
    for spec in new_tags:
        if spec["name"] in existing:
            raise ApiError(40071)
        tag = {
            "id": state.new_id("et", "tag"),
            "name": spec["name"],
            "create_time": state.now(),
            "order": int(spec.get("order") or 0),
            "deleted": False,
            "created_by": _owner(call),
        }
        group["tag"].append(tag)
        existing.add(tag["name"])
        created.append(tag)
    return {"tag_group": _public(group, created)}


@api("externalcontact/edit_corp_tag")
def edit_corp_tag(call: Call) -> dict[str, Any]:
    state = call.state
    item_id = call.required("id")
    group = state.tag_groups.get(item_id)
    item: dict[str, Any]
    if group is not None:
        item, name_key, siblings = group, "group_name", list(state.tag_groups.values())
    else:
        found = state.tag(item_id)
        if found is None:
            raise ApiError(40068)
        item, name_key, siblings = found[1], "name", found[0]["tag"]
    _may_edit(call, item)
    if "name" in call.body:
        # As documented: a group may not take another group's name, nor a tag a sibling's.
        if any(other is not item and other[name_key] == call.body["name"] for other in siblings):
            raise ApiError(40071)
        item[name_key] = call.body["name"]
    if "order" in call.body:
        item["order"] = int(call.body["order"])
    return {}


@api("externalcontact/del_corp_tag")
def del_corp_tag(call: Call) -> dict[str, Any]:
    state = call.state
    tag_ids, group_ids = call.arg("tag_id") or [], call.arg("group_id") or []
    if not tag_ids and not group_ids:
        raise ApiError(40058, "invalid Request Parameter: tag_id or group_id")
    targets = []
    for tag_id in tag_ids:
        found = state.tag(tag_id)
        if found is None:
            raise ApiError(40068)
        _may_edit(call, found[1])
        targets.append(found)
    for group_id in group_ids:
        if group_id not in state.tag_groups:
            raise ApiError(40068)
        _may_edit(call, state.tag_groups[group_id])
    removed = {tag["id"] for _, tag in targets}
    for group, tag in targets:
        group["tag"].remove(tag)
        if not group["tag"]:  # deleting a group's last tag deletes the group
            state.tag_groups.pop(group["group_id"], None)
    for group_id in group_ids:
        group = state.tag_groups.pop(group_id, None)
        if group:
            removed |= {t["id"] for t in group["tag"]}
    for follows in state.follows.values():
        for follow in follows:
            follow["tag_ids"] = [t for t in follow["tag_ids"] if t not in removed]
    return {}


@api("externalcontact/mark_tag")
def mark_tag(call: Call) -> dict[str, Any]:
    state = call.state
    userid, ext = call.required("userid"), call.required("external_userid")
    add, remove = call.arg("add_tag") or [], call.arg("remove_tag") or []
    if not add and not remove:
        raise ApiError(40058, "invalid Request Parameter: add_tag or remove_tag")
    follow = state.follow(ext, userid)
    if follow is None:
        raise ApiError(84061)
    for tag_id in [*add, *remove]:
        if state.tag(tag_id) is None:
            raise ApiError(40068)
    follow["tag_ids"] = [t for t in follow["tag_ids"] if t not in remove]
    follow["tag_ids"] += [t for t in dict.fromkeys(add) if t not in follow["tag_ids"]]
    return {}
