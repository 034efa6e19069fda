"""``WeComClient``: wechatpy's enterprise client with a request path we can trust in production.

What it changes in wechatpy (see DESIGN.md §5):

- Every request, gettoken included, goes to the configured base URL (wechatpy hard-codes gettoken's URL).
- Tokens and tickets live in the shared cache, refreshed single-flight (``tokens.TokenStore``), under keys
  with the corp id, secret kind and agent id (wechatpy's ticket key has no agent id).
- On 40014/42001 the token is refreshed at most once per call (wechatpy recurses without bound, #629).
- Bounded exponential backoff with jitter on -1/45009/45033 and on connection errors before sending; reads
  are also retried after they may have reached WeCom, writes never are (``WeComOutcomeUnknown``).
- A per-corp, per-API rate limit shared by all processes, a (connect, read) timeout on every request, typed
  errors, and no token or secret in any error text or log line.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError
from wechatpy.enterprise import WeChatClient

from scrm.wecom.client.api import JSAPI, AuthAPI, ExternalContactAPI, GroupChatAPI, MsgAuditAPI
from scrm.wecom.client.policy import backoff_delay, is_idempotent
from scrm.wecom.client.ratelimit import RateLimiter
from scrm.wecom.client.tokens import TokenStore, secret_fingerprint
from scrm.wecom.errors import (
    TOKEN_INVALID,
    TRANSIENT,
    WeComConfigError,
    WeComError,
    WeComOutcomeUnknown,
    WeComTransientError,
    error_for,
    redact,
)

logger = logging.getLogger(__name__)

WECOM_DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com/cgi-bin/"


class _RedactFilter(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string and all (``access_token=``, ``corpsecret=``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


_urllib3_logger = logging.getLogger("urllib3.connectionpool")
if not any(isinstance(f, _RedactFilter) for f in _urllib3_logger.filters):
    _urllib3_logger.addFilter(_RedactFilter())


@dataclass(frozen=True)
class _Failure:
    """No WeCom answer. ``maybe_sent``: the request may have reached WeCom (and may have been applied)."""

    maybe_sent: bool
    description: str
    config: bool = False


def _classify(exc: requests.RequestException) -> _Failure:
    """Did this requests error happen before the request left, or may WeCom have received it?"""
    description = redact(f"{type(exc).__name__}: {exc}")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return _Failure(maybe_sent=False, description=description, config=True)
    if isinstance(exc, requests.exceptions.InvalidSchema):
        return _Failure(maybe_sent=False, description=description, config=True)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return _Failure(maybe_sent=False, description=description)
    if isinstance(exc, requests.exceptions.ConnectionError) and not isinstance(exc, requests.exceptions.ProxyError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, MaxRetryError):
            reason = reason.reason
        # Refused, unreachable, DNS failure, connect timeout: urllib3 never opened the connection, so nothing
        # was sent. (NewConnectionError and NameResolutionError subclass ConnectTimeoutError in urllib3 2.)
        if isinstance(reason, ConnectTimeoutError):
            return _Failure(maybe_sent=False, description=description)
    # Read timeout, connection reset or dropped after sending, broken chunked body, proxy trouble.
    return _Failure(maybe_sent=True, description=description)


class WeComClient(WeChatClient):
    """One WeCom secret (``kind`` "contact", "agent" or "archive"). Build it with ``get_client(kind)``."""

    external_contact = ExternalContactAPI()
    external_contact_group_chat = GroupChatAPI()
    jsapi = JSAPI()
    msgaudit = MsgAuditAPI()
    auth = AuthAPI()

    def __init__(
        self,
        *,
        corp_id: str,
        secret: str,
        kind: str,
        base_url: str = WECOM_DEFAULT_BASE_URL,
        agent_id: str = "",
        timeout: tuple[float, float] = (10.0, 10.0),
        rate_limit_per_minute: int = 0,
        max_attempts: int = 3,
        backoff_base: float = 0.2,
        backoff_cap: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(corp_id, secret, timeout=timeout, auto_retry=False)
        self.kind = kind
        self.agent_id = str(agent_id or "")
        self.API_BASE_URL = base_url if base_url.endswith("/") else f"{base_url}/"
        self.max_attempts = max(1, max_attempts)
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.sleep = sleep  # injectable so tests do not really wait
        self.rate_limiter = RateLimiter(corp_id=corp_id, limit_per_minute=rate_limit_per_minute, clock=clock)
        # The lock must outlive the slowest possible gettoken (all attempts timing out, plus backoff), or a
        # second process would start refreshing while the first is still at it; waiters wait a bit longer.
        slowest_fetch = self.max_attempts * (sum(timeout) + backoff_cap) + 5
        self.tokens = TokenStore(
            namespace=f"wecom:{corp_id}:{kind}:{self.agent_id or '-'}:{secret_fingerprint(secret)}",
            lock_timeout=slowest_fetch,
            wait_timeout=slowest_fetch + 5,
        )

    def __repr__(self) -> str:
        return f"<WeComClient corp={self.corp_id} kind={self.kind} agent={self.agent_id or '-'}>"

    # --- tokens ---------------------------------------------------------------------------------------------

    @property
    def access_token_key(self) -> str:
        return self.tokens.key("access_token")

    @property
    def access_token(self) -> str:
        return self.tokens.get("access_token", self._fetch_access_token)

    def fetch_access_token(self) -> dict[str, Any]:
        """Force a new token (wechatpy's public API), single-flight like every refresh."""
        current = self.tokens.peek("access_token")
        token = self.tokens.get("access_token", self._fetch_access_token, stale=current)
        return {"access_token": token}

    def _fetch_access_token(self) -> tuple[str, int]:
        result = self._call(
            "GET", "gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}, authenticate=False
        )
        return result["access_token"], int(result.get("expires_in", 7200))

    # --- the request path -----------------------------------------------------------------------------------

    def _request(self, method: str, url_or_endpoint: str, **kwargs: Any) -> Any:
        """wechatpy's single entry point for API calls (``client.get/post`` and every ``BaseWeChatAPI``)."""
        kwargs.pop("api_base_url", None)  # our base URL wins, always
        params = dict(kwargs.pop("params", None) or {})
        # A caller-supplied token is used as is: we cannot refresh a token we did not issue.
        authenticate = "access_token" not in params
        return self._call(
            method.upper(), self._path(url_or_endpoint), params=params, authenticate=authenticate, **kwargs
        )

    def _path(self, url_or_endpoint: str) -> str:
        for prefix in (self.API_BASE_URL, WECOM_DEFAULT_BASE_URL):
            if url_or_endpoint.startswith(prefix):
                return url_or_endpoint[len(prefix) :]
        if url_or_endpoint.startswith(("http://", "https://")):
            raise WeComConfigError(None, "absolute URLs outside WECOM_API_BASE_URL are not allowed", "")
        return url_or_endpoint.lstrip("/")

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any],
        authenticate: bool = True,
        idempotent: bool | None = None,
        result_processor: Callable[[dict], Any] | None = None,
        data: Any = None,
        **http_kwargs: Any,
    ) -> Any:
        idempotent = is_idempotent(path) if idempotent is None else idempotent
        if isinstance(data, dict | list):
            data = json.dumps(data, ensure_ascii=False).encode("utf-8")
        failures = 0  # retryable failures so far; bounded by max_attempts
        refreshed = False  # at most one token refresh per call
        while True:
            token = None
            if authenticate:
                token = params["access_token"] = self.access_token
            self.rate_limiter.acquire(path)
            answer = self._send(method, path, params=params, data=data, **http_kwargs)

            if isinstance(answer, _Failure):
                if answer.config:
                    raise WeComConfigError(None, answer.description, path, setting="WECOM_API_BASE_URL")
                retryable = idempotent or not answer.maybe_sent
                failures += 1
                if retryable and failures < self.max_attempts:
                    self._backoff(path, failures, answer.description)
                    continue
                if not retryable:
                    raise WeComOutcomeUnknown(
                        None, f"{answer.description}; the request may have been applied, not retried", path
                    )
                raise WeComTransientError(None, answer.description, path)

            if not isinstance(answer, dict):
                return answer  # not JSON (a media download): wechatpy hands back the response
            errcode = int(answer.get("errcode") or 0)
            if errcode == 0:
                return result_processor(answer) if result_processor else answer
            errmsg = answer.get("errmsg", "")
            if errcode in TOKEN_INVALID and authenticate and not refreshed:
                refreshed = True
                logger.info("WeCom %s: token rejected (errcode %s), refreshing once", path, errcode)
                self.tokens.get("access_token", self._fetch_access_token, stale=token)
                continue
            if errcode in TRANSIENT:
                failures += 1
                if failures < self.max_attempts:
                    self._backoff(path, failures, f"errcode {errcode}")
                    continue
            raise error_for(errcode, errmsg, path)

    def _send(self, method: str, path: str, *, params: dict, data: Any, **http_kwargs: Any) -> dict | Any | _Failure:
        """One HTTP exchange. Returns the decoded answer or a ``_Failure``; never raises a requests error
        (its text holds the URL with the token, so it must not travel as an exception's ``__context__``)."""
        failure = None
        try:
            response = self._http.request(
                method=method,
                url=f"{self.API_BASE_URL}{path}",
                params=params,
                data=data,
                timeout=self.timeout,
                **http_kwargs,
            )
            if response.status_code >= 500:
                body = self._decode_result(response)
                if isinstance(body, dict) and "errcode" in body:
                    return body
                return _Failure(maybe_sent=True, description=f"HTTP {response.status_code} without a WeCom answer")
            if response.status_code >= 400:
                failure = WeComError(None, f"HTTP {response.status_code}", path)
            else:
                return self._decode_result(response)
        except requests.RequestException as exc:
            return _classify(exc)
        raise failure

    def _backoff(self, path: str, failures: int, reason: str) -> None:
        delay = backoff_delay(attempt=failures, base=self.backoff_base, cap=self.backoff_cap)
        logger.warning(
            "WeCom %s: %s; retry %d of %d in %.2fs",
            path,
            reason,
            failures,
            self.max_attempts - 1,
            delay,
            extra={"wecom_path": path},
        )
        self.sleep(delay)
