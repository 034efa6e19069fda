from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaggingConfig(AppConfig):
    name = "tagging"
    verbose_name = _("Tagging")

    def ready(self) -> None:
        from tagging import profile, wecom_handlers  # noqa: F401 - register the 360 section and callback handlers
