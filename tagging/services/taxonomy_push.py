"""Sending corp-tag edits made here to WeCom: add_corp_tag, edit_corp_tag, del_corp_tag.

A corp tag or tag group edited here is ``pending``; ``taxonomy_push`` sends it (the task runs it after commit) and
``taxonomy_pushes_due`` finds the rows whose push was lost or whose retry is due. One push per row at a time: a
push claims its row with a conditional UPDATE (the row must be as the push read it), which counts the attempt in
``sync_attempts`` and stamps ``updated_at``; the row is not claimed again before ``retry_delay(attempts)`` has
passed, which is longer than one push can take (two WeCom calls, each at most three tries within its timeouts).

- Sent: ``synced``; an add stores WeCom's ids and ``created_here``.
- WeCom busy or limited, or unreachable: still ``pending`` with the error noted, tried again after the delay
  (doubling, at most an hour), ``failed`` after ``MAX_ATTEMPTS``.
- An add that may have reached WeCom (``WeComOutcomeUnknown``): every later attempt looks the name up with
  get_corp_tag_list before adding, so a tag is never created twice.
- Any other WeCom error: ``failed``, with WeCom's reason in plain words in ``sync_error``, until "push again".

An edit made while a push of the same row is in flight waits for it: that push sees the newer edit when it ends
and queues the next one. WeCom has no empty tag groups, so a new group goes out with its first tags in one
add_corp_tag, and the push of a tag in such a group is its group's push.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from scrm.core.services import audit_record
from scrm.core.upsert import update_changed
from scrm.wecom.client import get_client
from scrm.wecom.errors import RETRY_LATER, WeComConfigError, WeComError, WeComOutcomeUnknown, refusal_explained
from tagging.models import CustomerTag, SyncState, Tag, TagGroup, TagKind

logger = logging.getLogger(__name__)

TAG, GROUP = "tag", "group"
MODELS: dict[str, type[Tag] | type[TagGroup]] = {TAG: Tag, GROUP: TagGroup}

# What became of a push.
SYNCED, PENDING, FAILED, SKIPPED = "synced", "pending", "failed", "skipped"

LEASE = timedelta(minutes=3)
MAX_DELAY = timedelta(hours=1)
MAX_ATTEMPTS = 10  # about ten hours of WeCom being busy or unreachable
# A fresh edit is pushed right after commit; the sweep takes it only if that push was lost.
SWEEP_AFTER = timedelta(minutes=1)

INVALID_ID = 40068  # WeCom does not know the tag or group id: deleted there

# WeCom's errcodes for these calls, in plain words (the errcode and errmsg follow in the stored text).
_REASONS = {
    40058: gettext_noop(
        "WeCom found the request invalid: a name empty or longer than 30 characters, or an order out of range."
    ),
    INVALID_ID: gettext_noop(
        "WeCom no longer has this tag or tag group: it was deleted there. The next sync marks it deleted."
    ),
    40071: gettext_noop("WeCom already has a tag group, or a tag in this group, with this name: choose another name."),
    40126: gettext_noop("WeCom's limit of 3,000 corp tags is reached: delete tags that are no longer used first."),
    81011: gettext_noop(
        "This app may change only the corp tags it created: change this one in the WeCom admin console "
        "(客户联系 → 客户标签), or configure the 客户联系 secret (WECOM_CONTACT_SECRET)."
    ),
}


def may_edit_any_corp_tag() -> bool:
    """WeCom lets an app edit and delete only the corp tags it created; the 客户联系 secret manages them all. With
    that secret configured every corp tag is ours to edit, else (a self-built app allowed to call 客户联系 APIs)
    only those with ``created_here``."""
    return bool(str(settings.WECOM_CONTACT_SECRET or "").strip())


def tag_client_kind() -> str:
    """The secret that manages corp tags: the 客户联系 one when configured, else the self-built app's."""
    return "contact" if may_edit_any_corp_tag() else "agent"


def retry_delay(attempts: int) -> timedelta:
    """How long a row rests after its ``attempts``-th push began (the first rest is the lease)."""
    return min(LEASE * 2 ** max(attempts - 1, 0), MAX_DELAY)


def push_in_flight(node: Tag | TagGroup, *, now: datetime) -> bool:
    """A push of this row may be running (claimed, lease not over) or resting after a failed try."""
    return (
        node.sync_state == SyncState.PENDING
        and node.sync_attempts > 0
        and node.updated_at > now - retry_delay(node.sync_attempts)
    )


def kind_of(node: Tag | TagGroup) -> str:
    return GROUP if isinstance(node, TagGroup) else TAG


def push_after_commit(node: Tag | TagGroup) -> None:
    from tagging.tasks.taxonomy import taxonomy_push as task

    kind, pk = kind_of(node), node.pk
    transaction.on_commit(lambda: task.delay(kind, pk))


def taxonomy_push_again(*, nodes: list[Tag | TagGroup], actor) -> int:
    """Staff ask for failed (or stuck pending) corp rows to be sent again now; returns how many were queued. A tag
    that goes out with its group (``carrier``) takes the group along."""
    queued, now = 0, timezone.now()
    with transaction.atomic():
        rows = {(kind_of(node), node.pk): node for node in nodes}
        for node in nodes:
            if isinstance(node, Tag) and (group := carrier(node)):
                rows.setdefault((GROUP, group.pk), group)
        for node in sorted(rows.values(), key=lambda node: (kind_of(node), node.pk)):
            row = type(node).objects.select_for_update().get(pk=node.pk)
            if row.kind != TagKind.CORP or row.sync_state not in (SyncState.FAILED, SyncState.PENDING):
                continue
            if push_in_flight(row, now=now):  # its push (or its next try) is on the way
                continue
            before = row.sync_state
            update_changed(row, {"sync_state": SyncState.PENDING, "sync_attempts": 0, "sync_error": ""})
            audit_record(actor=actor, action="push_again", target=row, changes={"sync_state": [before, row.sync_state]})
            push_after_commit(row)
            queued += 1
    return queued


def taxonomy_pushes_due(*, now: datetime | None = None, limit: int = 500) -> list[tuple[str, int]]:
    """``(kind, pk)`` of the corp rows to push now: pending edits whose push after commit was lost, and rows whose
    retry is due. A new group waits for its tags (they carry it); a deleted group's tags go with the group."""
    now = now or timezone.now()
    rested = Q(kind=TagKind.CORP, sync_state=SyncState.PENDING, updated_at__lte=now - SWEEP_AFTER)
    groups = TagGroup.objects.filter(rested).exclude(group_id="", deleted=False)
    tags = Tag.objects.filter(rested)
    due = []
    for kind, rows in ((GROUP, groups), (TAG, tags)):
        due += [(kind, row.pk) for row in rows.order_by("updated_at")[:limit] if _due(row, now)]
    return due[:limit]


def taxonomy_push(*, kind: str, pk: int) -> str:
    """Send one corp tag's or tag group's pending change to WeCom. Returns ``"synced"``, ``"pending"`` (tried
    again later), ``"failed"``, or ``"skipped"`` (not due, claimed by another push, or nothing to send yet)."""
    node = MODELS[kind].objects.filter(pk=pk, kind=TagKind.CORP).first()
    if node is None:
        return SKIPPED
    if isinstance(node, Tag):
        if node.group is None or node.group.kind != TagKind.CORP:
            return SKIPPED  # a placeholder from a callback: nothing of ours to send
        if group := carrier(node):
            return taxonomy_push(kind=GROUP, pk=group.pk)
    elif not node.group_id and not node.deleted and not _new_tags(node):
        return SKIPPED  # WeCom has no empty tag groups: the group goes out with its first tag
    now = timezone.now()
    if not _due(node, now) or not _claim(node, now):
        return SKIPPED
    read = _Read.of(node)
    try:
        sent = _send(node, retry=node.sync_attempts > 0)
    except RETRY_LATER as exc:
        return _settle_later(node, exc)
    except WeComError as exc:
        return _settle_failed(node, read, exc)
    return _settle_sent(node, read, sent)


def carrier(tag: Tag) -> TagGroup | None:
    """The group whose push sends this tag: a group WeCom does not have yet (it comes with its first tags), or a
    deleted group not yet deleted in WeCom (its tags go with it)."""
    group = tag.group
    if group is None:
        return None
    if not group.group_id and not group.deleted:
        return group
    if tag.deleted and group.deleted and group.sync_state != SyncState.SYNCED:
        return group
    return None


# --- sending --------------------------------------------------------------------------------------------------


@dataclass
class _Sent:
    """What WeCom answered: the ids of what it created (or what a lookup found)."""

    group_id: str = ""
    tag_ids: dict[int, str] = field(default_factory=dict)  # tag pk → WeCom id


@dataclass(frozen=True)
class _Read:
    """The edit times a push saw: a row edited again since is not marked synced by it."""

    changed_at: datetime | None
    tags: dict[int, datetime | None]

    @classmethod
    def of(cls, node: Tag | TagGroup) -> _Read:
        tags = {tag.pk: tag.local_changed_at for tag in _new_tags(node)} if isinstance(node, TagGroup) else {}
        return cls(node.local_changed_at, tags)


def _new_tags(group: TagGroup) -> list[Tag]:
    return list(group.tags.filter(deleted=False, tag_id="").order_by("-order", "pk"))


def _due(node: Tag | TagGroup, now: datetime) -> bool:
    if node.sync_state != SyncState.PENDING:
        return False
    return node.sync_attempts == 0 or node.updated_at <= now - retry_delay(node.sync_attempts)


def _claim(node: Tag | TagGroup, now: datetime) -> bool:
    claimed = (
        type(node)
        .objects.filter(
            pk=node.pk,
            sync_state=SyncState.PENDING,
            sync_attempts=node.sync_attempts,
            updated_at=node.updated_at,
        )
        .update(sync_attempts=F("sync_attempts") + 1, updated_at=now)
    )
    return claimed == 1


def _send(node: Tag | TagGroup, *, retry: bool) -> _Sent:
    """The WeCom calls for this row's state. ``retry``: an earlier attempt may have added it already."""
    api = get_client(tag_client_kind()).external_contact
    if isinstance(node, TagGroup):
        return _send_group(api, node, retry=retry)
    return _send_tag(api, node, retry=retry)


def _send_group(api, group: TagGroup, *, retry: bool) -> _Sent:
    found = _lookup(api, group_name=group.name) if retry and not group.group_id else None
    group_id = group.group_id or (found or {}).get("group_id", "")
    if group.deleted:
        if group_id:
            _delete(api, group_id=group_id)
        return _Sent()
    if group.group_id:
        api.edit_corp_tag(group.group_id, group.name, group.order)
        return _Sent()
    new_tags = _new_tags(group)
    known = {tag["name"]: tag["id"] for tag in (found or {}).get("tag", [])}
    sent = _Sent(group_id=group_id, tag_ids={tag.pk: known[tag.name] for tag in new_tags if tag.name in known})
    missing = [tag for tag in new_tags if tag.pk not in sent.tag_ids]
    if missing:
        # With a group id WeCom ignores the name and order; without one it creates the group with these tags.
        answer = api.add_corp_tag(
            group_id or None,
            None if group_id else group.name,
            None if group_id else group.order,
            [{"name": tag.name, "order": tag.order} for tag in missing],
        )["tag_group"]
        created = {tag["name"]: tag["id"] for tag in answer.get("tag", [])}
        sent.group_id = answer["group_id"]
        sent.tag_ids.update({tag.pk: created[tag.name] for tag in missing if tag.name in created})
    return sent


def _send_tag(api, tag: Tag, *, retry: bool) -> _Sent:
    group_id = tag.group.group_id
    tag_id = tag.tag_id
    if not tag_id and retry:
        found = _lookup(api, group_id=group_id)
        tag_id = next((item["id"] for item in (found or {}).get("tag", []) if item["name"] == tag.name), "")
    if tag.deleted:
        if tag_id:
            _delete(api, tag_id=tag_id)
        return _Sent()
    if tag.tag_id:
        api.edit_corp_tag(tag.tag_id, tag.name, tag.order)
        return _Sent()
    if not tag_id:
        answer = api.add_corp_tag(group_id, None, None, [{"name": tag.name, "order": tag.order}])["tag_group"]
        tag_id = answer["tag"][0]["id"]  # the one tag it created
    return _Sent(group_id=group_id, tag_ids={tag.pk: tag_id})


def _lookup(api, *, group_id: str = "", group_name: str = "") -> dict | None:
    """The group as WeCom has it now, by id or else by name (a name is unique among corp tag groups)."""
    for item in api.get_corp_tag_list().get("tag_group", []):
        if (group_id and item.get("group_id") == group_id) or (not group_id and item.get("group_name") == group_name):
            return item
    return None


def _delete(api, *, tag_id: str = "", group_id: str = "") -> None:
    try:
        api.del_corp_tag(tag_id=[tag_id] if tag_id else None, group_id=[group_id] if group_id else None)
    except WeComError as exc:
        if exc.errcode != INVALID_ID:  # already gone is what we wanted
            raise


# --- settling ---------------------------------------------------------------------------------------------------


def _locked(node: Tag | TagGroup) -> Tag | TagGroup:
    """The row, locked; a tag's group first, in the order the edit services lock them (no deadlock)."""
    if isinstance(node, Tag) and node.group_id:
        TagGroup.objects.select_for_update().get(pk=node.group_id)
    return type(node).objects.select_for_update().get(pk=node.pk)


def _settle_sent(node: Tag | TagGroup, read: _Read, sent: _Sent) -> str:
    with transaction.atomic():
        row = _locked(node)
        if isinstance(row, TagGroup):
            if sent.group_id and row.group_id != sent.group_id:
                _adopt_group_id(row, sent.group_id)
            for tag in Tag.objects.select_for_update().filter(pk__in=sent.tag_ids).order_by("pk"):
                _adopt_tag_id(tag, sent.tag_ids[tag.pk])
                _done(tag, read.tags.get(tag.pk))
            if row.deleted:  # its tags went with it
                Tag.objects.filter(group=row, deleted=True, sync_state=SyncState.PENDING).update(
                    sync_state=SyncState.SYNCED, sync_attempts=0, sync_error="", updated_at=timezone.now()
                )
            for tag in row.tags.filter(deleted=False, tag_id="", sync_state=SyncState.PENDING).exclude(
                pk__in=sent.tag_ids
            ):
                push_after_commit(tag)  # added while this push was in flight
        else:
            if sent.tag_ids.get(row.pk) and row.tag_id != sent.tag_ids[row.pk]:
                _adopt_tag_id(row, sent.tag_ids[row.pk])
            if row.deleted and row.tag_id:
                _after_tag_deleted(row)
        return _done(row, read.changed_at)


def _done(row: Tag | TagGroup, read_changed_at: datetime | None) -> str:
    """The push of ``row`` went through: synced, unless it was edited again meanwhile (then push that edit), or
    WeCom's later change won meanwhile (then it is settled already)."""
    if row.sync_state != SyncState.PENDING:
        row.save()
        return SYNCED
    if row.local_changed_at != read_changed_at:
        row.sync_attempts = 0
        row.save()
        push_after_commit(row)
        return PENDING
    row.sync_state, row.sync_attempts, row.sync_error = SyncState.SYNCED, 0, ""
    row.save()
    return SYNCED


def _adopt_group_id(group: TagGroup, group_id: str) -> None:
    """Record WeCom's id for a group we created. A row that holds it already was made from WeCom's news of our
    own add before we could record it (a callback placeholder, or a refresh): it is this group, retired."""
    for holder in TagGroup.objects.select_for_update().filter(group_id=group_id).exclude(pk=group.pk):
        Tag.objects.filter(group=holder).update(group=group)
        update_changed(holder, {"group_id": "", "deleted": True, "sync_state": SyncState.SYNCED})
    group.group_id, group.created_here = group_id, True


def _adopt_tag_id(tag: Tag, tag_id: str) -> None:
    had_id = bool(tag.tag_id)
    for holder in Tag.objects.select_for_update().filter(tag_id=tag_id).exclude(pk=tag.pk):
        update_changed(holder, {"tag_id": "", "deleted": True, "sync_state": SyncState.SYNCED})
    tag.tag_id, tag.created_here = tag_id, True
    if not had_id:
        _show_on_holders(tag)


def _show_on_holders(tag: Tag) -> None:
    """Customers tagged while the tag had no WeCom id yet could not be marked in WeCom: queue that now, in chunks
    (a segment may have been tagged before the tag reached WeCom)."""
    from tagging.services.assignments import CHUNK, TagChanges
    from tagging.services.wecom_push import wecom_tag_push_enqueue

    holders = list(CustomerTag.objects.filter(tag=tag).order_by("customer_id").values_list("customer_id", flat=True))
    for start in range(0, len(holders), CHUNK):
        changes = TagChanges()
        for customer_id in holders[start : start + CHUNK]:
            changes.added[customer_id].append(tag.pk)
        wecom_tag_push_enqueue(changes=changes, tags={tag.pk: tag})


def _after_tag_deleted(tag: Tag) -> None:
    """WeCom deletes a tag group with its last tag. If tags of it wait to be added, the group is made again around
    them (by name); else it is deleted here too."""
    group = TagGroup.objects.select_for_update().get(pk=tag.group_id)
    if group.deleted or not group.group_id:
        return
    live = group.tags.filter(deleted=False).exclude(pk=tag.pk)
    if live.exclude(tag_id="").exists():
        return
    if live.exists():
        values = {"group_id": "", "created_here": False, "sync_state": SyncState.PENDING, "sync_attempts": 0}
        update_changed(group, values)
        push_after_commit(group)
    else:
        update_changed(group, {"deleted": True, "sync_state": SyncState.SYNCED, "sync_attempts": 0, "sync_error": ""})


def _settle_later(node: Tag | TagGroup, exc: WeComError) -> str:
    if isinstance(exc, WeComOutcomeUnknown):
        note = _("WeCom may or may not have applied the change; the next attempt checks before sending again.")
    else:
        note = _("WeCom was busy or could not be reached; trying again later.")
    logger.warning("Corp tag push of %s #%s postponed: %s", kind_of(node), node.pk, exc)
    with transaction.atomic():
        row = _locked(node)
        if row.sync_state != SyncState.PENDING:
            return SKIPPED
        row.sync_error = f"{note} ({exc})"
        if row.sync_attempts >= MAX_ATTEMPTS:
            row.sync_state = SyncState.FAILED
            row.sync_error = _("Gave up after %(attempts)d attempts: %(error)s") % {
                "attempts": row.sync_attempts,
                "error": row.sync_error,
            }
        row.save(update_fields=["sync_state", "sync_error", "updated_at"])  # updated_at: the rest starts now
        return FAILED if row.sync_state == SyncState.FAILED else PENDING


def _settle_failed(node: Tag | TagGroup, read: _Read, exc: WeComError) -> str:
    error = refusal_explained(exc, _REASONS)
    level = logging.ERROR if isinstance(exc, WeComConfigError) else logging.WARNING
    logger.log(level, "Corp tag push of %s #%s refused: %s", kind_of(node), node.pk, exc)
    with transaction.atomic():
        row = _locked(node)
        if isinstance(row, TagGroup):  # the tags that went with the group were refused with it
            for tag in Tag.objects.select_for_update().filter(pk__in=read.tags).order_by("pk"):
                _refused(tag, read.tags[tag.pk], error)
        return _refused(row, read.changed_at, error)


def _refused(row: Tag | TagGroup, read_changed_at: datetime | None, error: str) -> str:
    if row.sync_state != SyncState.PENDING:
        return SKIPPED
    if row.local_changed_at != read_changed_at:  # the refusal was of older values: send the newer ones
        update_changed(row, {"sync_attempts": 0})
        push_after_commit(row)
        return PENDING
    update_changed(row, {"sync_state": SyncState.FAILED, "sync_error": error})
    return FAILED
