"""Placeholder: filled in by the group_codes work."""
