"""Celery tasks of the groups app (Celery's autodiscovery imports this package; each module registers its own).

Every task is named explicitly (``groups.<name>``) so beat entries and routes do not depend on module layout.
"""

from groups.tasks import bots, channel_codes, group_codes, stats  # noqa: F401 - register the tasks
