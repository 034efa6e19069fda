"""Writes to customer groups and everything built on them. Each area has its module; the names callers use are
re-exported here."""

from groups.services.members import (
    group_dismiss,
    group_ensure,
    group_members_joined,
    group_members_left,
    group_update_fields,
    group_upsert_from_wecom,
    wecom_time,
)

__all__ = [
    "group_dismiss",
    "group_ensure",
    "group_members_joined",
    "group_members_left",
    "group_update_fields",
    "group_upsert_from_wecom",
    "wecom_time",
]
