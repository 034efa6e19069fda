"""Corp basics: members, departments, OAuth (auth/getuserinfo) and the JS-SDK tickets."""

from __future__ import annotations

import secrets
from typing import Any

from scrm.wecom.simulator.routing import AGENT, ANY, ARCHIVE, CUSTOMER, ApiError, Call, api
from scrm.wecom.simulator.state import OAUTH_CODE_TTL


@api("user/get", families=CUSTOMER)
def user_get(call: Call) -> dict[str, Any]:
    employee = call.state.employees.get(call.required("userid"))
    if employee is None:
        raise ApiError(60111)
    return {key: value for key, value in employee.items() if key != "resigned_at"}


@api("department/list", families=CUSTOMER)
def department_list(call: Call) -> dict[str, Any]:
    return {"department": [dict(d) for d in call.state.departments]}


@api("auth/getuserinfo", families=AGENT)
def getuserinfo(call: Call) -> dict[str, Any]:
    code = call.state.oauth_codes.get(call.arg("code") or "")
    if code is None or code["used"] or call.state.clock() - code["created"] > OAUTH_CODE_TTL:
        raise ApiError(40029)
    code["used"] = True
    return {"userid": code["userid"]}


def _ticket(call: Call, kind: str) -> dict[str, Any]:
    # One ticket per (kind, family) for the token's lifetime, as WeCom caches them for 7200 s.
    key = f"{kind}:{call.family}"
    tickets = call.state.jsapi_tickets
    if key not in tickets:
        tickets[key] = secrets.token_urlsafe(32)
    return {"ticket": tickets[key], "expires_in": 7200}


@api("get_jsapi_ticket", families=ANY)
def get_jsapi_ticket(call: Call) -> dict[str, Any]:
    return _ticket(call, "corp")


@api("ticket/get", families=AGENT)
def ticket_get(call: Call) -> dict[str, Any]:
    if call.arg("type") != "agent_config":
        raise ApiError(40058, "invalid Request Parameter: type")
    return _ticket(call, "agent_config")


@api("msgaudit/get_permit_user_list", families=ARCHIVE)
def get_permit_user_list(call: Call) -> dict[str, Any]:
    # Chat archive is licensed per member; the simulated corp archives its active sales and service staff.
    return {"ids": [u for u, e in sorted(call.state.employees.items()) if e["status"] == 1]}
