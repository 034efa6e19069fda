"""Placeholder: filled in by the bots work."""
