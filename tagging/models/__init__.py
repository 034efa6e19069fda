"""Models of the tagging app, one module per concern; import them from here."""

from tagging.models.assignments import CustomerTag, GroupTag, Source, WeComTagPush
from tagging.models.jobs import TagBulkJob, TagBulkJobChunk
from tagging.models.rules import STATE_KINDS, RuleKind, TagRule
from tagging.models.segments import Segment
from tagging.models.taxonomy import (
    MAX_CORP_TAGS,
    TAG_NAME_MAX_LENGTH,
    SyncState,
    Tag,
    TagGroup,
    TagKind,
    TagTarget,
)

__all__ = [
    "MAX_CORP_TAGS",
    "STATE_KINDS",
    "TAG_NAME_MAX_LENGTH",
    "CustomerTag",
    "GroupTag",
    "RuleKind",
    "Segment",
    "Source",
    "SyncState",
    "Tag",
    "TagBulkJob",
    "TagBulkJobChunk",
    "TagGroup",
    "TagKind",
    "TagRule",
    "TagTarget",
    "WeComTagPush",
]
