"""Named hooks by which a lower app tells the apps that read it that something happened, without importing them.

``customers`` and ``groups`` know nothing of ``tagging`` (dependencies point one way), yet tagging must move a
merged customer's tags and re-evaluate its rules when spend, stage, relations or group membership change. The
writing service calls ``publish`` inside its transaction; subscribers run right there, synchronously, and so
either do their part in the same transaction (a merge) or schedule it with ``transaction.on_commit`` (a rule
re-evaluation task). Every hook is listed in ``HOOKS`` with its arguments, so the contract stays visible.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

HOOKS: dict[str, str] = {
    "customers.merging": "into_id, other_id: other's rows move to into before other is deleted",
    "customers.contacts_changed": "contact_ids: WeCom contacts whose follow relations were written",
    "customers.spend_changed": "customer_ids: total spend or order count changed",
    "customers.stage_changed": "customer_ids: lifecycle or opportunity stage changed",
    "customers.chat_recorded": "customer_id, text: a WeCom chat message was added to the timeline",
    "groups.members_changed": "group_ids: members joined or left these customer groups",
    "groups.code_tags_checking": "tag_ids: a live code is being saved with these tags (tagging.Tag pks) to put on "
    "customers; a subscriber raises ValidationError({'tag_ids': …}) for one that cannot be used",
    "groups.code_customers_tagging": "customer_ids, tag_ids: these customers came through a live code; its tags go "
    "on them (in the caller's transaction)",
}

_subscribers: defaultdict[str, list[Callable[..., None]]] = defaultdict(list)


def subscribe(hook: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    if hook not in HOOKS:
        raise ValueError(f"unknown hook {hook!r}")

    def register(handler: Callable[..., None]) -> Callable[..., None]:
        if handler not in _subscribers[hook]:
            _subscribers[hook].append(handler)
        return handler

    return register


def publish(hook: str, **payload) -> None:
    if hook not in HOOKS:
        raise ValueError(f"unknown hook {hook!r}")
    for handler in _subscribers[hook]:
        handler(**payload)
