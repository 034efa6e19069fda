"""change_external_contact callbacks → customers services. Registered from ``CustomersConfig.ready``.

Handlers use only what the event carries (no WeCom calls here): ids, the channel state and the event time.
Names and remarks arrive later with the contact's detail, fetched by the gateway.
"""

import logging
from datetime import datetime

from django.utils import timezone

from customers.models import FollowRelation
from customers.services.alerts import Loss, customer_losses_record
from customers.services.transfer_results import transfer_fail_record
from customers.services.wecom import FollowChange, follow_relations_apply
from scrm.core.upsert import given, wecom_time
from scrm.wecom.dispatch import batched, register
from scrm.wecom.events import CallbackEvent

logger = logging.getLogger(__name__)

EVENT = "change_external_contact"


def event_time(event: CallbackEvent) -> datetime:
    return wecom_time(event.create_time, field="CreateTime") or timezone.now()


def follow_change(event: CallbackEvent) -> FollowChange:
    """What an add, edit or delete event says of the employee × contact relation."""
    at = event_time(event)
    ids = {"userid": event.get("UserID"), "external_userid": event.get("ExternalUserID"), "at": at}
    match event.change_type:
        case "add_external_contact" | "add_half_external_contact":
            # This add's channel: a re-add without a State must not keep the previous add's channel.
            return FollowChange(**ids, values=given(added_at=at, state=event.get("State")))
        case "del_external_contact":
            return FollowChange(**ids, status=FollowRelation.Status.DELETED_BY_EMPLOYEE)
        case "del_follow_user":
            return FollowChange(**ids, status=FollowRelation.Status.DELETED_BY_CUSTOMER)
    return FollowChange(**ids)  # edit_external_contact: the relation exists and is active as of ``at``


def follow_events_apply(events: list[CallbackEvent]) -> None:
    changes = [follow_change(event) for event in events]
    follow_relations_apply(changes=changes)
    # A customer who deletes their employee is a loss (流失): an alert for the owner and ops, in a few queries for
    # the whole batch and none when the batch holds no such event.
    losses = [
        Loss(userid=change.userid, external_userid=change.external_userid, at=change.at)
        for event, change in zip(events, changes, strict=True)
        if event.change_type == "del_follow_user"
    ]
    if losses:
        customer_losses_record(losses=losses)


@register(EVENT, "add_external_contact")
@register(EVENT, "add_half_external_contact")
@register(EVENT, "edit_external_contact")
@register(EVENT, "del_external_contact")
@register(EVENT, "del_follow_user")
@batched(follow_events_apply)
def follow_event(event: CallbackEvent) -> None:
    follow_events_apply([event])


@register(EVENT, "transfer_fail")
def transfer_failed(event: CallbackEvent) -> None:
    """UserID is the takeover employee. The relation stays with the handover employee; the open transfer fails
    with the reason and raises an alert (a re-delivery finds it already failed and changes nothing)."""
    external_userid, userid, reason = event.get("ExternalUserID"), event.get("UserID"), event.get("FailReason")
    transfer = transfer_fail_record(
        takeover_userid=userid or "",
        external_userid=external_userid or "",
        fail_reason=reason or "",
        at=event_time(event),
    )
    if transfer is None:
        logger.info(
            "WeCom transfer of %s to %s failed (%s); no open transfer of ours matches",
            external_userid,
            userid,
            reason or "unknown reason",
        )


@register(EVENT, "msg_audit_approved")
def msg_audit_approved(event: CallbackEvent) -> None:
    logger.info("WeCom chat-archive consent given by %s to %s", event.get("ExternalUserID"), event.get("UserID"))
