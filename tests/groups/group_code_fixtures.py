"""Fixtures for the group live code tests: the reset simulator with its employees known here, empty groups made
in the simulator and loaded here, tags a code may put on customers, Celery tasks run in-process, and helpers to
look at the join_way WeCom holds.

Import the fixtures a module uses by their function names (``from tests.groups.group_code_fixtures import
sim_fixture``): pytest knows them by the names given to ``@pytest.fixture``."""

from __future__ import annotations

import pytest
from django.utils import translation

from customers.models import Employee
from customers.services import employee_upsert
from groups.models import CustomerGroup, GroupCode
from groups.services.group_codes import group_code_create
from scrm.core.models import AuditLog
from scrm.wecom.followups import group_refresh
from scrm.wecom.simulator.state import make_member
from tagging.models import Tag, TagGroup, TagKind, TagTarget

ADD, GET, UPDATE, DELETE = (
    f"externalcontact/groupchat/{name}" for name in ("add_join_way", "get_join_way", "update_join_way", "del_join_way")
)
WELCOME_ADD, WELCOME_EDIT, WELCOME_GET, WELCOME_DEL = (
    f"externalcontact/group_welcome_template/{name}" for name in ("add", "edit", "get", "del")
)
JOIN_WAY_PATHS = (ADD, GET, UPDATE, DELETE)
STAFF = ("zhangsan", "lisi", "wangwu", "chenqi")


@pytest.fixture(name="english")
def english_fixture():
    with translation.override("en"):
        yield


@pytest.fixture(name="sim")
def sim_fixture(wecom_configured):
    """The reset simulator; its active employees (and the one who resigned) known here."""
    for userid in STAFF:
        employee_upsert(userid=userid, name=userid)
    employee_upsert(userid="zhaoliu", name="zhaoliu", status=Employee.Status.RESIGNED)
    return wecom_configured


@pytest.fixture(name="ops")
def ops_fixture(make_user):
    from scrm.core.roles import OPS

    return make_user("ops1", role=OPS, is_staff=True)


@pytest.fixture(name="eager")
def eager_fixture():
    """Tasks enqueued after commit run in this process (Celery's own test mode)."""
    from scrm.celery import app

    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)


@pytest.fixture(name="code_tags")
def code_tags_fixture(db) -> dict[str, Tag]:
    system = TagGroup.objects.create(name="入群", kind=TagKind.SYSTEM)
    personal = TagGroup.objects.create(name="个人", kind=TagKind.PERSONAL)
    for_groups = TagGroup.objects.create(name="群分类", kind=TagKind.SYSTEM, target=TagTarget.GROUP)
    return {
        "门店群": Tag.objects.create(name="门店群", group=system, kind=TagKind.SYSTEM),
        "扫码入群": Tag.objects.create(name="扫码入群", group=system, kind=TagKind.SYSTEM),
        "老客": Tag.objects.create(name="老客", group=personal, kind=TagKind.PERSONAL),
        "宝妈群": Tag.objects.create(name="宝妈群", group=for_groups, kind=TagKind.SYSTEM),
    }


def sim_group(sim, name: str, *, owner: str = "zhangsan", members: int = 1) -> str:
    """A customer group in the simulator with ``members`` members (its owner and customers); its chat id."""
    chat_id = sim.employee_creates_group(owner, name=name, emit=False)
    fill(sim, chat_id, members)
    return chat_id


def fill(sim, chat_id: str, members: int) -> None:
    """Customers join the simulated group (no callbacks) until it has ``members`` members."""
    with sim.state.lock:
        group = sim.state.groups[chat_id]
        while len(group["member_list"]) < members:
            ext = sim.state.add_customer(userid=group["owner"], name="老群友")
            group["member_list"].append(make_member(sim.state, ext, kind=2, scene=1, invitor=group["owner"]))
        group["member_version"] = sim.state.member_version(chat_id)


def load(*chat_ids: str) -> list[CustomerGroup]:
    """The groups as the app knows them after reading their detail from WeCom, in this order."""
    for chat_id in chat_ids:
        group_refresh(chat_id=chat_id)
    groups = {group.chat_id: group for group in CustomerGroup.objects.filter(chat_id__in=chat_ids)}
    return [groups[chat_id] for chat_id in chat_ids]


def make_code(capture, groups, *, actor=None, **values) -> GroupCode:
    """A code made by the service, its push run (after commit) by the caller's capture of on_commit callbacks."""
    values.setdefault("name", "门店群活码")
    with capture(execute=True):
        code = group_code_create(groups=groups, actor=actor, **values)
    return fresh(code)


def fresh(code: GroupCode) -> GroupCode:
    return GroupCode.objects.get(pk=code.pk)


def way(sim, code: GroupCode) -> dict:
    """The join_way WeCom holds for the code."""
    return sim.state.join_ways[fresh(code).config_id]


def code_groups(code: GroupCode) -> list[tuple[str, bool, bool]]:
    """(chat id, full, created automatically) of the code's groups, in order."""
    rows = code.code_groups.select_related("group").order_by("position", "id")
    return [(row.group.chat_id, row.full_at is not None, row.auto_created) for row in rows]


def alerts(code: GroupCode) -> int:
    return AuditLog.objects.filter(action="full_alert", target_id=str(code.pk)).count()


def wecom_calls(sim, *paths: str) -> int:
    return sum(len(sim.requests_to(path)) for path in paths or (*JOIN_WAY_PATHS, WELCOME_ADD, WELCOME_EDIT))


def deliver(post_callback, capture, records) -> None:
    """POST each emitted callback to the app as WeCom does (signed, encrypted); whatever it queues after commit
    runs in this process (with ``eager``)."""
    for record in records:
        with capture(execute=True):
            assert post_callback(record["xml"]).status_code == 200


def scan(sim, post_callback, capture, code: GroupCode, *, customer: bool = True) -> str:
    """A customer (of lisi's, unless ``customer`` is False) scans the code's WeCom QR; every callback delivered.
    Returns the joiner's external_userid."""
    start = len(sim.callbacks)
    ext = sim.customer_adds_employee("lisi", name="扫码客户")["external_userid"] if customer else None
    ext = sim.customer_scans_join_way(fresh(code).config_id, ext)["external_userid"]
    deliver(post_callback, capture, sim.callbacks[start:])
    return ext
