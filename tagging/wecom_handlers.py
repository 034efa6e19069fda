"""change_external_tag callbacks → tagging services. Registered from ``TaggingConfig.ready``.

The event carries only the id and whether it is a tag or a tag group: create/update make sure the row exists
(the gateway's get_corp_tag_list fetch brings names and order), delete marks it deleted, shuffle (reordering)
is left to the next sync.
"""

import logging

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
        tag_group_ensure(group_id=event.get("Id"))
    else:
        tag_ensure(tag_id=event.get("Id"))


@register(EVENT, "delete")
def tag_deleted(event: CallbackEvent) -> None:
    if event.get("TagType") == TAG_GROUP:
        tag_group_mark_deleted(group_id=event.get("Id"))
    else:
        tag_mark_deleted(tag_id=event.get("Id"))


@register(EVENT, "shuffle")
def tags_shuffled(event: CallbackEvent) -> None:
    logger.info("WeCom corp tags reordered (%s); the next tag sync picks up the order", event.get("Id") or "all")
