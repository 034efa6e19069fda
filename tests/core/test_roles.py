import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType

from scrm.core.roles import OPS, ROLES, SALES, role_grants, roles_sync

pytestmark = pytest.mark.django_db


def perms(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


CRUD = ("view", "add", "change", "delete")
# Every model of the business apps and the gateway, as they stand now.
BUSINESS_MODELS = {
    "customers": (
        "employee",
        "externalcontact",
        "followrelation",
        "customer",
        "customermerge",
        "membertier",
        "opportunitystage",
        "order",
        "stagechange",
        "timelineentry",
        "importjob",
        "customertransfer",
        "customeralert",
    ),
    "groups": (
        "customergroup",
        "groupmember",
        "bot",
        "botgroup",
        "channelcode",
        "channelcodemember",
        "channelcodeadd",
        "groupcode",
        "groupcodegroup",
        "store",
        "groupdailystat",
    ),
    "tagging": (
        "taggroup",
        "tag",
        "customertag",
        "grouptag",
        "wecomtagpush",
        "tagrule",
        "segment",
        "tagbulkjob",
        "tagbulkjobchunk",
    ),
    "wecom": ("inboxevent", "syncstate"),
}
OPS_NOW = {
    "core.view_heartbeat",
    "core.view_auditlog",
    "customers.view_full_phone",
    "customers.view_all_customers",
} | {f"{app}.{action}_{model}" for app, models in BUSINESS_MODELS.items() for model in models for action in CRUD}
SALES_NOW = {
    *(f"customers.view_{model}" for model in BUSINESS_MODELS["customers"]),
    "customers.add_customer",
    "customers.change_customer",
    "customers.add_timelineentry",
    "customers.add_order",
    "tagging.add_customertag",
    "tagging.delete_customertag",
    *(f"groups.view_{model}" for model in BUSINESS_MODELS["groups"]),
    *(f"tagging.view_{model}" for model in BUSINESS_MODELS["tagging"]),
}


def test_migrate_leaves_both_roles_with_their_permissions():
    assert set(Group.objects.values_list("name", flat=True)) == {OPS, SALES}
    assert perms(OPS) == OPS_NOW
    assert perms(SALES) == SALES_NOW


@pytest.mark.parametrize(
    ("role", "app_label", "model", "codename", "granted"),
    [
        (OPS, "customers", "customer", "delete_customer", True),
        (OPS, "customers", "customer", "view_full_phone", True),  # "*" covers custom permissions
        (OPS, "core", "heartbeat", "view_heartbeat", True),
        (OPS, "core", "heartbeat", "change_heartbeat", False),
        (OPS, "auth", "user", "change_user", False),
        (SALES, "customers", "customer", "view_customer", True),
        (SALES, "customers", "customer", "change_customer", True),
        (SALES, "customers", "customer", "delete_customer", False),
        (SALES, "customers", "membertier", "change_membertier", False),
        (SALES, "customers", "timelineentry", "add_timelineentry", True),
        (SALES, "customers", "customer", "view_full_phone", False),  # custom, not a "view"
        (SALES, "sop", "sopplan", "add_sopplan", False),
        (SALES, "wecom", "inboxevent", "view_inboxevent", False),
    ],
)
def test_role_table(role, app_label, model, codename, granted):
    assert role_grants(ROLES[role], app_label=app_label, model=model, codename=codename) is granted


def test_sync_grants_new_permissions_and_removes_drift():
    content_type = ContentType.objects.get_for_model(Group)
    stray = Permission.objects.get(content_type=content_type, codename="delete_group")
    Group.objects.get(name=SALES).permissions.add(stray)
    Group.objects.get(name=OPS).delete()

    roles_sync()

    assert perms(SALES) == SALES_NOW
    assert perms(OPS) == OPS_NOW
