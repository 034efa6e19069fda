"""The groups admin, one module per area; importing them registers their ModelAdmins."""

from groups.admin import bots, channel_codes, group_codes, groups, stats, stores  # noqa: F401
