"""Customer groups and members, bots, channel and group live codes, store routing (issue 6)."""
