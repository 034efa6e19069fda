"""The simulator's API registry: which path a handler answers, which secrets may call it, and WeCom's errors.

Each ``api_*.py`` module registers its handlers with ``@api("externalcontact/get", families=CUSTOMER)``; the
server looks the path up here after it has checked the access token. Handlers raise ``ApiError`` for WeCom
errcodes and return the success body without ``errcode``/``errmsg`` (the server adds them).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrm.wecom.simulator.server import SimulatorServer
    from scrm.wecom.simulator.state import SimState

# Secret families (keys of ``SimulatorServer(secrets=...)``). WeCom lets the 客户联系 secret and a self-built app
# configured as "可调用应用" call the customer-contact APIs; chat archive needs its own secret; OAuth codes and the
# JS-SDK tickets belong to the app (agent) that issued them.
CUSTOMER = ("contact", "agent")
ARCHIVE = ("archive",)
AGENT = ("agent",)
ANY = ("contact", "agent", "archive")

# errmsg texts as WeCom words them (errmsg may change; clients must branch on errcode only).
ERRMSG = {
    -1: "system busy",
    40001: "invalid credential",
    40003: "invalid userid",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40029: "invalid code",
    40050: "chatid not found",
    40058: "invalid Request Parameter",
    40068: "invalid tagid",
    40071: "tag name already exists",
    40096: "invalid external userid",
    40097: "the handover user is not resigned",
    40128: "customer transferred too often (twice per 90 days)",
    40129: "customer is being transferred",
    40130: "handover and takeover user are the same",
    40131: "handover_userid is not a follower of the customer",
    41001: "access_token missing",
    41002: "corpid missing",
    41004: "corpsecret missing",
    41044: "invalid config_id",
    41047: "invalid msgid",
    41048: "no customer to send to",
    41049: "welcome_code missing",
    41050: "invalid welcome_code",
    41051: "externaluser has started chatting",
    42001: "access_token expired",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    47001: "data format error",
    48002: "api forbidden",
    50100: "invalid cursor",
    60111: "userid not found",
    84061: "not external contact",
    81011: "no privilege to access/modify tag",
    40126: "corp tag count exceeds 3000",
    41039: "invalid contact way type",
    41040: "invalid contact way scene",
    41045: "contact way count exceeds limit",
    90500: "the owner of this chat is not resigned",
    90502: "the owner of this chat is resigned",
    90504: "the owner is not changed",
}


class ApiError(Exception):
    """A WeCom errcode answer (HTTP 200, ``{"errcode": N, "errmsg": ...}`` plus ``extra`` fields)."""

    def __init__(self, errcode: int, errmsg: str | None = None, **extra: Any) -> None:
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "error")
        self.extra = extra
        super().__init__(f"{errcode} {self.errmsg}")

    def body(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "errmsg": self.errmsg, **self.extra}


@dataclass
class Call:
    """One authenticated API call as a handler sees it."""

    state: SimState
    sim: SimulatorServer
    path: str
    query: dict[str, str]
    body: dict[str, Any]
    family: str

    def arg(self, name: str, default: Any = None) -> Any:
        """A parameter from the JSON body, falling back to the query string (GET APIs)."""
        if name in self.body:
            return self.body[name]
        return self.query.get(name, default)

    def required(self, name: str) -> Any:
        value = self.arg(name)
        if value in (None, "", []):
            raise ApiError(40058, f"invalid Request Parameter: missing {name}")
        return value


Handler = Callable[[Call], dict[str, Any]]


@dataclass(frozen=True)
class Route:
    handler: Handler
    families: Sequence[str] = field(default=CUSTOMER)


ROUTES: dict[str, Route] = {}


def api(path: str, *, families: Sequence[str] = CUSTOMER) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES[path] = Route(handler=handler, families=families)
        return handler

    return register


# Cursors are opaque to clients (as WeCom's are) but are plain offsets inside: base64 so nobody parses them.
def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sim:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if not text.startswith("sim:"):
            raise ValueError(text)
        return int(text[4:])
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise ApiError(50100) from exc


def page(items: list[Any], cursor: str | None, limit: int) -> tuple[list[Any], str]:
    """Slice ``items`` at the cursor; the next cursor is "" on the last page (WeCom's end-of-list signal)."""
    start = decode_cursor(cursor)
    chunk = items[start : start + limit]
    end = start + len(chunk)
    return chunk, encode_cursor(end) if end < len(items) else ""


def clamp_limit(value: Any, *, default: int, maximum: int) -> int:
    """WeCom's rule for ``limit``: missing means the default, above the maximum means the maximum."""
    try:
        limit = int(value) if value not in (None, "") else default
    except (TypeError, ValueError) as exc:
        raise ApiError(40058, "invalid Request Parameter: limit") from exc
    return max(1, min(limit, maximum))
