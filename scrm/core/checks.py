from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def secret_key_from_environment(app_configs, **kwargs):
    if settings.SECRET_KEY_FROM_ENV:
        return []
    return [
        Warning(
            "SECRET_KEY is not set in the environment; a key generated under var/ is in use.",
            hint="Set SECRET_KEY to a long random value: python -c 'import secrets; print(secrets.token_urlsafe(50))'",
            id="scrm.W001",
        )
    ]
