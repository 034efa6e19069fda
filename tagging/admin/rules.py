"""Admin for rules (being written)."""
