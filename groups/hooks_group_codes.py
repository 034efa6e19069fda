"""Group live codes listening to their groups: the threshold check and the joiners' tags after members change
(``groups.members_changed``, inside the transaction that changed them), a dismissed group counted as full, and a
new group looked for in the join_ways of codes waiting for WeCom to create one. Registered from
``GroupsConfig.ready``."""

from groups.models import GroupCodeGroup
from groups.selectors.group_codes import group_codes_awaiting_new_group
from groups.services.group_codes_rotation import (
    group_code_adopt_after_commit,
    group_code_joiners_tag,
    group_codes_check_groups,
    group_codes_group_dismissed,
)
from scrm.core.hooks import subscribe
from scrm.wecom.dispatch import register
from scrm.wecom.events import CallbackEvent

EVENT = "change_external_chat"


@subscribe("groups.members_changed")
def members_changed(*, group_ids: list[int]) -> None:
    group_codes_check_groups(group_ids=group_ids)
    group_code_joiners_tag(group_ids=group_ids)


@register(EVENT, "create")
def group_created(event: CallbackEvent) -> None:
    """A group nobody put in a code appeared: perhaps WeCom made it for a code whose groups are all full. Those
    codes' join_ways are read after commit (a few codes at most: only those waiting for a new group)."""
    chat_id = event.get("ChatId")
    if not chat_id or GroupCodeGroup.objects.filter(group__chat_id=chat_id).exists():
        return
    group_code_adopt_after_commit(code_ids=group_codes_awaiting_new_group())


@register(EVENT, "dismiss")
def group_dismissed(event: CallbackEvent) -> None:
    # Handlers run in registration order; this one does not need the group marked dismissed first.
    if chat_id := event.get("ChatId"):
        group_codes_group_dismissed(chat_id=chat_id)
