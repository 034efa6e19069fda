"""Typed WeCom errors. Callers branch on the class (and ``errcode``), never on ``errmsg`` text.

``str()`` of every error is safe to show an operator or write to a log: ``errmsg`` is redacted on the way in
(WeCom and requests both echo URLs, and a URL can carry ``access_token=`` or ``corpsecret=``), and the hint
says in plain words what to fix in the WeCom admin console when the error is a configuration problem.

- ``WeComTransientError``: busy (-1), frequency (45009) or concurrency (45033) limits, or the network failed
  before the request was sent, still failing after the client's bounded retries. Retry later with backoff.
- ``WeComTokenError``: the access token was rejected (40014/42001) again right after one refresh.
- ``WeComConfigError``: a missing setting, a wrong secret or corp id, a secret without permission for the
  API, or an IP the app does not trust. Retrying cannot help; a person must fix the configuration.
- ``WeComOutcomeUnknown``: a non-idempotent call may have reached WeCom (read timeout, connection dropped
  after sending, 5xx without a body). It was not retried, so it was sent at most once; check the outcome
  (e.g. ``get_groupmsg_task``) before deciding to send again.
- ``WeComRateLimited``: our own per-corp, per-API budget for this minute is spent; ``retry_after`` seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

# Anything that looks like a credential in a query string or a JSON-ish dump. The value ends at a separator.
_SECRET_PATTERN = re.compile(
    r"""(?P<name>access_token|corpsecret|secret|ticket)(?P<sep>=|%3D|["']?\s*:\s*["']?)(?P<value>[^&\s'",)}]+)""",
    re.IGNORECASE,
)


def redact(text: object) -> str:
    """``text`` with every ``access_token=…``/``corpsecret=…`` value replaced by ``***``."""
    return _SECRET_PATTERN.sub(lambda m: f"{m['name']}{m['sep']}***", str(text))


# errcodes the client retries with backoff: system busy, API frequency limit, API concurrency limit.
TRANSIENT = frozenset({-1, 45009, 45033})
# errcodes that mean "this access token is no good": invalid (revoked early) and expired.
TOKEN_INVALID = frozenset({40014, 42001})

# Config errcodes and what to do about them, in the words of the WeCom admin console.
CONFIG_HINTS: dict[int, object] = {
    40001: _("wrong secret: copy the secret again from the WeCom admin console (应用管理 / 客户联系 → Secret)"),
    40013: _("wrong corp id: WECOM_CORP_ID must be the 企业ID shown under 我的企业 → 企业信息"),
    40056: _("wrong agent id: WECOM_AGENT_ID must be the AgentId of the app whose secret is configured"),
    48002: _(
        "this secret has no permission for this API: use the 客户联系 secret for externalcontact/*, "
        "or add the app to 客户联系 → 可调用接口的应用"
    ),
    48009: _("this server's IP is not trusted: add it to the app's 企业可信IP"),
    60020: _("this server's IP is not trusted: add it to the app's 企业可信IP"),
    60011: _("no permission for this member or department: widen the app's 可见范围"),
}


class WeComError(Exception):
    """A WeCom API call failed. ``errcode`` is WeCom's (``None`` when WeCom never answered)."""

    def __init__(self, errcode: int | None, errmsg: object = "", path: str = "", *, hint: object = "") -> None:
        self.errcode = errcode
        self.errmsg = redact(errmsg)
        self.path = path
        self.hint = hint
        super().__init__(errcode, self.errmsg, path)

    def __reduce__(self) -> tuple:
        # Keep every attribute (hint, setting, retry_after) when Celery or multiprocessing pickles the error.
        return (_rebuild, (type(self), self.__dict__.copy()))

    def __str__(self) -> str:
        where = f"WeCom {self.path}" if self.path else "WeCom"
        code = f"errcode {self.errcode}" if self.errcode is not None else "no errcode"
        text = f"{where}: {code}: {self.errmsg}"
        if self.hint:
            text += f" ({self.hint})"
        return text


def _rebuild(cls: type[WeComError], state: dict) -> WeComError:
    error = cls.__new__(cls)
    Exception.__init__(error, state.get("errcode"), state.get("errmsg"), state.get("path"))
    error.__dict__.update(state)
    return error


class WeComTransientError(WeComError):
    """Busy, limited, or unreachable, after the client's own retries. Safe to retry later."""


class WeComTokenError(WeComError):
    """The access token was rejected even after one refresh."""


class WeComConfigError(WeComError):
    """Configuration problem: retrying will not help."""

    def __init__(
        self, errcode: int | None, errmsg: object = "", path: str = "", *, hint: object = "", setting: str = ""
    ) -> None:
        self.setting = setting
        super().__init__(errcode, errmsg, path, hint=hint or CONFIG_HINTS.get(errcode or 0, ""))


class WeComOutcomeUnknown(WeComError):
    """A non-idempotent call may or may not have been applied by WeCom. It was sent at most once."""


class WeComRateLimited(WeComError):
    """Our client-side per-minute budget for this API is spent."""

    def __init__(self, errcode: int | None, errmsg: object = "", path: str = "", *, retry_after: float = 0) -> None:
        self.retry_after = retry_after
        super().__init__(errcode, errmsg, path)


# Worth trying again later: WeCom busy or our budget spent, a token rejected twice, or an answer lost on the way
# (the caller must then not assume the call failed).
RETRY_LATER = (WeComTransientError, WeComRateLimited, WeComTokenError, WeComOutcomeUnknown)


def refusal_explained(exc: WeComError, reasons: Mapping[int, str]) -> str:
    """WeCom's refusal in plain words for operations (a row's error shown in the admin and the API): the caller's
    reason for the errcode (``reasons``: errcode → a ``gettext_noop`` message) or the error's hint, then WeCom's
    own errcode and message."""
    reason = reasons.get(exc.errcode or 0)
    text = gettext(reason) if reason else str(exc.hint or gettext("WeCom refused the change."))
    return gettext("%(reason)s (WeCom errcode %(errcode)s: %(errmsg)s)") % {
        "reason": text,
        "errcode": exc.errcode if exc.errcode is not None else "-",
        "errmsg": exc.errmsg,
    }


def error_for(errcode: int, errmsg: object, path: str) -> WeComError:
    """The typed error for a non-zero errcode that the client will not (or may no longer) retry."""
    if errcode in TRANSIENT:
        return WeComTransientError(errcode, errmsg, path)
    if errcode in TOKEN_INVALID:
        return WeComTokenError(errcode, errmsg, path)
    if errcode in CONFIG_HINTS:
        return WeComConfigError(errcode, errmsg, path)
    return WeComError(errcode, errmsg, path)
