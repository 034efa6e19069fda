"""Tagging tasks: rules (being written)."""
