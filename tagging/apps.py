from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaggingConfig(AppConfig):
    name = "tagging"
    verbose_name = _("Tagging")

    def ready(self) -> None:
        # register the 360 section, the callback handlers and the hook subscribers
        from tagging import hooks_groups, hooks_rules, hooks_wecom, profile, segments, wecom_handlers  # noqa: F401
