"""Placeholder: filled in by the group_codes work (joins through a group live code; groups.* hooks)."""
