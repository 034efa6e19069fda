"""Placeholder: filled in by the bots work (Celery tasks named groups.*)."""
