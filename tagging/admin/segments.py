"""Admin for segments (being written)."""
