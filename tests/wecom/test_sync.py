"""Full sync against the simulator: exact rows, idempotent, resumable from the last page, one run at a time."""

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.models import Employee, ExternalContact, FollowRelation
from groups.models import CustomerGroup, GroupMember
from scrm.wecom import sync
from scrm.wecom.models import SyncState
from scrm.wecom.sync import SyncAlreadyRunning, sync_claim, wecom_sync
from tagging.models import Tag, TagGroup

pytestmark = pytest.mark.django_db


def expected(sim) -> dict:
    """What WeCom shows the app: employees with 客户联系 (the resigned are not), their customers, every group."""
    state = sim.state
    active = {userid for userid, employee in state.employees.items() if employee["status"] != 5}
    follows = [(ext, f["userid"]) for ext, items in state.follows.items() for f in items if f["userid"] in active]
    return {
        "employees": len(active),
        "contacts": len({ext for ext, _ in follows}),
        "follows": len(follows),
        "groups": len(state.groups),
        "members": sum(len(group["member_list"]) for group in state.groups.values()),
        "tag_groups": len(state.tag_groups),
        "tags": sum(len(group["tag"]) for group in state.tag_groups.values()),
    }


def stored() -> dict:
    return {
        "employees": Employee.objects.count(),
        "contacts": ExternalContact.objects.count(),
        "follows": FollowRelation.objects.count(),
        "groups": CustomerGroup.objects.count(),
        "members": GroupMember.objects.filter(left_at__isnull=True).count(),
        "tag_groups": TagGroup.objects.count(),
        "tags": Tag.objects.count(),
    }


def test_full_sync_stores_exactly_what_wecom_has(wecom_configured):
    results = wecom_sync()

    assert stored() == expected(wecom_configured)
    assert results["contacts"] == {"fetched": expected(wecom_configured)["follows"]}
    assert set(SyncState.objects.values_list("resource", "status")) == {
        ("employees", "done"),
        ("tags", "done"),
        ("contacts", "done"),
        ("groups", "done"),
    }


def test_employees_get_their_directory_names(wecom_configured):
    wecom_sync(resources=("employees",))

    names = dict(Employee.objects.values_list("userid", "name"))
    assert names == {
        userid: employee["name"]
        for userid, employee in wecom_configured.state.employees.items()
        if employee["status"] != 5
    }


def test_without_the_app_secret_employees_stay_userid_only(wecom_configured, settings):
    settings.WECOM_AGENT_SECRET = ""

    result = wecom_sync(resources=("employees",))

    assert result["employees"]["named"] == 0
    assert set(Employee.objects.values_list("name", flat=True)) == {""}


def test_a_tag_deleted_in_wecom_is_marked_deleted(wecom_configured):
    wecom_sync(resources=("tags",))
    group = next(iter(wecom_configured.state.tag_groups.values()))
    gone = group["tag"].pop()["id"]

    wecom_sync(resources=("tags",))

    assert Tag.objects.get(tag_id=gone).deleted is True
    assert Tag.objects.filter(deleted=False).count() == expected(wecom_configured)["tags"]


def test_sync_is_idempotent(wecom_configured):
    wecom_sync()
    first = stored()
    updated = list(ExternalContact.objects.order_by("pk").values_list("pk", "updated_at"))

    wecom_sync()

    assert stored() == first
    assert list(ExternalContact.objects.order_by("pk").values_list("pk", "updated_at")) == updated


def test_contacts_sync_resumes_from_its_last_page(wecom_configured, monkeypatch):
    monkeypatch.setattr(sync, "CONTACTS_PER_PAGE", 2)
    monkeypatch.setattr(sync, "PAGES_PER_WRITE", 2)  # each transaction writes two pages
    sim = wecom_configured
    wecom_sync(resources=("employees",))

    injected = []

    def fail_after_first_page(resource, done):
        # From the second page on, WeCom stays busy for longer than the client retries.
        if not injected:
            injected.append(sim.faults.inject(path="externalcontact/batch/get_by_user", errcode=-1, times=10))

    first = wecom_sync(resources=("contacts",), progress=fail_after_first_page)
    state = SyncState.objects.get(resource="contacts")
    saved_after_failure = (state.status, state.position, ExternalContact.objects.count())
    sim.faults.clear()
    pages_before = len(sim.requests_to("externalcontact/batch/get_by_user"))

    second = wecom_sync(resources=("contacts",))

    assert "error" in first["contacts"]
    assert saved_after_failure[0] == "failed"
    assert saved_after_failure[1]["cursor"]  # resumes inside the first batch of employees
    assert 0 < saved_after_failure[2] < expected(sim)["contacts"]
    resumed = sim.requests_to("externalcontact/batch/get_by_user")[pages_before]
    assert resumed.body["cursor"] == saved_after_failure[1]["cursor"]
    assert second["contacts"] == {"fetched": expected(sim)["follows"]}
    assert FollowRelation.objects.count() == expected(sim)["follows"]


def test_one_run_per_resource_at_a_time(wecom_configured):
    sync_claim(resource="groups")

    with pytest.raises(SyncAlreadyRunning):
        sync_claim(resource="groups")

    SyncState.objects.filter(resource="groups").update(heartbeat_at=timezone.now() - timedelta(hours=1))
    assert sync_claim(resource="groups").status == "running"  # an abandoned run is taken over


def test_command_prints_a_summary(wecom_configured, capsys):
    call_command("wecom_sync", "--only", "tags,employees")

    out = capsys.readouterr().out
    count = expected(wecom_configured)["employees"]
    assert f"✓ employees  fetched {count}, named {count}" in out
    assert "✓ tags" in out
    assert Employee.objects.count() == expected(wecom_configured)["employees"]
    assert ExternalContact.objects.count() == 0


def test_command_refuses_unknown_resources(wecom_configured):
    with pytest.raises(CommandError, match="unknown resources: customers"):
        call_command("wecom_sync", "--only", "customers")

    assert SyncState.objects.count() == 0
