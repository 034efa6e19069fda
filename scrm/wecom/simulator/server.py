"""HTTP plumbing: a ThreadingHTTPServer answering ``/cgi-bin/*`` like qyapi.weixin.qq.com, plus ``/_sim/*`` control.

Order of a call: record it → apply an injected fault (drop before / delay / errcode) → check the access token and
the secret family → run the handler under the state lock → (drop after) → answer JSON with HTTP 200, errors
included, as WeCom does.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Importing the api modules registers their routes.
from scrm.wecom.simulator import (
    api_contacts,
    api_corp,
    api_group_welcome,
    api_groups,
    api_messages,
    api_tags,
    api_transfer,
    api_ways,
)
from scrm.wecom.simulator.control import handle_control
from scrm.wecom.simulator.events import EventsMixin
from scrm.wecom.simulator.faults import Faults, RecordedRequest
from scrm.wecom.simulator.routing import ROUTES, ApiError, Call
from scrm.wecom.simulator.state import SimState

logger = logging.getLogger(__name__)
TOKEN_TTL = 7200
API_MODULES = (api_contacts, api_corp, api_group_welcome, api_groups, api_messages, api_tags, api_transfer, api_ways)


class _Handler(BaseHTTPRequestHandler):
    server_version = "WeComSimulator/1.0"
    sim: SimulatorServer  # set on the subclass each server builds

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def log_message(self, format: str, *args: Any) -> None:
        # The default logs the request line with its query string, i.e. corpsecret and access tokens: never do that.
        logger.debug("simulator %s %s", self.command, urlsplit(self.path).path)

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path.startswith("/_sim/"):
            status, body = handle_control(self.sim, method, url.path[len("/_sim/") :], query, raw)
            self._send(body, status=status)
            return
        if not url.path.startswith("/cgi-bin/"):
            self._send({"errcode": 404, "errmsg": "not found"}, status=404)
            return
        path = url.path[len("/cgi-bin/") :].strip("/")
        body: dict[str, Any] | None = None
        bad_json = False
        if raw:
            try:
                parsed = json.loads(raw)
                body = parsed if isinstance(parsed, dict) else None
                bad_json = body is None
            except ValueError:
                bad_json = True
        self.sim._record(RecordedRequest(method, path, query, body, query.get("access_token"), self.sim.state.clock()))

        fault = self.sim.faults.take(path)
        if fault and fault.drop == "before":
            self.close_connection = True
            return
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.errcode is not None:
            self._send(ApiError(fault.errcode, fault.errmsg).body())
            return
        answer = ApiError(47001).body() if bad_json else self.sim._dispatch(method, path, query, body or {})
        if fault and fault.drop == "after":
            self.close_connection = True
            return
        self._send(answer)

    def _send(self, body: Mapping[str, Any], *, status: int = 200) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # A client that gave up (its timeout, or a "drop" fault) leaves a broken pipe behind: expected, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class SimulatorServer(EventsMixin):
    """A WeCom corp on loopback. ``start()`` serves in a background thread; ``base_url`` is the client's base."""

    def __init__(
        self,
        corp_id: str = "wwsim",
        secrets: Mapping[str, str] | None = None,
        agent_id: str = "1000002",
        host: str = "127.0.0.1",
        port: int = 0,
        callback_url: str | None = None,
        callback_token: str = "",
        callback_aes_key: str = "",
        clock: Callable[[], float] | None = None,
        bulk: Mapping[str, int] | None = None,
    ) -> None:
        """``bulk``: ``SimState.seed_bulk`` arguments (``{"contacts": 100_000, "employees": 50}``) for a large
        deterministic corp instead of the small demo one; reapplied by every ``reset()``."""
        self.corp_id = corp_id
        self.secrets = dict(secrets or {"contact": "contact-secret", "agent": "agent-secret"})
        self.agent_id = str(agent_id)
        self.host = host
        self.port = port
        self.callback_url = callback_url
        self.callback_token = callback_token
        self.callback_aes_key = callback_aes_key
        self.state = SimState(corp_id=corp_id, clock=clock, bulk=dict(bulk) if bulk else None)
        self.faults = Faults()
        self.requests: list[RecordedRequest] = []
        self.callbacks: list[dict[str, Any]] = []  # every emitted event: xml, status
        self._log_lock = threading.Lock()
        self._httpd: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def _bind(self) -> _QuietServer:
        self._httpd = _QuietServer((self.host, self.port), type("SimHandler", (_Handler,), {"sim": self}))
        self.port = self._httpd.server_address[1]
        return self._httpd

    def start(self) -> SimulatorServer:
        self._bind()
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="wecom-simulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Foreground mode for the management command (Ctrl-C raises KeyboardInterrupt out of here)."""
        (self._httpd or self._bind()).serve_forever()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/cgi-bin/"

    @property
    def clock(self) -> Callable[[], float]:
        return self.state.clock

    def reset(self) -> None:
        """Seeded corp, no faults, empty request log. Issued tokens stay valid (they are credentials, not data)."""
        self.state.reset()
        self.faults.clear()
        with self._log_lock:
            self.requests.clear()
            self.callbacks.clear()

    # ---- request log -----------------------------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._log_lock:
            self.requests.append(request)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        path = path.strip("/")
        with self._log_lock:
            return [r for r in self.requests if r.path == path]

    # ---- tokens ----------------------------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every issued token answers 42001 from now on (as after its 7200 s)."""
        with self.state.lock:
            for token in self.state.tokens.values():
                token["expires_at"] = min(token["expires_at"], self.state.clock() - 1)

    def revoke_tokens(self) -> None:
        """Every issued token answers 40014, as when WeCom invalidates tokens early (secret reset, etc.)."""
        with self.state.lock:
            self.state.tokens.clear()

    def _gettoken(self, query: Mapping[str, str]) -> dict[str, Any]:
        corpid, secret = query.get("corpid", ""), query.get("corpsecret", "")
        if not corpid:
            raise ApiError(41002)
        if corpid != self.corp_id:
            raise ApiError(40013)
        if not secret:
            raise ApiError(41004)
        family = next(
            (name for name, value in self.secrets.items() if value and secrets.compare_digest(value, secret)), None
        )
        if family is None:
            raise ApiError(40001)
        now = self.state.clock()
        # Within its validity WeCom hands out the same token again; a new one only after expiry.
        for token, info in self.state.tokens.items():
            if info["family"] == family and info["expires_at"] > now:
                return {"access_token": token, "expires_in": int(info["expires_at"] - now)}
        token = secrets.token_urlsafe(48)
        self.state.tokens[token] = {"family": family, "expires_at": now + TOKEN_TTL}
        return {"access_token": token, "expires_in": TOKEN_TTL}

    def _family_of(self, token: str | None) -> str:
        if not token:
            raise ApiError(41001)
        info = self.state.tokens.get(token)
        if info is None:
            raise ApiError(40014)
        if info["expires_at"] <= self.state.clock():
            raise ApiError(42001)
        return info["family"]

    # ---- dispatch --------------------------------------------------------------------------------------------

    def _dispatch(self, method: str, path: str, query: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        try:
            with self.state.lock:
                if path == "gettoken":
                    result = self._gettoken(query)
                else:
                    family = self._family_of(query.get("access_token"))
                    api_transfer.settle_transfers(self.state)  # transfers complete 24 h after they start
                    route = ROUTES.get(path)
                    if route is None:
                        # Not a WeCom API (or one the simulator lacks): fail loudly rather than pretend.
                        raise ApiError(48002, f"api forbidden: simulator has no api '{path}'")
                    if family not in route.families:
                        raise ApiError(48002)
                    result = route.handler(Call(self.state, self, path, query, body, family))
        except ApiError as exc:
            return exc.body()
        return {"errcode": 0, "errmsg": "ok", **result}
