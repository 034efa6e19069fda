"""Hook subscribers that keep auto-tagging rules current as customers change.

Each hook names what changed (customers, WeCom contacts or customer groups) and so the rule kinds that may now
hold, or stop holding, for those customers. After commit, one task per thousand customers re-evaluates the enabled
rules of just those kinds for just those customers (``tagging.rules_evaluate_customers``). When no enabled rule of
those kinds exists nothing is scheduled at all — the enabled rules are cached — so callbacks and the full sync pay
nothing for rules nobody uses. A chat message is checked against the enabled keywords first: only a message that
says one of them costs a task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.db import transaction

from customers.models import ExternalContact
from groups.models import GroupMember
from scrm.core.hooks import subscribe
from tagging.models import RuleKind
from tagging.services.rules import keyword_said, rules_enabled
from tagging.tasks.rules import rules_evaluate_customers

# customers per task: a group of 500 or a sync page of contacts in one or two tasks
BATCH = 1000


@subscribe("customers.contacts_changed")
def contacts_changed(*, contact_ids: list[int]) -> None:
    # A relation added through a channel code; a contact just stored who is already in a group (the group sync
    # may have come first) is now a member whose customer we know.
    _schedule(
        (RuleKind.CHANNEL_CODE, RuleKind.GROUP_MEMBER),
        lambda: ExternalContact.objects.filter(pk__in=contact_ids).values_list("customer_id", flat=True),
    )


@subscribe("customers.spend_changed")
def spend_changed(*, customer_ids: list[int]) -> None:
    _schedule((RuleKind.SPEND_AT_LEAST,), lambda: customer_ids)


@subscribe("customers.stage_changed")
def stage_changed(*, customer_ids: list[int]) -> None:
    _schedule((RuleKind.LIFECYCLE_STAGE, RuleKind.OPPORTUNITY_STAGE), lambda: customer_ids)


@subscribe("customers.chat_recorded")
def chat_recorded(*, customer_id: int, text: str) -> None:
    keywords = rules_enabled().get(RuleKind.CHAT_KEYWORD, [])
    if any(keyword_said(keyword=keyword, text=text) for keyword in keywords):
        _schedule((RuleKind.CHAT_KEYWORD,), lambda: [customer_id], text=text)


@subscribe("groups.members_changed")
def members_changed(*, group_ids: list[int]) -> None:
    # The hook does not say who joined or left: every customer who is or was in these groups is looked at.
    _schedule(
        (RuleKind.GROUP_MEMBER,),
        lambda: ExternalContact.objects.filter(
            external_userid__in=GroupMember.objects.filter(group_id__in=group_ids).values("member_id")
        ).values_list("customer_id", flat=True),
    )


def _schedule(
    kinds: tuple[str, ...], customer_ids: Callable[[], Iterable[int | None]], *, text: str | None = None
) -> None:
    """After commit, resolve the customers (a query, when it needs one, runs only then) and enqueue their
    evaluation; nothing at all when no enabled rule has one of ``kinds``."""
    enabled = rules_enabled()
    wanted = [kind for kind in kinds if kind in enabled]
    if not wanted:
        return

    def enqueue() -> None:
        ids = sorted({pk for pk in customer_ids() if pk is not None})
        for start in range(0, len(ids), BATCH):
            rules_evaluate_customers.delay(customer_ids=ids[start : start + BATCH], kinds=wanted, text=text)

    transaction.on_commit(enqueue)
