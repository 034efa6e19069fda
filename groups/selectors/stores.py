"""Placeholder: filled in by the stores work."""
