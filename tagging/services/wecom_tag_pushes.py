"""Here → WeCom: the drain of the ``WeComTagPush`` outbox, one ``mark_tag`` per follow relation.

A run claims due pending rows a batch at a time (a conditional update moves their ``due_at`` a lease ahead, so
no other run takes them while they are being sent; a run lost with its worker frees them when the lease ends),
sends each, and records the batch's outcomes in one transaction:

- **sent**: the row is marked sent and the relation's ``wecom_tag_ids`` become what WeCom now shows, so the
  WeCom → here reconcile does not take the tags off before WeCom's own callback arrives. If the row was changed
  while its call was in flight (new edits merge into the pending row), what is still missing is queued again.
- **WeCom busy, limited, or the outcome unknown**: the row is retried with backoff; after ``MAX_ATTEMPTS`` it
  fails. The rest of the batch is released untouched: the next run sends it.
- **refused** (the customer no longer follows the employee, a tag deleted in WeCom …): the row fails at once
  with the reason in plain words; staff can send it again from the admin.
- **configuration** (a secret, an IP not trusted): nothing can be sent until someone fixes it, so the batch is
  released for later without counting attempts; nothing fails because of it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, ExternalContact, FollowRelation
from customers.services.wecom import follow_relations_tags_set
from scrm.wecom.client import get_client
from scrm.wecom.client.policy import backoff_delay
from scrm.wecom.errors import (
    WeComConfigError,
    WeComError,
    WeComOutcomeUnknown,
    WeComRateLimited,
    WeComTokenError,
    WeComTransientError,
)
from tagging.models import CustomerTag, TagKind, WeComTagPush

logger = logging.getLogger(__name__)

Status = WeComTagPush.Status
BATCH = 100
MAX_PER_RUN = 5000  # ~ half a minute of WeCom's 10,000 calls a minute; the next tick takes the rest
LEASE = timedelta(minutes=5)  # far longer than a batch takes (100 calls under the client's timeouts and retries)
MAX_ATTEMPTS = 8  # backoff 30 s, 1, 2, 4, 8, 16, 32 min, 1 h: WeCom stayed busy for about two hours
RETRY_BASE, RETRY_CAP = 30.0, 3600.0
CONFIG_RETRY = timedelta(minutes=15)

# mark_tag's errcodes that sending again cannot fix, in plain words.
ERRCODE_REASONS = {
    84061: _("the customer is no longer this employee's WeCom contact"),
    40096: _("WeCom does not know this customer"),
    60111: _("WeCom does not know this employee"),
    40068: _("WeCom does not know one of these tags (deleted in WeCom?)"),
    81011: _("this app may not use one of these tags (it was created by another app)"),
}
RELATION_ENDED = _("the follow relation has ended, so WeCom shows no tags on it")


def wecom_tag_pushes_send(*, client=None, limit: int = MAX_PER_RUN) -> Counter:
    """Send due pending pushes, a batch at a time, until none is due, WeCom is busy, or ``limit`` rows were
    taken. Returns how many rows were sent, retried, failed or released (not sent this time)."""
    counts: Counter = Counter()
    while counts.total() < limit and (batch := _claim(size=min(BATCH, limit - counts.total()))):
        try:
            client = client or get_client("contact")
        except WeComConfigError as exc:
            _record([], [], released=batch, error=exc)
            counts["released"] += len(batch)
            break
        sent, outcomes, released, error = _send(client, batch)
        _record(sent, outcomes, released=released, error=error)
        counts.update(sent=len(sent), released=len(released))
        counts.update(status for _push, status, _reason in outcomes)
        if released:
            break
    return counts


def wecom_tag_pushes_retry(*, push_ids: Iterable[int]) -> int:
    """Send failed pushes again (staff, from the admin), as of today: each relation is queued for the corp tags
    its failed pushes would add that the customer still carries, and remove that it still lacks (an edit made
    since then wins), merged into the relation's pending push. Returns how many relations were queued."""
    with transaction.atomic():
        failed = list(
            WeComTagPush.objects.select_for_update()
            .filter(pk__in=list(push_ids), status=Status.FAILED)
            .select_related("relation__contact")
            .order_by("pk")
        )
        if not failed:
            return 0
        customers = {push.relation.contact.customer_id for push in failed}
        carried: dict[int, set[str]] = {}
        for customer_id, tag_id in CustomerTag.objects.filter(
            customer_id__in=customers, tag__kind=TagKind.CORP
        ).values_list("customer_id", "tag__tag_id"):
            carried.setdefault(customer_id, set()).add(tag_id)
        wanted: dict[int, tuple[set[str], set[str]]] = {}
        for push in failed:  # later pushes win
            has = carried.get(push.relation.contact.customer_id, set())
            add, remove = wanted.setdefault(push.relation_id, (set(), set()))
            add.difference_update(push.remove_tag_ids)
            remove.difference_update(push.add_tag_ids)
            add.update(tag for tag in push.add_tag_ids if tag in has)
            remove.update(tag for tag in push.remove_tag_ids if tag not in has)
        pending = {
            push.relation_id: push
            for push in WeComTagPush.objects.select_for_update().filter(relation_id__in=wanted, status=Status.PENDING)
        }
        now = timezone.now()
        queued = 0
        for relation_id, (add, remove) in wanted.items():
            push = pending.get(relation_id)
            if push is not None:  # the pending edit is newer than the failed one
                add = (add - set(push.remove_tag_ids)) | set(push.add_tag_ids)
                remove = (remove - set(push.add_tag_ids)) | set(push.remove_tag_ids)
            elif add or remove:
                push = WeComTagPush(relation_id=relation_id)
            else:
                continue
            push.add_tag_ids, push.remove_tag_ids = sorted(add), sorted(remove - add)
            push.due_at, push.attempts, push.last_error = now, 0, ""
            push.full_clean(validate_constraints=False)
            push.save()
            queued += 1
        # The failed rows stay as the record of what WeCom refused; their edits now live in the pending rows.
        wecom_tag_pushes_kick()
    return queued


def wecom_tag_pushes_kick() -> None:
    """After commit: start a drain now rather than at the next beat tick (which also sends what a lost kick
    leaves). Robust: the rows are committed whatever the broker says."""
    transaction.on_commit(_enqueue_drain, robust=True)


def _enqueue_drain() -> None:
    from tagging.tasks.pushes import wecom_pushes_send

    wecom_pushes_send.delay()


def _claim(*, size: int) -> list[WeComTagPush]:
    """Up to ``size`` due pending rows, taken by moving their ``due_at`` one lease ahead (only rows still due
    move, so two runs never take the same row; ``skip_locked`` just keeps them from waiting on each other)."""
    now = timezone.now()
    lease = now + LEASE
    with transaction.atomic():
        ids = list(
            WeComTagPush.objects.select_for_update(skip_locked=True)
            .filter(status=Status.PENDING, due_at__lte=now)
            .order_by("due_at", "pk")
            .values_list("pk", flat=True)[:size]
        )
        WeComTagPush.objects.filter(pk__in=ids, status=Status.PENDING, due_at__lte=now).update(due_at=lease)
    return list(
        WeComTagPush.objects.filter(pk__in=ids, status=Status.PENDING, due_at=lease)
        .select_related("relation__employee", "relation__contact")
        .order_by("pk")
    )


def _send(client, batch: list[WeComTagPush]):
    """Call WeCom for each row. Returns (rows sent, [(row, "retried"/"failed", reason)], rows released, the
    error that stopped the batch)."""
    sent: list[WeComTagPush] = []
    outcomes: list[tuple[WeComTagPush, str, str]] = []
    for n, push in enumerate(batch):
        relation = push.relation
        if relation.status != FollowRelation.Status.ACTIVE:
            outcomes.append((push, "failed", gettext(RELATION_ENDED)))
            continue
        try:
            client.external_contact.mark_tag(
                relation.employee.userid,
                relation.contact.external_userid,
                add_tag=push.add_tag_ids,
                remove_tag=push.remove_tag_ids,
            )
        except (WeComRateLimited, WeComConfigError) as exc:
            return sent, outcomes, batch[n:], exc
        except (WeComTransientError, WeComTokenError, WeComOutcomeUnknown) as exc:
            # WeComOutcomeUnknown: the call may have been applied. mark_tag's effect is idempotent — adding a tag
            # the relation shows, or removing one it lacks, changes nothing — so sending the same add/remove
            # again can only land the same end state (at the cost of one more change event), while not sending
            # it could leave WeCom without the tag for good. So it is retried like "busy".
            logger.warning("mark_tag for relation %s not applied (yet): %s", relation.pk, exc)
            outcomes.append((push, "retried", str(exc)))
            return sent, outcomes, batch[n + 1 :], None
        except WeComError as exc:
            outcomes.append((push, "failed", _reason(exc)))
        else:
            sent.append(push)
    return sent, outcomes, [], None


def _reason(exc: WeComError) -> str:
    if exc.errcode in ERRCODE_REASONS:
        return f"{gettext(ERRCODE_REASONS[exc.errcode])} (errcode {exc.errcode})"
    return gettext("WeCom refused the change: %(error)s") % {"error": exc}


def _record(
    sent: list[WeComTagPush],
    outcomes: list[tuple[WeComTagPush, str, str]],
    *,
    released: list[WeComTagPush],
    error: WeComError | None,
) -> None:
    now = timezone.now()
    with transaction.atomic():
        _record_sent(sent, now)
        for push, status, reason in outcomes:
            attempts = push.attempts + 1
            if status == "retried" and attempts < MAX_ATTEMPTS:
                delay = backoff_delay(attempt=attempts, base=RETRY_BASE, cap=RETRY_CAP)
                _update(push, attempts=attempts, last_error=reason, due_at=now + timedelta(seconds=delay))
            else:
                if status == "retried":
                    reason = gettext("WeCom did not take the change after %(n)s attempts: %(error)s") % {
                        "n": attempts,
                        "error": reason,
                    }
                # due_at = when it failed: the WeCom → here reconcile honours a failed edit until WeCom reports
                # the relation again (``tagging.services.wecom_tags``).
                _update(push, status=Status.FAILED, attempts=attempts, last_error=reason, due_at=now)
        for push in released:
            if isinstance(error, WeComRateLimited):
                _update(push, due_at=now + timedelta(seconds=error.retry_after))
            elif error is not None:  # configuration: keep the rows, say why they wait
                _update(push, due_at=now + CONFIG_RETRY, last_error=str(error))
            else:
                _update(push, due_at=now)


def _update(push: WeComTagPush, **values) -> None:
    """Write a claimed row's outcome, unless it stopped being pending meanwhile (sent again from the admin)."""
    WeComTagPush.objects.filter(pk=push.pk, status=Status.PENDING).update(**values)


def _record_sent(sent: list[WeComTagPush], now: datetime) -> None:
    """Mark rows sent and set their relations' tags to what WeCom now shows. A row merged with a newer edit
    while its call was in flight (or emptied, or replaced) keeps what is still missing pending: that edit was
    made against the relation's tags before this call landed, so it is applied to them, then compared with now."""
    if not sent:
        return
    relation_ids = sorted({push.relation_id for push in sent})
    # Locks in the order the other writers take them — relations (WeCom's callbacks and sync), then their
    # customers (every tag write, and the reconcile the relations' new tags trigger), then pushes (the outbox
    # enqueue) — so no two of them can deadlock.
    shown = dict(
        FollowRelation.objects.select_for_update()
        .filter(pk__in=relation_ids)
        .order_by("pk")
        .values_list("pk", "wecom_tag_ids")
    )
    contacts = ExternalContact.objects.filter(follow_relations__in=relation_ids).values("customer_id")
    list(Customer.objects.select_for_update().filter(pk__in=contacts).order_by("pk").values_list("pk", flat=True))
    pending = {
        push.relation_id: push
        for push in WeComTagPush.objects.select_for_update()
        .filter(relation_id__in=relation_ids, status=Status.PENDING)
        .order_by("pk")
    }
    tag_ids: dict[int, list[str]] = {}
    done, again, gone = [], [], []
    for push in sent:
        before = shown[push.relation_id]
        after = [tag for tag in before if tag not in push.remove_tag_ids]
        after += [tag for tag in push.add_tag_ids if tag not in after]
        tag_ids[push.relation_id] = after
        current = pending.pop(push.relation_id, None)
        want = set(before)
        if current is not None:
            want = (want - set(current.remove_tag_ids)) | set(current.add_tag_ids)
        missing, extra = sorted(want - set(after)), sorted(set(after) - want)
        if current is not None and current.pk == push.pk:
            current.status, current.sent_at, current.last_error = Status.SENT, now, ""
            current.add_tag_ids, current.remove_tag_ids = push.add_tag_ids, push.remove_tag_ids
            current.attempts += 1
            done.append(current)
            current = None
        if current is not None and (missing or extra):
            current.add_tag_ids, current.remove_tag_ids, current.due_at = missing, extra, now
            again.append(current)
        elif current is not None:
            gone.append(current.pk)
        elif missing or extra:
            again.append(
                WeComTagPush(relation_id=push.relation_id, add_tag_ids=missing, remove_tag_ids=extra, due_at=now)
            )
    fields = ["status", "sent_at", "last_error", "add_tag_ids", "remove_tag_ids", "attempts"]
    WeComTagPush.objects.bulk_update(done, fields)  # first: a relation's sent row leaves "pending" before its next
    WeComTagPush.objects.filter(pk__in=gone).delete()
    WeComTagPush.objects.bulk_update([p for p in again if p.pk], ["add_tag_ids", "remove_tag_ids", "due_at"])
    WeComTagPush.objects.bulk_create([p for p in again if not p.pk])
    if again:
        wecom_tag_pushes_kick()
    # Last: the reconcile this triggers must already see the pending rows just written.
    follow_relations_tags_set(tag_ids=tag_ids)
