"""The hardened WeCom API client. Apps call ``get_client(kind)`` and never build WeCom requests themselves.

    client = get_client("contact")          # 客户联系 secret: externalcontact/*
    client.external_contact.get("wm…")
    get_client("agent").jsapi.get_agent_jsapi_ticket()   # the self-built app (sidebar, messages)
    get_client("archive")                    # 会话存档 secret

Errors are the typed ones in ``scrm.wecom.errors``. See ``base.py`` for what differs from wechatpy.
"""

from scrm.wecom.client.base import WeComClient
from scrm.wecom.client.factory import SECRET_SETTINGS, get_client

__all__ = ["SECRET_SETTINGS", "WeComClient", "get_client"]
