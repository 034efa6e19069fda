"""``/_sim/*``: the simulator's own JSON control API, so a non-Python process can drive a standalone simulator.

GET  /_sim/requests                      the request log (corpsecret masked)
GET  /_sim/state                         a snapshot of the simulated corp
GET  /_sim/callbacks                     every event emitted so far
POST /_sim/faults        {"path", "errcode"|"drop"|"delay", "times"}
POST /_sim/faults/clear
POST /_sim/reset | /_sim/expire_tokens | /_sim/revoke_tokens
POST /_sim/config        {"mass_message_monthly_limit": 4}
POST /_sim/oauth_code    {"userid"}      → {"code"}
POST /_sim/emit/<helper> {kwargs}        customer_adds_employee, customer_deletes_employee,
                                         employee_deletes_customer, customer_joins_group, customer_leaves_group,
                                         tag_changes, employee_sends_mass_message
POST /_sim/emit/raw      {"xml"} or {fields}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scrm.wecom.simulator.server import SimulatorServer

HELPERS = {
    "customer_adds_employee",
    "customer_deletes_employee",
    "employee_deletes_customer",
    "customer_joins_group",
    "customer_scans_join_way",
    "customer_leaves_group",
    "employee_creates_group",
    "tag_changes",
    "employee_sends_mass_message",
}


def handle_control(
    sim: SimulatorServer, method: str, path: str, query: dict[str, str], raw: bytes
) -> tuple[int, dict[str, Any]]:
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        return 400, {"error": "body must be JSON"}
    if not isinstance(body, dict):
        return 400, {"error": "body must be a JSON object"}
    path = path.strip("/")
    try:
        if method == "GET":
            if path == "requests":
                return 200, {"requests": [r.public() for r in list(sim.requests)]}
            if path == "state":
                return 200, sim.state.snapshot()
            if path == "callbacks":
                return 200, {"callbacks": list(sim.callbacks)}
            return 404, {"error": f"unknown control endpoint GET /_sim/{path}"}
        if path == "faults":
            rule = sim.faults.inject(**body)
            return 200, {"ok": True, "path": rule.path, "times": rule.times}
        if path == "faults/clear":
            sim.faults.clear()
        elif path == "reset":
            sim.reset()
        elif path == "expire_tokens":
            sim.expire_tokens()
        elif path == "revoke_tokens":
            sim.revoke_tokens()
        elif path == "config":
            if "mass_message_monthly_limit" in body:
                sim.state.mass_message_monthly_limit = body["mass_message_monthly_limit"]
        elif path == "oauth_code":
            return 200, {"code": sim.issue_oauth_code(body["userid"])}
        elif path == "emit/raw":
            return 200, {"status": sim.emit_callback(body.get("xml") or body)}
        elif path.startswith("emit/") and path[5:] in HELPERS:
            result = getattr(sim, path[5:])(**body)
            return 200, {"result": result}
        else:
            return 404, {"error": f"unknown control endpoint POST /_sim/{path}"}
    except (KeyError, ValueError, TypeError) as exc:
        return 400, {"error": f"{type(exc).__name__}: {exc}"}
    return 200, {"ok": True}
