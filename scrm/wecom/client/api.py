"""The WeCom endpoints wechatpy 1.8.18 lacks, in wechatpy's own style (``BaseWeChatAPI`` subclasses whose
methods call ``self._get``/``self._post``), attached to ``WeComClient`` as class attributes like wechatpy's.

Request and response shapes follow WeCom's documentation (developer.work.weixin.qq.com: batch/get_by_user
92994, 「加入群聊」 92229, 入群欢迎语素材 92366, group messages 93338, transfers 92125/94081/94082/92127,
unassigned list 92124, auth/getuserinfo under 身份验证), cross-checked with other SDKs that implement them. Limits
WeCom enforces are checked here too, so a caller's bug fails fast and locally instead of costing an API call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from optionaldict import optionaldict
from wechatpy.client.api.base import BaseWeChatAPI
from wechatpy.enterprise.client.api import WeChatExternalContact, WeChatExternalContactGroupChat, WeChatJSAPI

MAX_TRANSFER = 100  # customers per transfer call; chats per groupchat/transfer call
MAX_JOIN_WAY_CHATS = 5  # chat ids per join_way config
MAX_WELCOME_TEXT_BYTES = 3000  # a group welcome template's text.content, in UTF-8 bytes
WELCOME_TEMPLATE_PARTS = ("image", "link", "miniprogram", "file", "video")  # besides text; WeCom sends one of them


def _check_count(name: str, values: list[Any], maximum: int) -> list[Any]:
    if not values or len(values) > maximum:
        raise ValueError(f"{name} needs 1 to {maximum} items, got {len(values)}")
    return values


class ExternalContactAPI(WeChatExternalContact):
    """客户联系: wechatpy's methods plus batch reads, group-message results and transfers."""

    def batch_get_by_user(self, userid_list: Iterable[str], cursor: str = "", limit: int = 100) -> dict:
        """批量获取客户详情: customers (with follow_info) of up to 100 employees, ``limit`` ≤ 100 per page."""
        data = {"userid_list": _check_count("userid_list", list(userid_list), 100), "limit": limit}
        if cursor:
            data["cursor"] = cursor
        return self._post("externalcontact/batch/get_by_user", data=data)

    def iter_batch_get_by_user(self, userid_list: Iterable[str], limit: int = 100) -> Iterator[dict]:
        """Every ``external_contact_list`` item across all pages (the last page has an empty next_cursor)."""
        userids = list(userid_list)
        cursor = ""
        while True:
            result = self.batch_get_by_user(userids, cursor=cursor, limit=limit)
            yield from result.get("external_contact_list", [])
            cursor = result.get("next_cursor") or ""
            if not cursor:
                return

    def get_unassigned_list(self, cursor: str = "", page_size: int = 1000) -> dict:  # type: ignore[override]
        """获取待分配的离职成员列表 by cursor (wechatpy's version pages by page_id, which WeCom caps)."""
        data = {"page_size": page_size}
        if cursor:
            data["cursor"] = cursor
        return self._post("externalcontact/get_unassigned_list", data=data)

    def iter_unassigned(self, page_size: int = 1000) -> Iterator[dict]:
        """Every ``info`` item of the unassigned list, following ``next_cursor`` until it is empty."""
        cursor = ""
        while True:
            result = self.get_unassigned_list(cursor=cursor, page_size=page_size)
            yield from result.get("info", [])
            cursor = result.get("next_cursor") or ""
            if not cursor or result.get("is_last"):
                return

    def get_groupmsg_list_v2(
        self,
        chat_type: str,
        start_time: int,
        end_time: int,
        creator: str | None = None,
        filter_type: int | None = None,
        limit: int = 100,
        cursor: str = "",
    ) -> dict:
        """获取群发记录列表: ``chat_type`` "single" or "group", a range of at most one month, limit ≤ 100."""
        data = optionaldict(
            chat_type=chat_type,
            start_time=start_time,
            end_time=end_time,
            creator=creator,
            filter_type=filter_type,
            limit=limit,
            cursor=cursor or None,
        )
        return self._post("externalcontact/get_groupmsg_list_v2", data=dict(data))

    def get_groupmsg_task(self, msgid: str, limit: int = 1000, cursor: str = "") -> dict:
        """获取群发成员发送任务列表: each sender's status (0 not sent, 2 sent), limit ≤ 1000."""
        data = optionaldict(msgid=msgid, limit=limit, cursor=cursor or None)
        return self._post("externalcontact/get_groupmsg_task", data=dict(data))

    def get_groupmsg_send_result(self, msgid: str, userid: str, limit: int = 1000, cursor: str = "") -> dict:
        """获取企业群发成员执行结果: per customer/group status of one sender (0 not sent, 1 sent, 2 not a
        friend, 3 over the receiving limit), limit ≤ 1000."""
        data = optionaldict(msgid=msgid, userid=userid, limit=limit, cursor=cursor or None)
        return self._post("externalcontact/get_groupmsg_send_result", data=dict(data))

    def transfer_customer(
        self,
        handover_userid: str,
        takeover_userid: str,
        external_userid: Iterable[str],
        transfer_success_msg: str | None = None,
    ) -> dict:
        """分配在职成员的客户 (≤ 100 per call). ``customer[].errcode`` 0 means the 24 h handover started."""
        data = optionaldict(
            handover_userid=handover_userid,
            takeover_userid=takeover_userid,
            external_userid=_check_count("external_userid", list(external_userid), MAX_TRANSFER),
            transfer_success_msg=transfer_success_msg,
        )
        return self._post("externalcontact/transfer_customer", data=dict(data))

    def transfer_result(self, handover_userid: str, takeover_userid: str, cursor: str = "") -> dict:
        """查询客户接替状态 (在职): status 1 done, 2 waiting, 3 refused, 4 takeover full."""
        data = optionaldict(handover_userid=handover_userid, takeover_userid=takeover_userid, cursor=cursor or None)
        return self._post("externalcontact/transfer_result", data=dict(data))

    def resigned_transfer_customer(
        self, handover_userid: str, takeover_userid: str, external_userid: Iterable[str]
    ) -> dict:
        """分配离职成员的客户 (≤ 100 per call)."""
        data = {
            "handover_userid": handover_userid,
            "takeover_userid": takeover_userid,
            "external_userid": _check_count("external_userid", list(external_userid), MAX_TRANSFER),
        }
        return self._post("externalcontact/resigned/transfer_customer", data=data)

    def resigned_transfer_result(self, handover_userid: str, takeover_userid: str, cursor: str = "") -> dict:
        """查询客户接替状态 (离职)."""
        data = optionaldict(handover_userid=handover_userid, takeover_userid=takeover_userid, cursor=cursor or None)
        return self._post("externalcontact/resigned/transfer_result", data=dict(data))

    # ---- 入群欢迎语素材 (group welcome templates): owners apply them to their groups; joiners get them -------

    @staticmethod
    def _welcome_template(text: str | None, parts: dict[str, dict | None]) -> dict:
        if text is not None and len(text.encode()) > MAX_WELCOME_TEXT_BYTES:
            raise ValueError(f"text is at most {MAX_WELCOME_TEXT_BYTES} bytes")
        data: dict[str, Any] = {name: value for name, value in parts.items() if value}
        if text:
            data["text"] = {"content": text}
        return data

    def add_group_welcome_template(
        self,
        text: str | None = None,
        *,
        image: dict | None = None,
        link: dict | None = None,
        miniprogram: dict | None = None,
        file: dict | None = None,
        video: dict | None = None,
        notify: int | None = None,
        agentid: int | None = None,
    ) -> dict:
        """添加入群欢迎语素材 (≤ 100 per corp): text (``%NICKNAME%`` becomes the joiner's nickname) and/or one of
        image, link, miniprogram, file, video; ``notify`` 1 (WeCom's default) tells the group owners to apply it.
        Returns ``template_id``."""
        data = self._welcome_template(
            text, {"image": image, "link": link, "miniprogram": miniprogram, "file": file, "video": video}
        )
        if not data:
            raise ValueError("a group welcome template needs text or an attachment")
        data.update(optionaldict(notify=notify, agentid=agentid))
        return self._post("externalcontact/group_welcome_template/add", data=data)

    def edit_group_welcome_template(
        self,
        template_id: str,
        text: str | None = None,
        *,
        image: dict | None = None,
        link: dict | None = None,
        miniprogram: dict | None = None,
        file: dict | None = None,
        video: dict | None = None,
        agentid: int | None = None,
    ) -> dict:
        """编辑入群欢迎语素材 (only templates this app created)."""
        data = self._welcome_template(
            text, {"image": image, "link": link, "miniprogram": miniprogram, "file": file, "video": video}
        )
        data.update(optionaldict(template_id=template_id, agentid=agentid))
        return self._post("externalcontact/group_welcome_template/edit", data=data)

    def get_group_welcome_template(self, template_id: str) -> dict:
        """获取入群欢迎语素材: ``text``, ``image`` … as stored."""
        return self._post("externalcontact/group_welcome_template/get", data={"template_id": template_id})

    def del_group_welcome_template(self, template_id: str, agentid: int | None = None) -> dict:
        """删除入群欢迎语素材 (only templates this app created)."""
        data = dict(optionaldict(template_id=template_id, agentid=agentid))
        return self._post("externalcontact/group_welcome_template/del", data=data)


class GroupChatAPI(WeChatExternalContactGroupChat):
    """客户群: wechatpy's list/get/statistic plus 「加入群聊」 (group live codes) and group transfers."""

    @staticmethod
    def _join_way(
        scene: int,
        chat_id_list: Iterable[str],
        remark: str | None,
        auto_create_room: int | None,
        room_base_name: str | None,
        room_base_id: int | None,
        state: str | None,
    ) -> dict:
        if room_base_name is not None and len(room_base_name) > 40:
            raise ValueError("room_base_name is at most 40 characters")
        if state is not None and len(state) > 30:
            raise ValueError("state is at most 30 characters")
        return dict(
            optionaldict(
                scene=scene,
                remark=remark,
                auto_create_room=auto_create_room,
                room_base_name=room_base_name,
                room_base_id=room_base_id,
                chat_id_list=_check_count("chat_id_list", list(chat_id_list), MAX_JOIN_WAY_CHATS),
                state=state,
            )
        )

    def add_join_way(
        self,
        scene: int,
        chat_id_list: Iterable[str],
        remark: str | None = None,
        auto_create_room: int | None = 1,
        room_base_name: str | None = None,
        room_base_id: int | None = None,
        state: str | None = None,
    ) -> dict:
        """配置客户群进群方式: scene 1 mini-program button, 2 QR code; returns ``config_id``."""
        data = self._join_way(scene, chat_id_list, remark, auto_create_room, room_base_name, room_base_id, state)
        return self._post("externalcontact/groupchat/add_join_way", data=data)

    def get_join_way(self, config_id: str) -> dict:
        """获取客户群进群方式配置: ``join_way`` with ``qr_code``."""
        return self._post("externalcontact/groupchat/get_join_way", data={"config_id": config_id})

    def update_join_way(
        self,
        config_id: str,
        scene: int,
        chat_id_list: Iterable[str],
        remark: str | None = None,
        auto_create_room: int | None = 1,
        room_base_name: str | None = None,
        room_base_id: int | None = None,
        state: str | None = None,
    ) -> dict:
        """更新客户群进群方式配置 (replaces the whole configuration)."""
        data = self._join_way(scene, chat_id_list, remark, auto_create_room, room_base_name, room_base_id, state)
        return self._post("externalcontact/groupchat/update_join_way", data={"config_id": config_id, **data})

    def del_join_way(self, config_id: str) -> dict:
        """删除客户群进群方式配置."""
        return self._post("externalcontact/groupchat/del_join_way", data={"config_id": config_id})

    def transfer(self, chat_id_list: Iterable[str], new_owner: str) -> dict:
        """分配离职成员的客户群 (≤ 100 chats); ``failed_chat_list`` names the ones that did not move."""
        data = {"chat_id_list": _check_count("chat_id_list", list(chat_id_list), MAX_TRANSFER), "new_owner": new_owner}
        return self._post("externalcontact/groupchat/transfer", data=data)

    def onjob_transfer(self, chat_id_list: Iterable[str], new_owner: str) -> dict:
        """分配在职成员的客户群 (≤ 100 chats; each chat at most twice per 90 days)."""
        data = {"chat_id_list": _check_count("chat_id_list", list(chat_id_list), MAX_TRANSFER), "new_owner": new_owner}
        return self._post("externalcontact/groupchat/onjob_transfer", data=data)


class MsgAuditAPI(BaseWeChatAPI):
    """会话存档 open API. Pulling and decrypting the messages needs WeCom's closed SDK, not this client."""

    def get_permit_user_list(self, type: int | None = None) -> dict:
        """获取会话内容存档开启成员列表: ``ids``; type 1 office, 2 service, 3 enterprise edition."""
        return self._post("msgaudit/get_permit_user_list", data=dict(optionaldict(type=type)))

    def check_single_agree(self, info: Iterable[dict[str, str]]) -> dict:
        """获取会话同意情况 (single chats): ``info`` items are ``{"userid", "exteranalopenid"}`` — WeCom's
        own spelling — and ``agreeinfo[].agree_status`` is "Agree" or "Disagree"."""
        return self._post("msgaudit/check_single_agree", data={"info": list(info)})


class AuthAPI(BaseWeChatAPI):
    """OAuth2 in the sidebar (snsapi_base): who is the employee behind this code."""

    def get_user_info(self, code: str) -> dict:
        """获取访问用户身份: ``userid`` for an employee, ``openid``/``external_userid`` otherwise. The code
        is single-use and valid 5 minutes, so this call is never retried once it may have been sent."""
        return self._get("auth/getuserinfo", params={"code": code})


class JSAPI(WeChatJSAPI):
    """JS-SDK tickets from the shared token store, keyed by corp, secret kind and agent id.

    wechatpy keeps them in a per-process session under a key without the agent id, so two apps of the same
    corp would overwrite each other's agent ticket.
    """

    def get_jsapi_ticket(self) -> str:
        """The corp jsapi_ticket for ``wx.config``."""
        return self._client.tokens.get("jsapi_ticket", lambda: self._ticket(self.get_ticket()))

    def get_agent_jsapi_ticket(self) -> str:
        """The app ticket for ``wx.agentConfig`` (``ticket/get?type=agent_config``)."""
        return self._client.tokens.get("agent_ticket", lambda: self._ticket(self.get_agent_ticket()))

    @staticmethod
    def _ticket(result: dict) -> tuple[str, int]:
        return result["ticket"], int(result.get("expires_in", 7200))
