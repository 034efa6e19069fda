"""change_external_tag callbacks → tagging services. Registered from ``TaggingConfig.ready``.

The event carries only the id and whether it is a tag or a tag group: create/update make sure the row exists
(the gateway's get_corp_tag_list fetch brings names and order), delete marks it deleted, shuffle (reordering)
is left to the next sync. Each records the event's CreateTime on the row as the time WeCom changed it: the
refresh that follows weighs it against an edit made here (last writer wins).
"""

import logging
from datetime import datetime

from scrm.core.upsert import wecom_time
from scrm.wecom.dispatch import register
from scrm.wecom.events import CallbackEvent
from tagging.services import tag_ensure, tag_group_ensure, tag_group_mark_deleted, tag_mark_deleted

logger = logging.getLogger(__name__)

EVENT = "change_external_tag"
TAG_GROUP = "tag_group"


@register(EVENT, "create")
@register(EVENT, "update")
def tag_changed(event: CallbackEvent) -> None:
    if event.get("TagType") == TAG_GROUP:
        tag_group_ensure(group_id=event.get("Id"), changed_at=_changed_at(event))
    else:
        tag_ensure(tag_id=event.get("Id"), changed_at=_changed_at(event))


@register(EVENT, "delete")
def tag_deleted(event: CallbackEvent) -> None:
    if event.get("TagType") == TAG_GROUP:
        tag_group_mark_deleted(group_id=event.get("Id"), changed_at=_changed_at(event))
    else:
        tag_mark_deleted(tag_id=event.get("Id"), changed_at=_changed_at(event))


@register(EVENT, "shuffle")
def tags_shuffled(event: CallbackEvent) -> None:
    logger.info("WeCom corp tags reordered (%s); the next tag sync picks up the order", event.get("Id") or "all")


def _changed_at(event: CallbackEvent) -> datetime | None:
    return wecom_time(event.create_time, field="CreateTime")
