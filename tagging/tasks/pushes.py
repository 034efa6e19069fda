"""Tagging tasks: pushes (being written)."""
