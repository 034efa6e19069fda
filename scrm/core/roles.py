"""The two staff roles, as Django groups whose permissions are derived from this table.

Kept declarative so that models added by later issues get the right permissions automatically: the data
migration creates the groups, and every ``migrate`` re-applies this table (see ``CoreConfig``). Object-level
rules (sales see only their own customers) live in the apps' selectors, not here.
"""

from dataclasses import dataclass, field

from django.apps import apps as global_apps
from django.utils.translation import gettext_lazy as _

OPS = "ops"
SALES = "sales"

ALL = frozenset({"*"})


@dataclass(frozen=True)
class Role:
    label: str
    # app label → default actions ("view", "add", "change", "delete") on each of its models, or "*" for every
    # permission of the app including custom ones (a custom one like "view_full_phone" is not a "view")
    apps: dict[str, frozenset[str]]
    # "app_label.model" → actions on that model, instead of its app's default
    models: dict[str, frozenset[str]] = field(default_factory=dict)
    # extra "app_label.codename" permissions outside the action scheme (e.g. customers.view_full_phone)
    extra: frozenset[str] = field(default_factory=frozenset)


ROLES: dict[str, Role] = {
    OPS: Role(
        label=_("Operations (运营)"),
        apps={
            "customers": ALL,
            "tagging": ALL,
            "groups": ALL,
            "sop": ALL,
            "wecom": ALL,
            "core": frozenset({"view"}),
        },
    ),
    SALES: Role(
        label=_("Sales (销售)"),
        apps={
            "customers": frozenset({"view"}),
            "tagging": frozenset({"view"}),
            "groups": frozenset({"view"}),
            "sop": frozenset({"view"}),
        },
        # which customers: only those they follow (customers.selectors.customers_visible_to)
        models={
            "customers.customer": frozenset({"view", "add", "change"}),
            "customers.timelineentry": frozenset({"view", "add"}),
            "customers.order": frozenset({"view", "add"}),
            # tag and untag the customers they follow (same object-level rule)
            "tagging.customertag": frozenset({"view", "add", "delete"}),
        },
    ),
}


def role_grants(role: Role, *, app_label: str, model: str, codename: str) -> bool:
    if f"{app_label}.{codename}" in role.extra:
        return True
    actions = role.models.get(f"{app_label}.{model}", role.apps.get(app_label, frozenset()))
    return "*" in actions or any(codename == f"{action}_{model}" for action in actions)


def roles_sync(*, apps=global_apps, using: str = "default") -> None:
    """Create the role groups if missing and set their permissions to exactly what ROLES grants.

    ``apps`` is the historical registry inside migrations and the real one otherwise.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    permissions = list(
        Permission.objects.using(using)
        .select_related("content_type")
        .only("id", "codename", "content_type__app_label", "content_type__model")
    )
    for name, role in ROLES.items():
        group, _created = Group.objects.using(using).get_or_create(name=name)
        granted = [
            perm.id
            for perm in permissions
            if role_grants(
                role,
                app_label=perm.content_type.app_label,
                model=perm.content_type.model,
                codename=perm.codename,
            )
        ]
        group.permissions.set(granted)
