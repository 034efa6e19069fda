"""Celery tasks of the tagging app (Celery's autodiscovery imports this package; each module registers its own).

Every task is named explicitly (``tagging.<name>``) so beat entries and routes do not depend on module layout.
"""

from tagging.tasks import jobs, pushes, rules, taxonomy  # noqa: F401 - register the tasks
