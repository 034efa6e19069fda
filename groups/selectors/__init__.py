"""Reads of customer groups and everything built on them. Each area has its module; the member reads callers
use are re-exported here."""

from groups.selectors.members import (
    group_get,
    group_members,
    groups_of_member,
    groups_owned_by,
    groups_without_detail,
)

__all__ = ["group_get", "group_members", "groups_of_member", "groups_owned_by", "groups_without_detail"]
