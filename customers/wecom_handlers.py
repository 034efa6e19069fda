"""change_external_contact callbacks → customers services. Registered from ``CustomersConfig.ready``.

Handlers use only what the event carries (no WeCom calls here): ids, the channel state and the event time.
Names and remarks arrive later with the contact's detail, fetched by the gateway.
"""

import logging
from datetime import datetime

from django.utils import timezone

from customers.models import FollowRelation
from customers.services import follow_relation_mark, follow_relation_upsert, wecom_time
from scrm.wecom.dispatch import register
from scrm.wecom.events import CallbackEvent

logger = logging.getLogger(__name__)

EVENT = "change_external_contact"


def event_time(event: CallbackEvent) -> datetime:
    return wecom_time(event.create_time, field="CreateTime") or timezone.now()


@register(EVENT, "add_external_contact")
@register(EVENT, "add_half_external_contact")
def contact_added(event: CallbackEvent) -> None:
    at = event_time(event)
    follow_relation_upsert(
        userid=event.get("UserID"),
        external_userid=event.get("ExternalUserID"),
        at=at,
        added_at=at,
        # This add's channel: a re-add without a State must not keep the previous add's channel.
        state=event.get("State"),
    )


@register(EVENT, "edit_external_contact")
def contact_edited(event: CallbackEvent) -> None:
    follow_relation_upsert(
        userid=event.get("UserID"), external_userid=event.get("ExternalUserID"), at=event_time(event)
    )


@register(EVENT, "del_external_contact")
def contact_deleted_by_employee(event: CallbackEvent) -> None:
    follow_relation_mark(
        userid=event.get("UserID"),
        external_userid=event.get("ExternalUserID"),
        status=FollowRelation.Status.DELETED_BY_EMPLOYEE,
        at=event_time(event),
    )


@register(EVENT, "del_follow_user")
def contact_deleted_by_customer(event: CallbackEvent) -> None:
    follow_relation_mark(
        userid=event.get("UserID"),
        external_userid=event.get("ExternalUserID"),
        status=FollowRelation.Status.DELETED_BY_CUSTOMER,
        at=event_time(event),
    )


@register(EVENT, "transfer_fail")
def transfer_failed(event: CallbackEvent) -> None:
    # The relation stays with the original employee; the transfer records (a later issue) will take this.
    logger.info(
        "WeCom transfer of %s to %s failed: %s",
        event.get("ExternalUserID"),
        event.get("UserID"),
        event.get("FailReason") or "unknown reason",
    )


@register(EVENT, "msg_audit_approved")
def msg_audit_approved(event: CallbackEvent) -> None:
    logger.info("WeCom chat-archive consent given by %s to %s", event.get("ExternalUserID"), event.get("UserID"))
