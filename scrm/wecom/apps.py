from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WecomConfig(AppConfig):
    name = "scrm.wecom"
    label = "wecom"
    verbose_name = _("WeCom")

    def ready(self) -> None:
        from scrm.wecom.followups import register_followups

        register_followups()
