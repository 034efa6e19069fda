"""The simulated corp: plain dicts shaped like WeCom's JSON, behind one lock, seeded deterministically.

Everything is kept in the shape the API returns so handlers stay thin; ids are derived from counters so a reset
reproduces exactly the same corp (tests can hard-code nothing but still compare runs).
"""

from __future__ import annotations

import bisect
import calendar
import copy
import hashlib
import random
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
SEED_TIME = 1_700_000_000  # 2023-11-15, so seeded rows are "in the past" whatever the clock says
WELCOME_CODE_TTL = 20  # seconds, WeCom's window for send_welcome_msg
OAUTH_CODE_TTL = 300  # seconds (5 minutes, usable once)
TRANSFER_DELAY = 24 * 3600  # a transfer completes 24 h after it was requested
TRANSFER_WINDOW = 90 * 24 * 3600  # ... and a customer may be transferred at most twice in 90 days
TRANSFERS_PER_WINDOW = 2


class ManualClock:
    """A clock tests move by hand (``SimulatorServer(clock=ManualClock())``), so nobody sleeps 20 s."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.now += seconds
            return self.now


class SimState:
    """All mutable simulator data. Hold ``lock`` while reading or writing (the server does for every call)."""

    def __init__(
        self, *, corp_id: str, clock: Callable[[], float] | None = None, bulk: dict[str, int] | None = None
    ) -> None:
        self.corp_id = corp_id
        self.clock: Callable[[], float] = clock or time.time
        self.lock = threading.RLock()
        # ``seed_bulk`` arguments applied after every reset (a standalone simulator for load tests), or None.
        self.bulk = dict(bulk) if bulk else None
        # None = as many mass messages per recipient per month as the month has days (WeCom's default rule).
        self.mass_message_monthly_limit: int | None = None
        self.tokens: dict[str, dict[str, Any]] = {}  # kept across reset(): they are credentials, not corp data
        self.reset()

    # ---- ids -------------------------------------------------------------------------------------------------

    def new_id(self, prefix: str, kind: str, length: int = 32) -> str:
        """A WeCom-looking id (``wm…`` contact, ``wr…`` chat, ``et…`` tag), deterministic per reset."""
        self._counters[kind] = self._counters.get(kind, 0) + 1
        digest = hashlib.sha256(f"{self.corp_id}:{kind}:{self._counters[kind]}".encode()).hexdigest()
        return (prefix + digest)[:length]

    def now(self) -> int:
        return int(self.clock())

    def month_key(self, at: float | None = None) -> str:
        return datetime.fromtimestamp(self.clock() if at is None else at, SHANGHAI).strftime("%Y-%m")

    def monthly_limit(self) -> int:
        if self.mass_message_monthly_limit is not None:
            return self.mass_message_monthly_limit
        today = datetime.fromtimestamp(self.clock(), SHANGHAI)
        return calendar.monthrange(today.year, today.month)[1]

    # ---- lifecycle -------------------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self._counters: dict[str, int] = {}
            self.departments: list[dict[str, Any]] = []
            self.employees: dict[str, dict[str, Any]] = {}
            self.contacts: dict[str, dict[str, Any]] = {}
            # external_userid -> follow_user entries. Change them only through add_follow / remove_follow /
            # set_follows, which keep the index below: paging 100,000 customers must not scan them all per page.
            self.follows: dict[str, list[dict[str, Any]]] = {}
            self._customers_by_user: dict[str, list[str]] = {}  # userid -> external_userids, kept sorted
            self.tag_groups: dict[str, dict[str, Any]] = {}
            self.groups: dict[str, dict[str, Any]] = {}
            self.contact_ways: dict[str, dict[str, Any]] = {}
            self.join_ways: dict[str, dict[str, Any]] = {}
            self.mass_messages: dict[str, dict[str, Any]] = {}
            self.received: dict[tuple[str, str], int] = {}  # (external_userid or chat_id, "YYYY-MM") -> count
            self.transfers: list[dict[str, Any]] = []
            self.group_transfers: list[dict[str, Any]] = []
            self.welcome_codes: dict[str, dict[str, Any]] = {}
            self.oauth_codes: dict[str, dict[str, Any]] = {}
            self.sent_welcomes: list[dict[str, Any]] = []
            self.app_messages: list[dict[str, Any]] = []  # message/send bodies, as the app sent them
            self.jsapi_tickets: dict[str, str] = {}
            _seed(self)
            if self.bulk:
                self.seed_bulk(**self.bulk)

    def snapshot(self) -> dict[str, Any]:
        """A deep copy for assertions and the ``/_sim/state`` control endpoint."""
        with self.lock:
            return copy.deepcopy(
                {
                    "employees": self.employees,
                    "contacts": self.contacts,
                    "follows": self.follows,
                    "tag_groups": self.tag_groups,
                    "groups": self.groups,
                    "contact_ways": self.contact_ways,
                    "join_ways": self.join_ways,
                    "mass_messages": self.mass_messages,
                    "transfers": self.transfers,
                }
            )

    # ---- lookups used by several api modules -------------------------------------------------------------------

    def tag(self, tag_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for group in self.tag_groups.values():
            for tag in group["tag"]:
                if tag["id"] == tag_id:
                    return group, tag
        return None

    def follow(self, external_userid: str, userid: str) -> dict[str, Any] | None:
        return next((f for f in self.follows.get(external_userid, []) if f["userid"] == userid), None)

    def customers_of(self, userid: str) -> list[str]:
        """The external_userids ``userid`` follows, sorted. The index's own list: callers must not modify it."""
        return self._customers_by_user.get(userid, [])

    # ---- follow relations: every change goes through these three, so the userid index stays true ----------------

    def add_follow(self, external_userid: str, follow: dict[str, Any]) -> None:
        self.follows.setdefault(external_userid, []).append(follow)
        self._index_add(follow["userid"], external_userid)

    def remove_follow(self, external_userid: str, userid: str) -> dict[str, Any] | None:
        """Drop ``userid``'s relation with the customer; returns it (None if there was none)."""
        follows = self.follows.get(external_userid, [])
        removed = next((f for f in follows if f["userid"] == userid), None)
        if removed is not None:
            self.follows[external_userid] = [f for f in follows if f["userid"] != userid]
            self._index_drop(userid, external_userid)
        return removed

    def set_follows(self, external_userid: str, follows: list[dict[str, Any]]) -> None:
        for follow in self.follows.get(external_userid, []):
            self._index_drop(follow["userid"], external_userid)
        self.follows[external_userid] = list(follows)
        for follow in follows:
            self._index_add(follow["userid"], external_userid)

    def _index_add(self, userid: str, external_userid: str) -> None:
        customers = self._customers_by_user.setdefault(userid, [])
        at = bisect.bisect_left(customers, external_userid)
        if at == len(customers) or customers[at] != external_userid:
            customers.insert(at, external_userid)

    def _index_drop(self, userid: str, external_userid: str) -> None:
        customers = self._customers_by_user.get(userid, [])
        at = bisect.bisect_left(customers, external_userid)
        if at < len(customers) and customers[at] == external_userid:
            del customers[at]

    def add_customer(
        self,
        *,
        userid: str,
        name: str,
        external_userid: str | None = None,
        state: str = "",
        add_way: int = 1,
        createtime: int | None = None,
        gender: int = 0,
        kind: int = 1,
        corp_name: str = "",
    ) -> str:
        """Create the external contact if new and add ``userid``'s follow relation (idempotent per pair)."""
        ext = external_userid or self.new_id("wm", "contact")
        if ext not in self.contacts:
            contact: dict[str, Any] = {
                "external_userid": ext,
                "name": name,
                "type": kind,
                "avatar": f"http://wx.qlogo.cn/mmhead/sim/{ext[-8:]}/0",
                "gender": gender,
                "unionid": "oSIM" + hashlib.sha256(ext.encode()).hexdigest()[:24],
            }
            if kind == 2:
                contact.update(corp_name=corp_name, corp_full_name=corp_name + "有限公司", position="经理")
            self.contacts[ext] = contact
        if self.follow(ext, userid) is None:
            self.add_follow(
                ext,
                {
                    "userid": userid,
                    "remark": "",
                    "description": "",
                    "createtime": self.now() if createtime is None else createtime,
                    "tag_ids": [],
                    "remark_corp_name": "",
                    "remark_mobiles": [],
                    "oper_userid": ext,  # the customer initiated the add (scan)
                    "add_way": add_way,
                    **({"state": state} if state else {}),
                },
            )
        return ext

    def seed_bulk(
        self,
        *,
        contacts: int,
        employees: int = 50,
        groups: int = 0,
        members_per_group: int = 20,
        shared_every: int = 10,
        seed: int = 1,
    ) -> dict[str, int]:
        """Replace the corp's people with a large deterministic one (same arguments, same corp): ``employees``
        active members, ``contacts`` customers dealt round-robin to them (every ``shared_every``-th also follows
        the next employee; 0 = nobody shares), ``groups`` customer groups of ``members_per_group`` customers.
        Departments and corp tags stay. Returns the counts the app should end up with after a full sync."""
        with self.lock:
            _seed_bulk(
                self,
                contacts=contacts,
                employees=employees,
                groups=groups,
                members_per_group=members_per_group,
                shared_every=shared_every,
                seed=seed,
            )
            return {
                "employees": len(self.employees),
                "contacts": len(self.contacts),
                "follows": sum(len(follows) for follows in self.follows.values()),
                "groups": len(self.groups),
            }

    def member_version(self, chat_id: str) -> str:
        group = self.groups[chat_id]
        members = ",".join(sorted(m["userid"] for m in group["member_list"]))
        return hashlib.md5(f"{chat_id}:{members}".encode()).hexdigest()  # noqa: S324 - a version tag, not security


EMPLOYEES = [
    ("zhangsan", "张三", [2], "销售顾问", "1", 1),
    ("lisi", "李四", [2], "销售顾问", "2", 1),
    ("wangwu", "王五", [3], "客服专员", "1", 1),
    ("chenqi", "陈七", [2], "销售主管", "2", 1),
    ("zhaoliu", "赵六", [2], "销售顾问", "1", 5),  # resigned: his customers and groups wait for 离职继承
]
CUSTOMER_NAMES = ["王芳", "李娜", "刘洋", "陈静", "杨磊", "黄敏", "周杰", "吴婷", "徐强", "孙丽", "马超", "朱琳"]
TAG_GROUPS = [
    ("客户等级", ["A类客户", "B类客户", "C类客户"]),
    ("意向产品", ["年卡会员", "私教课", "团课"]),
    ("来源渠道", ["门店扫码", "直播", "老带新"]),
]


def _seed(state: SimState) -> None:
    state.departments = [
        {"id": 1, "name": "示例健身有限公司", "name_en": "Sim Fitness", "parentid": 0, "order": 100000000},
        {"id": 2, "name": "销售部", "name_en": "Sales", "parentid": 1, "order": 99999000},
        {"id": 3, "name": "客服部", "name_en": "Service", "parentid": 1, "order": 99998000},
    ]
    for userid, name, department, position, gender, status in EMPLOYEES:
        state.employees[userid] = {
            "userid": userid,
            "name": name,
            "department": department,
            "main_department": department[0],
            "position": position,
            "gender": gender,
            "status": status,  # 1 active, 2 disabled, 4 not activated, 5 resigned
            "avatar": f"http://wework.qpic.cn/sim/{userid}/0",
            "resigned_at": SEED_TIME + 86400 * 10 if status == 5 else 0,
        }
    for order, (group_name, tags) in enumerate(TAG_GROUPS, start=1):
        group_id = state.new_id("et", "tag")
        state.tag_groups[group_id] = {
            "group_id": group_id,
            "group_name": group_name,
            "create_time": SEED_TIME,
            "order": order,
            "deleted": False,
            "tag": [
                {"id": state.new_id("et", "tag"), "name": tag, "create_time": SEED_TIME, "order": n, "deleted": False}
                for n, tag in enumerate(tags, start=1)
            ],
        }
    tag_ids = [tag["id"] for group in state.tag_groups.values() for tag in group["tag"]]
    sellers = ["zhangsan", "lisi", "wangwu", "chenqi", "zhaoliu"]
    for n, name in enumerate(CUSTOMER_NAMES):
        owner = sellers[n % len(sellers)]
        ext = state.add_customer(
            userid=owner,
            name=name,
            createtime=SEED_TIME + n * 3600,
            gender=1 + n % 2,
            kind=2 if n == 3 else 1,
            corp_name="腾讯" if n == 3 else "",
            add_way=1 if n % 3 else 0,
            state="store-001" if n % 4 == 0 else "",
        )
        mobiles = [f"1380013{n:04d}"]
        state.follows[ext][0].update(remark=f"{name}-会员", remark_mobiles=mobiles, tag_ids=[tag_ids[n % 3]])
        if n % 4 == 1:  # a few customers also follow a second employee
            state.add_customer(
                userid="chenqi" if owner != "chenqi" else "lisi",
                name=name,
                external_userid=ext,
                createtime=SEED_TIME + n * 3600 + 60,
            )
    customers = list(state.contacts)
    for n, (name, owner) in enumerate(
        [
            ("年卡会员一群", "zhangsan"),
            ("私教体验群", "lisi"),
            ("老客户福利群", "zhaoliu"),
            ("门店周边群", "zhangsan"),
            ("瑜伽爱好者群", "lisi"),
        ]
    ):
        chat_id = state.new_id("wr", "chat", 30)
        created = SEED_TIME + n * 7200
        members = [_member(state, owner, 1, created, 1, None)]
        members += [
            _member(state, ext, 2, created + 60 + i, 3 if i % 2 else 1, owner)
            for i, ext in enumerate(customers[(n * 3 + k) % len(customers)] for k in range(4))
        ]
        state.groups[chat_id] = {
            "chat_id": chat_id,
            "name": name,
            "owner": owner,
            "create_time": created,
            "notice": "欢迎加入,有问题请@群主",
            "member_list": members,
            "admin_list": [],
            "status": 0,  # 0 normal, 1 owner resigned (awaiting inheritance), 2/3 inheritance in progress/done
        }
        if state.employees[owner]["status"] == 5:
            state.groups[chat_id]["status"] = 1
        state.groups[chat_id]["member_version"] = state.member_version(chat_id)
    channels = [
        ("门店前台渠道码", "store-001", ["zhangsan", "lisi"]),
        ("直播间渠道码", "live-0315", ["wangwu"]),
        ("老带新渠道码", "referral", ["chenqi", "zhangsan"]),
    ]
    for remark, channel, users in channels:
        config_id = state.new_id("", "contact_way")
        state.contact_ways[config_id] = {
            "config_id": config_id,
            "type": 2 if len(users) > 1 else 1,
            "scene": 2,
            "style": 1,
            "remark": remark,
            "skip_verify": True,
            "state": channel,
            "user": users,
            "party": [],
            "is_temp": False,
            "qr_code": f"https://wework.qpic.cn/wwpic/sim/{config_id[:16]}/0",
        }


BULK_SURNAMES = "赵钱孙李周吴郑王冯陈褚卫蒋沈韩杨朱秦许何吕施张孔曹严华金魏陶姜"
BULK_GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰娟涛超明霞"


def _seed_bulk(
    state: SimState, *, contacts: int, employees: int, groups: int, members_per_group: int, shared_every: int, seed: int
) -> None:
    if contacts < 0 or employees < 1 or groups < 0 or members_per_group < 0 or shared_every < 0:
        raise ValueError("bulk seed: counts must be positive (at least one employee)")
    rng = random.Random(seed)  # noqa: S311 - test data, not security
    # Everything that names employees or customers goes; departments, corp tags and tokens stay.
    for name in (
        "employees",
        "contacts",
        "follows",
        "_customers_by_user",
        "groups",
        "contact_ways",
        "join_ways",
        "mass_messages",
        "received",
        "transfers",
        "group_transfers",
        "welcome_codes",
        "sent_welcomes",
        "app_messages",
    ):
        getattr(state, name).clear()
    userids = [f"sales{n:04d}" for n in range(1, employees + 1)]
    for n, userid in enumerate(userids):
        department = [2] if n % 5 else [3]
        state.employees[userid] = {
            "userid": userid,
            "name": BULK_SURNAMES[n % len(BULK_SURNAMES)] + BULK_GIVEN[n // len(BULK_SURNAMES) % len(BULK_GIVEN)],
            "department": department,
            "main_department": department[0],
            "position": "销售顾问",
            "gender": str(1 + n % 2),
            "status": 1,
            "avatar": f"http://wework.qpic.cn/sim/{userid}/0",
            "resigned_at": 0,
        }
    tag_ids = [tag["id"] for group in state.tag_groups.values() for tag in group["tag"]]
    channels = ["", "", "store-001", "live-0315", "referral"]
    for n in range(contacts):
        owner = userids[n % employees]
        name = rng.choice(BULK_SURNAMES) + rng.choice(BULK_GIVEN) + rng.choice(["", *BULK_GIVEN])
        ext = state.add_customer(
            userid=owner,
            name=name,
            createtime=SEED_TIME + n * 37,
            gender=rng.randint(0, 2),
            kind=2 if n % 50 == 7 else 1,
            corp_name="腾讯" if n % 50 == 7 else "",
            add_way=rng.choice([0, 1, 1, 2, 3, 201]),
            state=rng.choice(channels),
        )
        state.follows[ext][0].update(
            remark=f"{name}-{n}",
            description="批量客户" if n % 3 == 0 else "",
            remark_mobiles=[f"139{n:08d}"] if n % 4 else [],
            tag_ids=rng.sample(tag_ids, k=min(len(tag_ids), n % 3)),
        )
        if shared_every and employees > 1 and n % shared_every == shared_every - 1:
            state.add_customer(
                userid=userids[(n + 1) % employees], name=name, external_userid=ext, createtime=SEED_TIME + n * 37 + 60
            )
    customers = list(state.contacts)
    for n in range(groups):
        chat_id = state.new_id("wr", "chat", 30)
        owner = userids[n % employees]
        created = SEED_TIME + n * 600
        members = [_member(state, owner, 1, created, 1, None)]
        if customers:
            picked = [customers[(n * members_per_group + k) % len(customers)] for k in range(members_per_group)]
            members += [
                _member(state, ext, 2, created + 60 + i, 3 if i % 2 else 1, owner)
                for i, ext in enumerate(dict.fromkeys(picked))
            ]
        state.groups[chat_id] = {
            "chat_id": chat_id,
            "name": f"批量客户群{n + 1:04d}",
            "owner": owner,
            "create_time": created,
            "notice": "",
            "member_list": members,
            "admin_list": [],
            "status": 0,
        }
        state.groups[chat_id]["member_version"] = state.member_version(chat_id)


def _member(state: SimState, userid: str, kind: int, joined: int, scene: int, invitor: str | None) -> dict[str, Any]:
    member: dict[str, Any] = {
        "userid": userid,
        "type": kind,
        "join_time": joined,
        "join_scene": scene,
        "group_nickname": "",
    }
    if invitor:
        member["invitor"] = {"userid": invitor}
    if kind == 1:
        member["name"] = state.employees[userid]["name"]
    else:
        contact = state.contacts[userid]
        member["name"] = contact["name"]
        member["unionid"] = contact["unionid"]
    return member


def make_member(state: SimState, userid: str, *, kind: int, scene: int, invitor: str | None) -> dict[str, Any]:
    return _member(state, userid, kind, state.now(), scene, invitor)
