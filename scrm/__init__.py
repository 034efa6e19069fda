"""The SCRM project package: settings, URLs, the Celery app and the shared packages (core, wecom)."""

from scrm.celery import app as celery_app

__all__ = ["celery_app"]
