"""``get_client(kind)``: a ``WeComClient`` for one of the corp's secrets, configured from settings.

Each secret gets its own client because WeCom scopes permissions by secret: the 客户联系 secret may call
externalcontact/*, the self-built app's secret sends app messages and signs the sidebar's JS-SDK, and only
the 会话存档 secret may read the chat archive. Mixing them up is WeCom's errcode 48002.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from scrm.wecom.client.base import WeComClient
from scrm.wecom.errors import WeComConfigError

SECRET_SETTINGS = {
    "contact": "WECOM_CONTACT_SECRET",
    "agent": "WECOM_AGENT_SECRET",
    "archive": "WECOM_ARCHIVE_SECRET",
}


def _require(name: str) -> str:
    value = str(getattr(settings, name, "") or "").strip()
    if not value:
        raise WeComConfigError(None, f"{name} is not set", setting=name, hint=f"set {name} in the environment")
    return value


def get_client(kind: str = "contact", **options: Any) -> WeComClient:
    """The client for ``kind`` ("contact", "agent" or "archive"). ``options`` override constructor arguments
    (tests inject ``sleep`` and ``clock``). Raises ``WeComConfigError`` naming the first missing variable.

    Clients are cheap and hold no state of their own (tokens and counters live in the shared cache), so a new
    one per call site is fine and always reflects the current settings.
    """
    if kind not in SECRET_SETTINGS:
        raise ValueError(f"unknown WeCom secret kind {kind!r}; expected one of {sorted(SECRET_SETTINGS)}")
    corp_id = _require("WECOM_CORP_ID")
    secret = _require(SECRET_SETTINGS[kind])
    # The agent id keys the app's tokens and JS-SDK ticket; the contact and archive secrets belong to no app.
    agent_id = _require("WECOM_AGENT_ID") if kind == "agent" else ""
    base_url = _require("WECOM_API_BASE_URL")
    timeout = float(settings.WECOM_HTTP_TIMEOUT)
    arguments: dict[str, Any] = {
        "corp_id": corp_id,
        "secret": secret,
        "kind": kind,
        "agent_id": agent_id,
        "base_url": base_url,
        "timeout": (timeout, timeout),
        "rate_limit_per_minute": int(settings.WECOM_RATE_LIMIT_PER_MINUTE),
    }
    arguments.update(options)
    return WeComClient(**arguments)
