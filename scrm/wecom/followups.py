"""After a callback, read from WeCom what the event does not carry.

Events name things (a contact, a group, a tag) without their details: the apps' handlers record what the event
says, and these handlers — registered like any other — schedule a read of the full detail once the event's
transaction has committed. The reads run as tasks, so WeCom being slow or limited never holds up the inbox.
"""

import logging

from django.db import transaction
from django.utils import timezone

from scrm.wecom.client import get_client
from scrm.wecom.dispatch import batched, register
from scrm.wecom.errors import WeComError
from scrm.wecom.events import CallbackEvent

logger = logging.getLogger(__name__)

CONTACT_CHANGES = ("add_external_contact", "add_half_external_contact", "edit_external_contact")
GROUP_CHANGES = ("create", "update")
TAG_CHANGES = ("create", "update")


def _after_commit(task, *args) -> None:
    transaction.on_commit(lambda: task.delay(*args))


def schedule_contact_refreshes(events: list[CallbackEvent]) -> None:
    for event in events:
        schedule_contact_refresh(event)


@batched(schedule_contact_refreshes)
def schedule_contact_refresh(event: CallbackEvent) -> None:
    from scrm.wecom.tasks import refresh_contact

    if external_userid := event.get("ExternalUserID"):
        _after_commit(refresh_contact, external_userid)


def schedule_group_refresh(event: CallbackEvent) -> None:
    from scrm.wecom.tasks import refresh_group

    if chat_id := event.get("ChatId"):
        _after_commit(refresh_group, chat_id)


def schedule_tags_refresh(event: CallbackEvent) -> None:
    from scrm.wecom.tasks import refresh_tags

    _after_commit(refresh_tags)


def register_followups() -> None:
    for change_type in CONTACT_CHANGES:
        register("change_external_contact", change_type)(schedule_contact_refresh)
    for change_type in GROUP_CHANGES:
        register("change_external_chat", change_type)(schedule_group_refresh)
    for change_type in TAG_CHANGES:
        register("change_external_tag", change_type)(schedule_tags_refresh)


# --- the reads (called by the tasks) ---------------------------------------------------------------------------


def contact_refresh(*, external_userid: str) -> bool:
    """Fetch one contact with its follow users and apply it. False when WeCom no longer knows the contact."""
    from customers.services import external_contact_upsert_from_wecom

    try:
        detail = get_client("contact").external_contact.get(external_userid)
    except WeComError as exc:
        if exc.errcode == 84061:  # not a customer of any employee any more: the delete events say the rest
            logger.info("Contact %s is gone from WeCom; nothing to refresh", external_userid)
            return False
        raise
    external_contact_upsert_from_wecom(detail=detail)
    return True


def group_refresh(*, chat_id: str) -> None:
    from groups.services import group_upsert_from_wecom

    detail = get_client("contact").external_contact_group_chat.get(chat_id)
    group_upsert_from_wecom(detail=detail)


def tags_refresh() -> None:
    """Fetch the whole tag list after change_external_tag events and apply it. The events recorded their times
    on the rows they named; those times, not this fetch's, decide against edits made here (``dated_by_events``),
    so an event about one tag never overrides an edit of another."""
    from tagging.services import corp_tags_upsert_from_wecom

    fetched_at = timezone.now()
    tag_groups = get_client("contact").external_contact.get_corp_tag_list().get("tag_group", [])
    corp_tags_upsert_from_wecom(tag_groups=tag_groups, complete=True, fetched_at=fetched_at, dated_by_events=True)
