"""Admin for assignments (being written)."""
