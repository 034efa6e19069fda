"""Placeholder: filled in by the group_codes work (Celery tasks named groups.*)."""
