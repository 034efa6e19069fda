"""Writes of the tagging app, one module per concern; the main entry points are importable from here.

- ``taxonomy``: tag groups and tags as staff edit them; ``taxonomy_push`` sends those edits to WeCom;
  ``taxonomy_wecom`` applies what WeCom reports (sync, callbacks), the later writer winning
- ``assignments``: tags on customers and customer groups, with the indexed ``tag_ids`` arrays; ``merges`` moves a
  merged customer's tags; ``wecom_tags`` makes customers' tags follow what WeCom shows on their relations
- ``wecom_push`` / ``wecom_tag_pushes``: the ``mark_tag`` outbox that carries corp-tag assignments to WeCom
- ``rules``: auto-tagging rules; ``segments``: saved segments; ``bulk``: bulk tagging jobs and their undo
"""

from tagging.services.assignments import (
    TagChanges,
    customer_tags_change,
    customer_tags_restore,
    group_tags_change,
    rebuild_tag_arrays,
)
from tagging.services.bulk import tag_bulk_job_create, tag_bulk_job_undo
from tagging.services.rules import (
    rule_create,
    rule_delete,
    rule_disable,
    rule_enable,
    rule_evaluate,
    rule_preview,
    rule_update,
    rules_evaluate_customers,
)
from tagging.services.segments import segment_count_refresh, segment_create, segment_delete, segment_update
from tagging.services.taxonomy import (
    tag_create,
    tag_delete,
    tag_group_create,
    tag_group_delete,
    tag_group_update,
    tag_update,
)
from tagging.services.taxonomy_wecom import (
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
    "customer_tags_restore",
    "group_tags_change",
    "rebuild_tag_arrays",
    "rule_create",
    "rule_delete",
    "rule_disable",
    "rule_enable",
    "rule_evaluate",
    "rule_preview",
    "rule_update",
    "rules_evaluate_customers",
    "segment_count_refresh",
    "segment_create",
    "segment_delete",
    "segment_update",
    "tag_bulk_job_create",
    "tag_bulk_job_undo",
    "tag_create",
    "tag_delete",
    "tag_ensure",
    "tag_group_create",
    "tag_group_delete",
    "tag_group_ensure",
    "tag_group_mark_deleted",
    "tag_group_update",
    "tag_mark_deleted",
    "tag_update",
]
