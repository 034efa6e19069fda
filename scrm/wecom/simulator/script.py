"""A scripted stream of corp activity for demos: customers arrive through channel codes, join and leave groups,
tags change — each step changes the simulator's state and emits the matching callback to the app."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrm.wecom.simulator.server import SimulatorServer

SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦许何吕施张孔曹严华金魏陶姜"
GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "超", "明", "霞"]


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(["", *GIVEN])


def scripted_step(sim: SimulatorServer, rng: random.Random) -> str:
    """One piece of activity; returns a line describing it (for the terminal)."""
    state = sim.state
    with state.lock:
        ways = [w for w in state.contact_ways.values() if w.get("user")]
        groups = list(state.groups.values())
        active = [u for u, e in state.employees.items() if e["status"] == 1]
    roll = rng.random()
    if roll < 0.45 or not groups:
        way = rng.choice(ways) if ways else None
        userid = rng.choice(way["user"]) if way else rng.choice(active)
        channel = (way or {}).get("state", "")
        result = sim.customer_adds_employee(userid, state=channel, name=_name(rng))
        return f"客户添加员工 {userid} (state={channel or '-'}) → {result['external_userid']} [{result['status']}]"
    group = rng.choice(groups)
    members = {m["userid"] for m in group["member_list"]}
    with state.lock:
        outsiders = [ext for ext, follows in state.follows.items() if follows and ext not in members]
    if roll < 0.7 and outsiders:
        ext = rng.choice(outsiders)
        result = sim.customer_joins_group(group["chat_id"], ext, join_scene=rng.choice([1, 2, 3]))
        return f"客户 {ext} 入群 {group['name']} [{result['status']}]"
    customers = [m["userid"] for m in group["member_list"] if m["type"] == 2]
    if roll < 0.85 and customers:
        ext = rng.choice(customers)
        result = sim.customer_leaves_group(group["chat_id"], ext, quit_scene=0)
        return f"客户 {ext} 退出 {group['name']} [{result['status']}]"
    label = rng.choice(["高意向", "已到店", "待回访", "复购", "沉默"]) + str(rng.randint(1, 99))
    result = sim.tag_changes("create", name=label)
    return f"新增企业标签 {result['id']} [{result['status']}]"


def run_script(
    sim: SimulatorServer,
    *,
    interval: float,
    stop: threading.Event,
    out: Callable[[str], None],
    seed: int = 42,
) -> None:
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    while not stop.wait(interval):
        try:
            out(scripted_step(sim, rng))
        except Exception as exc:  # a demo loop must survive a refused callback or an odd state
            out(f"脚本步骤失败: {type(exc).__name__}: {exc}")
