"""Which calls may be retried after they may have reached WeCom, and how long to back off.

Idempotency is declared per endpoint, explicitly. A path missing from the table is treated as a write
(not retried once it may have been sent): a wrong "read" label could send a mass message twice, a wrong
"write" label only costs one retry.

- Reads (``IDEMPOTENT``) are retried on errcodes -1/45009/45033, on connection errors before the request was
  sent, and also after it may have been sent (read timeout, dropped connection, 5xx without a body).
- Writes (``NON_IDEMPOTENT``) are retried on those errcodes (WeCom answered: nothing was applied) and when the
  connection failed before anything was sent, but never after the request may have arrived: the client raises
  ``WeComOutcomeUnknown`` instead. Even writes that look harmless to repeat (mark_tag, remark, update_*)
  are here: a repeat fires another change event at every subscriber, and deletes answer "not found".
- ``auth/getuserinfo`` is a write: its OAuth code is single-use, a repeat would answer 40029.
"""

from __future__ import annotations

import random

IDEMPOTENT: frozenset[str] = frozenset(
    {
        # tokens and tickets
        "gettoken",
        "get_jsapi_ticket",
        "ticket/get",
        # customers (客户)
        "externalcontact/get",
        "externalcontact/list",
        "externalcontact/batch/get_by_user",
        "externalcontact/get_follow_user_list",
        "externalcontact/get_contact_way",
        "externalcontact/list_contact_way",
        "externalcontact/get_corp_tag_list",
        "externalcontact/get_user_behavior_data",
        "externalcontact/get_unassigned_list",
        "externalcontact/transfer_result",
        "externalcontact/resigned/transfer_result",
        "externalcontact/get_transfer_result",
        # mass messages (群发): results only
        "externalcontact/get_group_msg_result",
        "externalcontact/get_groupmsg_list_v2",
        "externalcontact/get_groupmsg_task",
        "externalcontact/get_groupmsg_send_result",
        # customer groups (客户群) and group live codes (群活码)
        "externalcontact/groupchat/list",
        "externalcontact/groupchat/get",
        "externalcontact/groupchat/statistic",
        "externalcontact/groupchat/get_join_way",
        # chat archive (会话存档): what the open API offers besides the closed SDK
        "msgaudit/get_permit_user_list",
        "msgaudit/check_single_agree",
        # directory and app reads
        "user/get",
        "user/list",
        "user/simplelist",
        "user/convert_to_openid",
        "user/convert_to_userid",
        "department/list",
        "agent/get",
        "agent/list",
        "tag/get",
        "tag/list",
        "batch/getresult",
        "media/get",
        "getcallbackip",
        "get_api_domain_ip",
        "externalcontact/group_welcome_template/get",
    }
)

NON_IDEMPOTENT: frozenset[str] = frozenset(
    {
        "externalcontact/add_msg_template",
        "externalcontact/cancel_groupmsg_send",
        "externalcontact/remind_groupmsg_send",
        "externalcontact/send_welcome_msg",
        "externalcontact/transfer",
        "externalcontact/transfer_customer",
        "externalcontact/resigned/transfer_customer",
        "externalcontact/groupchat/transfer",
        "externalcontact/groupchat/onjob_transfer",
        "externalcontact/add_corp_tag",
        "externalcontact/edit_corp_tag",
        "externalcontact/del_corp_tag",
        "externalcontact/mark_tag",
        "externalcontact/remark",
        "externalcontact/add_contact_way",
        "externalcontact/update_contact_way",
        "externalcontact/del_contact_way",
        "externalcontact/close_temp_chat",
        "externalcontact/groupchat/add_join_way",
        "externalcontact/groupchat/update_join_way",
        "externalcontact/groupchat/del_join_way",
        "externalcontact/group_welcome_template/add",
        "externalcontact/group_welcome_template/edit",
        "externalcontact/group_welcome_template/del",
        "auth/getuserinfo",
        "user/getuserinfo",
        "message/send",
        "appchat/create",
        "appchat/update",
        "appchat/send",
        "media/upload",
        "media/uploadimg",
    }
)


def is_idempotent(path: str) -> bool:
    """True only for endpoints declared idempotent; unknown paths are writes."""
    return path in IDEMPOTENT


def backoff_delay(*, attempt: int, base: float, cap: float) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): exponential, capped, with "equal jitter".

    Half the delay is fixed so a retry never fires immediately; the random half spreads out the workers
    that hit the same 45009 at the same moment.
    """
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not cryptography
