from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupsConfig(AppConfig):
    name = "groups"
    verbose_name = _("Groups")

    def ready(self) -> None:
        # register the 360 section, the callback handlers and the hook subscribers
        from groups import (  # noqa: F401
            hooks_group_codes,
            profile,
            wecom_handlers,
            wecom_handlers_channel_codes,
        )
