"""change_external_chat callbacks → groups services. Registered from ``GroupsConfig.ready``.

Only what the event carries is applied (no WeCom calls here). change_owner / change_name / change_notice carry
no values, so they only make sure the group row exists; the gateway's detail fetch brings the new values.
"""

import logging
from datetime import datetime

from django.utils import timezone

from groups.services import (
    group_dismiss,
    group_ensure,
    group_members_joined,
    group_members_left,
    wecom_time,
)
from scrm.wecom.dispatch import register
from scrm.wecom.events import CallbackEvent

logger = logging.getLogger(__name__)

EVENT = "change_external_chat"


def event_time(event: CallbackEvent) -> datetime:
    return wecom_time(event.create_time, field="CreateTime") or timezone.now()


def _scene(event: CallbackEvent, name: str) -> int | None:
    value = event.get(name)
    return int(value) if value.isdigit() else None


@register(EVENT, "create")
def group_created(event: CallbackEvent) -> None:
    group_ensure(chat_id=event.get("ChatId"), created_at=event_time(event))


@register(EVENT, "update")
def group_updated(event: CallbackEvent) -> None:
    chat_id, detail = event.get("ChatId"), event.get("UpdateDetail")
    members = event.lists.get("MemChangeList", [])
    if detail == "add_member":
        group_members_joined(
            chat_id=chat_id,
            member_ids=members,
            join_scene=_scene(event, "JoinScene"),
            at=event_time(event),
            member_version=event.get("CurMemVer"),
        )
    elif detail == "del_member":
        group_members_left(
            chat_id=chat_id,
            member_ids=members,
            quit_scene=_scene(event, "QuitScene"),
            at=event_time(event),
            member_version=event.get("CurMemVer"),
        )
    else:
        if detail not in {"change_owner", "change_name", "change_notice"}:
            logger.info("WeCom group %s update %r: only making sure the group exists", chat_id, detail)
        group_ensure(chat_id=chat_id)


@register(EVENT, "dismiss")
def group_dismissed(event: CallbackEvent) -> None:
    group_dismiss(chat_id=event.get("ChatId"), at=event_time(event))
