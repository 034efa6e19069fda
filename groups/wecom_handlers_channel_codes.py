"""add_external_contact (and add_half_external_contact) through a channel live code → groups services.
Registered from ``GroupsConfig.ready``, after customers' handler for the same events, which stores the contact
and its follow relation first.

The handler has a batch form, as customers' has: the inbox applies a run of these events in one transaction only
when every handler of the event has one, so a handler without it would switch batching off for every add.
"""

from datetime import datetime

from django.utils import timezone

from groups.services.channel_codes_adds import AddEvent, channel_code_adds_record
from groups.services.members import wecom_time
from scrm.wecom.dispatch import batched, register
from scrm.wecom.events import CallbackEvent

EVENT = "change_external_contact"


def event_time(event: CallbackEvent) -> datetime:
    return wecom_time(event.create_time, field="CreateTime") or timezone.now()


def add_event(event: CallbackEvent) -> AddEvent:
    return AddEvent(
        state=event.get("State"),
        userid=event.get("UserID"),
        external_userid=event.get("ExternalUserID"),
        at=event_time(event),
        welcome_code=event.get("WelcomeCode"),
    )


def channel_code_adds_apply(events: list[CallbackEvent]) -> None:
    channel_code_adds_record(events=[add_event(event) for event in events])


@register(EVENT, "add_external_contact")
@register(EVENT, "add_half_external_contact")
@batched(channel_code_adds_apply)
def channel_code_added(event: CallbackEvent) -> None:
    channel_code_adds_apply([event])
