"""Celery queues, named once. Pure Python on purpose: dev.py and Docker read it without Django.

Separate queues so a big SOP fan-out or a full sync cannot starve a welcome message (its code expires in 20 s).
Route a task by adding its module to ``CELERY_TASK_ROUTES`` in the settings.
"""

from enum import StrEnum


class Queue(StrEnum):
    REALTIME = "realtime"  # callbacks, welcome messages: seconds matter
    DEFAULT = "default"  # everything else interactive
    SYNC = "sync"  # full WeCom syncs, imports, nightly healing
    SOP = "sop"  # scheduled pushes and their fan-out

    @classmethod
    def all_names(cls) -> str:
        """Comma-separated, in priority order, for ``celery worker -Q``."""
        return ",".join(q.value for q in cls)
