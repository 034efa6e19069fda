from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "scrm.core"
    label = "core"
    verbose_name = _("System")

    def ready(self) -> None:
        from scrm.core import checks, signals  # noqa: F401  (registers checks and Celery request-id hooks)

        post_migrate.connect(_sync_roles_after_migrate, dispatch_uid="scrm.core.sync_roles")


def _sync_roles_after_migrate(sender, **kwargs) -> None:
    # post_migrate fires once per app that has a models module; permissions of every app exist only after the
    # last of those, so that is when the roles are brought up to date (new models get their permissions).
    with_models = [config for config in apps.get_app_configs() if config.models_module is not None]
    if sender.label != with_models[-1].label:
        return
    from scrm.core.roles import roles_sync

    roles_sync(using=kwargs.get("using", "default"))
