"""A full sync of 10,000 contacts from the simulator over real HTTP: exact rows at the end, every sync done.

The corp is seeded in bulk (deterministic): 10,000 customers dealt to 40 employees, every 10th customer also
followed by a second employee, and a few groups. This is a correctness test at size, not a timed one (the
figures are in ``bench/``).
"""

import pytest

from customers.models import Employee, ExternalContact, FollowRelation
from groups.models import CustomerGroup, GroupMember
from scrm.wecom.models import SyncState
from scrm.wecom.simulator import SimulatorServer
from scrm.wecom.sync import wecom_sync

pytestmark = pytest.mark.django_db

CORP_ID = "wwscalecorp"
SECRETS = {"contact": "scale-contact-secret", "agent": "scale-agent-secret"}
CONTACTS, EMPLOYEES, GROUPS, MEMBERS = 10_000, 40, 5, 20


@pytest.fixture(scope="module")
def big_corp():
    server = SimulatorServer(
        corp_id=CORP_ID,
        secrets=SECRETS,
        bulk={"contacts": CONTACTS, "employees": EMPLOYEES, "groups": GROUPS, "members_per_group": MEMBERS},
    ).start()
    yield server
    server.stop()


@pytest.fixture
def configured(settings, big_corp):
    big_corp.revoke_tokens()
    settings.WECOM_API_BASE_URL = big_corp.base_url
    settings.WECOM_CORP_ID = CORP_ID
    settings.WECOM_CONTACT_SECRET = SECRETS["contact"]
    settings.WECOM_AGENT_SECRET = SECRETS["agent"]
    settings.WECOM_AGENT_ID = big_corp.agent_id
    settings.WECOM_HTTP_TIMEOUT = 10.0
    settings.WECOM_RATE_LIMIT_PER_MINUTE = 0
    return big_corp


def test_full_sync_of_ten_thousand_contacts(configured):
    follows = sum(len(items) for items in configured.state.follows.values())
    assert (len(configured.state.contacts), follows) == (CONTACTS, CONTACTS + CONTACTS // 10)

    results = wecom_sync()

    assert results["employees"] == {"fetched": EMPLOYEES, "named": EMPLOYEES}
    assert results["contacts"] == {"fetched": follows}
    assert results["groups"] == {"fetched": GROUPS}
    assert Employee.objects.count() == EMPLOYEES
    assert Employee.objects.exclude(name="").count() == EMPLOYEES
    assert ExternalContact.objects.count() == CONTACTS
    assert ExternalContact.objects.filter(synced_at__isnull=True).count() == 0  # no placeholder left
    assert FollowRelation.objects.count() == follows
    assert FollowRelation.objects.filter(status=FollowRelation.Status.ACTIVE).count() == follows
    assert CustomerGroup.objects.count() == GROUPS
    assert GroupMember.objects.filter(left_at__isnull=True).count() == GROUPS * (1 + MEMBERS)
    assert dict(SyncState.objects.values_list("resource", "status")) == {
        "employees": "done",
        "tags": "done",
        "contacts": "done",
        "groups": "done",
    }
    # Spot checks: one contact with two followers, with the remark and mobiles WeCom shows.
    ext = next(ext for ext, items in configured.state.follows.items() if len(items) == 2)
    stored = {
        (r.employee.userid, r.remark, tuple(r.remark_mobiles))
        for r in FollowRelation.objects.filter(contact__external_userid=ext).select_related("employee")
    }
    assert stored == {(f["userid"], f["remark"], tuple(f["remark_mobiles"])) for f in configured.state.follows[ext]}
