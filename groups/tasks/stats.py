"""Placeholder: filled in by the stats work (Celery tasks named groups.*)."""
