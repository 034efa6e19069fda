"""Writes of the tagging app, one module per concern; import them from here.

- ``taxonomy``: tag groups and tags as WeCom reports them (and, with two-way sync, as staff edit them)
- ``assignments``: tags on customers and customer groups, with the indexed ``tag_ids`` arrays
- ``wecom_push``: the ``mark_tag`` outbox that carries corp-tag assignments to WeCom
"""

from tagging.services.assignments import TagChanges, customer_tags_change, group_tags_change, rebuild_tag_arrays
from tagging.services.taxonomy import (
    corp_tags_upsert_from_wecom,
    tag_ensure,
    tag_group_ensure,
    tag_group_mark_deleted,
    tag_mark_deleted,
)

__all__ = [
    "TagChanges",
    "corp_tags_upsert_from_wecom",
    "customer_tags_change",
    "group_tags_change",
    "rebuild_tag_arrays",
    "tag_ensure",
    "tag_group_ensure",
    "tag_group_mark_deleted",
    "tag_mark_deleted",
]
