import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scrm.settings.base")

django_application = get_wsgi_application()

from scrm.wecom.wsgi import with_callback_fast_path  # noqa: E402 - imports models: after Django's setup above

application = with_callback_fast_path(django_application)
