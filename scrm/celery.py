"""The Celery app. Configured from Django settings (``CELERY_*``); tasks live in each app's ``tasks.py``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scrm.settings.base")

app = Celery("scrm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Customer transfers: one tick claims the result checks that are due (rows with a due time, not ETA tasks). Added
# here rather than in settings' CELERY_BEAT_SCHEDULE, which merges with it when the app is configured.
app.add_periodic_task(
    300.0, app.signature("customers.tasks.transfers_tick"), name="customers-transfers-tick", expires=300
)
