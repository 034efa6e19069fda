"""Tagging tasks: taxonomy (being written)."""
