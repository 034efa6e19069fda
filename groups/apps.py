from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = _("Groups")

    def ready(self) -> None:
        from groups import profile, wecom_handlers  # noqa: F401 - register the 360 section and callback handlers
