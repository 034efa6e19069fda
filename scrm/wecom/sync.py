"""Full sync from WeCom: employees, corp tags, customers (batch/get_by_user) and groups, upserted through the
apps' services. Idempotent (every write is an upsert), resumable (the position is saved after every page), one
run per resource at a time, with progress reported to the caller. Run nightly to heal missed callbacks."""

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import TypeVar

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scrm.core.db import analyze_grown_tables, commit_without_waiting_for_disk
from scrm.core.errors import Conflict
from scrm.core.memory import collecting_less
from scrm.wecom.client import WeComClient, get_client
from scrm.wecom.errors import WeComConfigError, WeComError
from scrm.wecom.models import SyncState

logger = logging.getLogger(__name__)

RESOURCES = ("employees", "tags", "contacts", "groups")  # employees first: the customer pages need their ids
USERIDS_PER_CALL = 100  # batch/get_by_user takes at most 100 employees
CONTACTS_PER_PAGE = 100  # and returns at most 100 customers a page
# Contact pages written per transaction: a page's dozen statements cost little more for 400 contacts than for 100.
PAGES_PER_WRITE = 20
# Writes between checks for tables the sync has grown past their statistics (see analyze_grown_tables).
ANALYZE_EVERY_WRITES = 1
GROUPS_PER_PAGE = 1000  # groupchat/list returns at most 1000 a page
# A "running" sync with no progress for this long belongs to a process that died; another run may take over.
STALE_RUN = timedelta(minutes=15)

Progress = Callable[[str, int], None]  # (resource, items done so far)
T = TypeVar("T")
Status = SyncState.Status


class SyncAlreadyRunning(Conflict):
    code = "sync_running"


def wecom_sync(*, resources: tuple[str, ...] = RESOURCES, restart: bool = False, progress: Progress | None = None):
    """Sync each resource in order; returns {resource: counts}. A resource that fails keeps its position (the
    next run resumes) and does not stop the others; its error is in the result as ``{"error": ...}``."""
    client = get_client("contact")
    unknown = set(resources) - set(RESOURCES)
    if unknown:
        raise ValueError(f"unknown resources: {', '.join(sorted(unknown))}; choose from {', '.join(RESOURCES)}")
    results = {}
    for resource in (r for r in RESOURCES if r in resources):
        state = sync_claim(resource=resource, restart=restart)
        try:
            with collecting_less():
                counts = SYNCERS[resource](client, state, progress or (lambda resource, done: None))
        except WeComError as exc:
            sync_fail(state=state, error=str(exc))
            logger.warning("WeCom sync of %s failed; it resumes from its last page next time: %s", resource, exc)
            results[resource] = {**state.counts, "error": str(exc)}
            continue
        sync_finish(state=state, counts=counts)
        results[resource] = counts
    return results


# --- state ----------------------------------------------------------------------------------------------------


def sync_claim(*, resource: str, restart: bool = False) -> SyncState:
    """Mark the resource running (compare-and-set, so two runs cannot both claim it). A failed or abandoned run
    is resumed from its saved position unless ``restart``; a finished one starts over."""
    now = timezone.now()
    with transaction.atomic():
        state, _created = SyncState.objects.get_or_create(resource=resource)
        resume = not restart and state.status in (Status.FAILED, Status.RUNNING)
        claimable = Q(status__in=[Status.IDLE, Status.DONE, Status.FAILED]) | Q(heartbeat_at__lt=now - STALE_RUN)
        updates = {"status": Status.RUNNING, "started_at": now, "heartbeat_at": now, "finished_at": None}
        if not resume:
            updates.update(position={}, counts={})
        if not SyncState.objects.filter(claimable, pk=state.pk, status=state.status).update(last_error="", **updates):
            raise SyncAlreadyRunning(
                _("A sync of %(resource)s is already running (since %(since)s).")
                % {"resource": resource, "since": state.started_at}
            )
    state.refresh_from_db()
    return state


def sync_save(*, state: SyncState, position: dict, counts: dict) -> None:
    state.position, state.counts = position, counts
    SyncState.objects.filter(pk=state.pk).update(position=position, counts=counts, heartbeat_at=timezone.now())


def sync_finish(*, state: SyncState, counts: dict) -> None:
    SyncState.objects.filter(pk=state.pk).update(
        status=Status.DONE, position={}, counts=counts, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )


def sync_fail(*, state: SyncState, error: str) -> None:
    SyncState.objects.filter(pk=state.pk).update(status=Status.FAILED, last_error=error[:2000])


# --- resources ------------------------------------------------------------------------------------------------


def _follow_userids(client: WeComClient) -> list[str]:
    return sorted(client.external_contact.get_follow_user_list().get("follow_user", []))


def sync_employees(client: WeComClient, state: SyncState, progress: Progress) -> dict:
    """Employees with 客户联系; names and departments from the directory when the self-built app may read it
    (the 客户联系 secret cannot: without the app, employees stay userid-only until it is configured)."""
    from customers.services import employee_upsert

    directory = _directory_client()
    userids = _follow_userids(client)
    named = 0
    for done, userid in enumerate(userids, start=1):
        profile = _directory_profile(directory, userid) if directory else {}
        employee_upsert(userid=userid, **profile)
        named += bool(profile)
        progress("employees", done)
    return {"fetched": len(userids), "named": named}


def _directory_client() -> WeComClient | None:
    try:
        return get_client("agent")
    except WeComConfigError:
        return None


def _directory_profile(directory: WeComClient, userid: str) -> dict:
    try:
        user = directory.user.get(userid)
    except WeComError as exc:  # outside the app's visible range (60011), or gone: keep the placeholder
        logger.info("No directory entry for %s: %s", userid, exc)
        return {}
    return {"name": user.get("name") or None, "department_ids": user.get("department") or None}


def sync_tags(client: WeComClient, state: SyncState, progress: Progress) -> dict:
    from tagging.services import corp_tags_upsert_from_wecom

    fetched_at = timezone.now()  # a tag added here after this moment is not "missing from WeCom's list"
    tag_groups = client.external_contact.get_corp_tag_list().get("tag_group", [])
    # complete: this is the unfiltered list, so a tag it no longer has was deleted in WeCom.
    groups, tags = corp_tags_upsert_from_wecom(tag_groups=tag_groups, complete=True, fetched_at=fetched_at)
    progress("tags", groups + tags)
    return {"groups": groups, "tags": tags}


def sync_contacts(client: WeComClient, state: SyncState, progress: Progress) -> dict:
    from customers.services import contact_page_parse, contact_pages_merge, external_contacts_upsert_from_wecom

    userids = _follow_userids(client)
    batches = [userids[i : i + USERIDS_PER_CALL] for i in range(0, len(userids), USERIDS_PER_CALL)]
    counts = {"fetched": state.counts.get("fetched", 0)}
    start = state.position.get("batch", 0)
    writes = 0
    for index in range(start, len(batches)):
        cursor = state.position.get("cursor", "") if index == start else ""
        for pages, next_cursor in _prefetched_pages(
            lambda cursor, batch=batches[index]: client.external_contact.batch_get_by_user(
                batch, cursor=cursor, limit=CONTACTS_PER_PAGE
            ),
            cursor,
            prepare=lambda page: contact_page_parse(details=page.get("external_contact_list", [])),
            per_item=PAGES_PER_WRITE,
        ):
            contact_page = contact_pages_merge(pages)
            position = {"batch": index, "cursor": next_cursor} if next_cursor else {"batch": index + 1}
            fetched = counts["fetched"] + len(contact_page.details)
            # The pages (a few queries, not one per contact) and the position past them commit together.
            with transaction.atomic():
                # Pages lost in a crash are lost with their position, and fetched again: no need to wait for fsync.
                commit_without_waiting_for_disk()
                external_contacts_upsert_from_wecom(details=contact_page)
                sync_save(state=state, position=position, counts={"fetched": fetched})
            counts["fetched"] = fetched
            progress("contacts", fetched)
            writes += 1
            if writes % ANALYZE_EVERY_WRITES == 0:
                analyze_grown_tables()
    return counts


def sync_groups(client: WeComClient, state: SyncState, progress: Progress) -> dict:
    from groups.services import group_upsert_from_wecom

    group_chat = client.external_contact_group_chat
    counts = {"fetched": state.counts.get("fetched", 0)}
    for page, next_cursor in _pages(
        lambda cursor: group_chat.list(cursor=cursor or None, limit=GROUPS_PER_PAGE), state.position.get("cursor", "")
    ):
        for item in page.get("group_chat_list", []):
            group_upsert_from_wecom(detail=group_chat.get(item["chat_id"])["group_chat"])
            counts["fetched"] += 1
            progress("groups", counts["fetched"])
        sync_save(state=state, position={"cursor": next_cursor} if next_cursor else {}, counts=counts)
    return counts


def _pages(fetch: Callable[[str], dict], cursor: str) -> Iterator[tuple[dict, str]]:
    """Each page and the cursor of the one after it ("" after the last page)."""
    while True:
        page = fetch(cursor)
        cursor = page.get("next_cursor") or ""
        yield page, cursor
        if not cursor:
            return


def _prefetched_pages(
    fetch: Callable[[str], dict], cursor: str, prepare: Callable[[dict], T], *, per_item: int = 1
) -> Iterator[tuple[list[T], str]]:
    """Up to ``per_item`` consecutive pages at a time, each turned by ``prepare`` into what the caller writes, and
    the cursor after the last of them ("" after the last page).

    The next pages are requested and prepared on another thread while the caller writes these: WeCom's latency,
    our parsing and the database's work overlap instead of adding up (the database releases the GIL while it
    works). Still one request at a time (WeCom counts concurrency), and the caller still saves its position only
    after pages are written, so resuming is unchanged. A failed request raises when its pages are asked for;
    leaving early waits for the request in flight, so no thread outlives the sync."""

    def fetch_and_prepare(cursor: str) -> tuple[list[T], str]:
        prepared = []
        while len(prepared) < per_item:
            page = fetch(cursor)
            prepared.append(prepare(page))
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
        return prepared, cursor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="wecom-sync-prefetch") as pool:
        pending = pool.submit(fetch_and_prepare, cursor)
        try:
            while True:
                prepared, cursor = pending.result()
                if cursor:
                    pending = pool.submit(fetch_and_prepare, cursor)
                yield prepared, cursor
                if not cursor:
                    return
        finally:
            pending.cancel()


SYNCERS = {"employees": sync_employees, "tags": sync_tags, "contacts": sync_contacts, "groups": sync_groups}
