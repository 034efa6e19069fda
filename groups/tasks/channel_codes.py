"""Placeholder: filled in by the channel_codes work (Celery tasks named groups.*)."""
