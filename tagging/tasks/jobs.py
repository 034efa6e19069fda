"""Tagging tasks: jobs (being written)."""
