"""Callback events: WeCom's event XML, signed and encrypted, POSTed to the app; and the helpers that change the
simulated corp and emit the matching event (a customer adds an employee, joins a group, a tag changes …).

XML shapes follow WeCom's 客户联系 callbacks: text in CDATA, numbers bare, ``MemChangeList`` as ``<Item>`` children.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

import requests

from scrm.wecom.crypto import CallbackCrypto
from scrm.wecom.simulator.api_messages import confirm_mass_message
from scrm.wecom.simulator.state import make_member

if TYPE_CHECKING:
    from scrm.wecom.simulator.state import SimState

CALLBACK_TIMEOUT = 5.0  # WeCom waits 5 s for the app's answer
JOIN_BY_CODE_LIMIT = 200  # members: WeCom lets nobody more join a group by its QR code (or a join_way)
NUMERIC_FIELDS = {"CreateTime", "JoinScene", "QuitScene", "MemChangeCnt", "StrategyId", "AgentID"}


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def build_event_xml(fields: Mapping[str, Any]) -> str:
    """``{"Event": "change_external_contact", "MemChangeList": ["a", "b"], "CreateTime": 1}`` → WeCom's XML."""
    parts = []
    for name, value in fields.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            items = "".join(f"<Item>{_cdata(str(item))}</Item>" for item in value)
            parts.append(f"<{name}>{items}</{name}>")
        elif name in NUMERIC_FIELDS or isinstance(value, int):
            parts.append(f"<{name}>{escape(str(value))}</{name}>")
        else:
            parts.append(f"<{name}>{_cdata(str(value))}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


class EventsMixin:
    """Mixed into SimulatorServer: callback emission and the scenario helpers."""

    corp_id: str
    callback_url: str | None
    callback_token: str
    callback_aes_key: str
    state: SimState
    callbacks: list[dict[str, Any]]

    # ---- emission --------------------------------------------------------------------------------------------

    def event_fields(self, event: str, change_type: str | None, **fields: Any) -> dict[str, Any]:
        head: dict[str, Any] = {
            "ToUserName": self.corp_id,
            "FromUserName": "sys",
            "CreateTime": self.state.now(),
            "MsgType": "event",
            "Event": event,
        }
        if change_type is not None:
            head["ChangeType"] = change_type
        return {**head, **fields}

    def emit_callback(self, event: str | Mapping[str, Any]) -> int | None:
        """POST one event (XML text or a field dict) to ``callback_url`` the way WeCom does; the HTTP status.

        Without a callback URL the event is only recorded in ``sim.callbacks`` and None is returned, so the
        helpers below work for state-only tests too.
        """
        xml = event if isinstance(event, str) else build_event_xml(event)
        record: dict[str, Any] = {"xml": xml, "status": None}
        self.callbacks.append(record)
        if not self.callback_url:
            return None
        if not (self.callback_token and self.callback_aes_key):
            raise RuntimeError("emit_callback needs callback_token and callback_aes_key")
        crypto = CallbackCrypto(self.callback_token, self.callback_aes_key, receive_id=self.corp_id)
        timestamp, nonce = str(int(time.time())), secrets.token_hex(5)
        body, signature = crypto.encrypt_to_xml(xml, timestamp=timestamp, nonce=nonce)
        params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
        try:
            response = requests.post(
                self.callback_url,
                params=params,
                data=body.encode(),
                timeout=CALLBACK_TIMEOUT,
                headers={"Content-Type": "text/xml; charset=utf-8"},
            )
        except requests.RequestException as exc:
            record["error"] = type(exc).__name__
            return None
        record["status"] = response.status_code
        return response.status_code

    # ---- customers -------------------------------------------------------------------------------------------

    def customer_adds_employee(
        self,
        userid: str,
        external_userid: str | None = None,
        state: str = "",
        name: str = "新客户",
        *,
        welcome_code: bool = True,
        add_way: int = 1,
    ) -> dict[str, Any]:
        """A customer scans ``userid``'s code (``state`` = the channel code's state) → add_external_contact."""
        with self.state.lock:
            if userid not in self.state.employees:
                raise KeyError(userid)
            ext = self.state.add_customer(
                userid=userid, name=name, external_userid=external_userid, state=state, add_way=add_way
            )
            code = None
            if welcome_code:
                code = secrets.token_urlsafe(24)
                self.state.welcome_codes[code] = {
                    "created": self.state.clock(),
                    "used": False,
                    "userid": userid,
                    "external_userid": ext,
                }
            fields = self.event_fields(
                "change_external_contact",
                "add_external_contact",
                UserID=userid,
                ExternalUserID=ext,
                State=state or None,
                WelcomeCode=code,
            )
        return {"external_userid": ext, "welcome_code": code, "status": self.emit_callback(fields)}

    def customer_deletes_employee(self, userid: str, external_userid: str) -> dict[str, Any]:
        """The customer deletes the employee (被客户删除) → del_follow_user; the follow relation disappears."""
        with self.state.lock:
            self._drop_follow(userid, external_userid)
            fields = self.event_fields(
                "change_external_contact", "del_follow_user", UserID=userid, ExternalUserID=external_userid
            )
        return {"status": self.emit_callback(fields)}

    def employee_deletes_customer(self, userid: str, external_userid: str) -> dict[str, Any]:
        """The employee deletes the customer → del_external_contact."""
        with self.state.lock:
            self._drop_follow(userid, external_userid)
            fields = self.event_fields(
                "change_external_contact", "del_external_contact", UserID=userid, ExternalUserID=external_userid
            )
        return {"status": self.emit_callback(fields)}

    def _drop_follow(self, userid: str, external_userid: str) -> None:
        if self.state.remove_follow(external_userid, userid) is None:
            raise KeyError(f"{userid} does not follow {external_userid}")

    # ---- groups ----------------------------------------------------------------------------------------------

    def customer_joins_group(
        self,
        chat_id: str,
        external_userid: str,
        join_scene: int = 3,
        invitor: str | None = None,
        state: str | None = None,
    ) -> dict[str, Any]:
        """join_scene: 1 invited directly, 2 via invite link, 3 scanned the group QR code. ``state``: the state of
        the join_way (group live code) scanned, which groupchat/get then reports on the member."""
        with self.state.lock:
            group = self.state.groups[chat_id]
            if any(m["userid"] == external_userid for m in group["member_list"]):
                raise ValueError(f"{external_userid} is already in {chat_id}")
            if external_userid not in self.state.contacts:
                self.state.add_customer(userid=group["owner"], name="新群成员", external_userid=external_userid)
                self.state.set_follows(external_userid, [])  # in the group without being anyone's contact
            last = group["member_version"]
            member = make_member(
                self.state,
                external_userid,
                kind=2,
                scene=join_scene,
                invitor=invitor or (group["owner"] if join_scene == 1 else None),
            )
            if state:
                member["state"] = state
            group["member_list"].append(member)
            group["member_version"] = self.state.member_version(chat_id)
            fields = self.event_fields(
                "change_external_chat",
                "update",
                ChatId=chat_id,
                UpdateDetail="add_member",
                JoinScene=join_scene,
                MemChangeCnt=1,
                MemChangeList=[external_userid],
                LastMemVer=last,
                CurMemVer=group["member_version"],
            )
        return {"status": self.emit_callback(fields), "member_version": fields["CurMemVer"]}

    def customer_scans_join_way(self, config_id: str, external_userid: str | None = None) -> dict[str, Any]:
        """A customer scans a join_way's (群活码's) QR code and joins, as WeCom places them: the first group of the
        way's ``chat_id_list`` with room (WeCom's limit for joining by code: 200 members), the member carrying the
        way's ``state``. When every listed group is full and ``auto_create_room`` is 1, WeCom first creates a group
        named ``room_base_name`` + ``room_base_id`` (the number then moves on), owned by the owner of the way's
        last group, adds it to the way (dropping the oldest chat when 5 are listed) and emits
        change_external_chat create. Returns the chat joined, the joiner, whether a group was created, and the
        statuses of the callbacks (the create's first)."""
        with self.state.lock:
            way = self.state.join_ways[config_id]
            ext = external_userid or self.state.new_id("wm", "contact")
            chat_id = next(
                (
                    chat
                    for chat in way["chat_id_list"]
                    if chat in self.state.groups and len(self.state.groups[chat]["member_list"]) < JOIN_BY_CODE_LIMIT
                ),
                None,
            )
            statuses = []
            created = chat_id is None
            if created:
                if int(way.get("auto_create_room", 1)) != 1:
                    raise ValueError(f"every group of join way {config_id} is full")
                chat_id, status = self._auto_create_room(way)
                statuses.append(status)
            joined = self.customer_joins_group(chat_id, ext, join_scene=3, state=way.get("state") or None)
            statuses.append(joined["status"])
        return {"chat_id": chat_id, "external_userid": ext, "created": created, "statuses": statuses}

    def _auto_create_room(self, way: dict[str, Any]) -> tuple[str, int | None]:
        last = self.state.groups[way["chat_id_list"][-1]]
        owner = last["owner"]
        number = int(way.get("room_base_id") or 0)
        name = f"{way.get('room_base_name') or last['name']}{number}"
        way["room_base_id"] = number + 1
        chat_id = self.employee_creates_group(owner, name=name, emit=False)
        way["chat_id_list"] = [*way["chat_id_list"], chat_id][-5:]  # WeCom keeps at most 5: the oldest goes
        status = self.emit_callback(self.event_fields("change_external_chat", "create", ChatId=chat_id))
        return chat_id, status

    def employee_creates_group(self, owner: str, name: str = "", *, emit: bool = True) -> str:
        """An employee creates a customer group (only themself in it) → change_external_chat create. Returns the
        chat id."""
        with self.state.lock:
            if owner not in self.state.employees:
                raise KeyError(owner)
            chat_id = self.state.new_id("wr", "chat", 30)
            self.state.groups[chat_id] = {
                "chat_id": chat_id,
                "name": name,
                "owner": owner,
                "create_time": self.state.now(),
                "notice": "",
                "member_list": [make_member(self.state, owner, kind=1, scene=1, invitor=None)],
                "admin_list": [],
                "status": 0,
            }
            self.state.groups[chat_id]["member_version"] = self.state.member_version(chat_id)
            if emit:
                self.emit_callback(self.event_fields("change_external_chat", "create", ChatId=chat_id))
        return chat_id

    def customer_leaves_group(self, chat_id: str, external_userid: str, quit_scene: int = 0) -> dict[str, Any]:
        """quit_scene: 0 left by themself, 1 removed by the owner."""
        with self.state.lock:
            group = self.state.groups[chat_id]
            members = [m for m in group["member_list"] if m["userid"] != external_userid]
            if len(members) == len(group["member_list"]):
                raise ValueError(f"{external_userid} is not in {chat_id}")
            last = group["member_version"]
            group["member_list"] = members
            group["member_version"] = self.state.member_version(chat_id)
            fields = self.event_fields(
                "change_external_chat",
                "update",
                ChatId=chat_id,
                UpdateDetail="del_member",
                QuitScene=quit_scene,
                MemChangeCnt=1,
                MemChangeList=[external_userid],
                LastMemVer=last,
                CurMemVer=group["member_version"],
            )
        return {"status": self.emit_callback(fields), "member_version": fields["CurMemVer"]}

    # ---- tags ------------------------------------------------------------------------------------------------

    def tag_changes(
        self,
        change_type: str = "create",
        *,
        tag_id: str | None = None,
        group_id: str | None = None,
        name: str | None = None,
        tag_type: str = "tag",
    ) -> dict[str, Any]:
        """An admin edits corp tags in the console → change_external_tag (create / update / delete)."""
        with self.state.lock:
            groups = self.state.tag_groups
            if change_type == "create" and tag_type == "tag":
                group = groups[group_id] if group_id else next(iter(groups.values()))
                tag_id = self.state.new_id("et", "tag")
                group["tag"].append(
                    {
                        "id": tag_id,
                        "name": name or "新标签",
                        "create_time": self.state.now(),
                        "order": len(group["tag"]) + 1,
                        "deleted": False,
                    }
                )
            elif change_type == "create":
                tag_id = self.state.new_id("et", "tag")
                groups[tag_id] = {
                    "group_id": tag_id,
                    "group_name": name or "新标签组",
                    "create_time": self.state.now(),
                    "order": len(groups) + 1,
                    "deleted": False,
                    "tag": [],
                }
            elif tag_type == "tag_group":
                if change_type == "update":
                    groups[tag_id or ""]["group_name"] = name or groups[tag_id or ""]["group_name"]
                else:
                    groups.pop(tag_id or "")
            else:
                found = self.state.tag(tag_id or "")
                if found is None:
                    raise KeyError(tag_id)
                group, tag = found
                if change_type == "update":
                    tag["name"] = name or tag["name"]
                else:
                    group["tag"].remove(tag)
                    for follows in self.state.follows.values():
                        for follow in follows:
                            if tag_id in follow["tag_ids"]:
                                follow["tag_ids"].remove(tag_id)
            fields = self.event_fields("change_external_tag", change_type, Id=tag_id, TagType=tag_type)
        return {"id": tag_id, "status": self.emit_callback(fields)}

    # ---- other client-side actions ---------------------------------------------------------------------------

    def employee_sends_mass_message(self, msgid: str, userid: str | None = None) -> list[dict[str, Any]]:
        """The sender confirms a mass-message task in the WeCom client (no callback: results come by API)."""
        with self.state.lock:
            return confirm_mass_message(self.state, msgid, userid)

    def issue_oauth_code(self, userid: str) -> str:
        """The code WeCom appends to the OAuth redirect for ``userid`` (valid 5 min, once)."""
        with self.state.lock:
            if userid not in self.state.employees:
                raise KeyError(userid)
            code = secrets.token_urlsafe(24)
            self.state.oauth_codes[code] = {"userid": userid, "created": self.state.clock(), "used": False}
            return code
