"""Fault injection and the request log: what tests use to make WeCom misbehave and to see what the client sent."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Drop = Literal["before", "after"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # relative to /cgi-bin/, e.g. "externalcontact/get"
    query: dict[str, str]
    body: dict[str, Any] | None
    access_token: str | None
    at: float

    def public(self) -> dict[str, Any]:
        """The JSON form for ``/_sim/requests``: the corp secret never leaves the process."""
        data = asdict(self)
        if "corpsecret" in data["query"]:
            data["query"] = {**data["query"], "corpsecret": "***"}
        return data


@dataclass
class FaultRule:
    path: str
    times: int = 1
    errcode: int | None = None
    errmsg: str | None = None
    drop: Drop | None = None
    delay: float = 0.0
    hits: int = field(default=0)


class Faults:
    """Rules matched by exact path, consumed in injection order, each for ``times`` calls."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def inject(
        self,
        *,
        path: str,
        errcode: int | None = None,
        errmsg: str | None = None,
        drop: Drop | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> FaultRule:
        if drop not in (None, "before", "after"):
            raise ValueError("drop must be 'before', 'after' or None")
        if errcode is None and drop is None and not delay:
            raise ValueError("a fault needs an errcode, a drop or a delay")
        rule = FaultRule(path=path.strip("/"), times=times, errcode=errcode, errmsg=errmsg, drop=drop, delay=delay)
        with self._lock:
            self._rules.append(rule)
        return rule

    def take(self, path: str) -> FaultRule | None:
        """The rule for this call, if any; counts the call against it."""
        with self._lock:
            for rule in self._rules:
                if rule.path == path and rule.hits < rule.times:
                    rule.hits += 1
                    return rule
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    @property
    def pending(self) -> list[FaultRule]:
        with self._lock:
            return [rule for rule in self._rules if rule.hits < rule.times]
