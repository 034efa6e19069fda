"""Bulk tagging: put a tag on (or take it off) every customer of a segment, as a background job, with progress
and undo.

``tag_bulk_job_create`` checks the tag and the expression, records a pending job and starts the task after
commit. ``tag_bulk_job_run`` snapshots the segment's customer ids in id order and applies the change through
``customer_tags_change`` in chunks, each in its own transaction together with its ``TagBulkJobChunk`` (the
customers it changed and, for a removal, the assignments as they were) and the job's counters, so a crash loses
at most the chunks in flight and the admin sees the progress. On PostgreSQL two chunks are applied at once, on two
connections, and committed in order, so what is recorded is always a prefix of the snapshot. A run started again
resumes after the last customer the recorded chunks changed (customers it looks at again change nothing: adding a
tag twice or removing it twice is a no-op). ``tag_bulk_job_undo`` reverses exactly what the chunks recorded, in
the background too.

One run or undo per job at a time: a PostgreSQL session lock keyed by the job, which a dead worker releases with
its connection (its task is then delivered again, as tasks are acknowledged late, and resumes).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from customers.models import Customer
from scrm.core.db import commit_without_waiting_for_disk
from tagging.models import CustomerTag, Source, Tag, TagBulkJob, TagBulkJobChunk, TagTarget
from tagging.segments import SegmentError, customers_in_segment, validate
from tagging.services.assignments import CHUNK, TagChanges, customer_tags_change, customer_tags_restore, tags_for

logger = logging.getLogger(__name__)

WRITERS = 2  # chunks applied at once on PostgreSQL: a two-core server then runs two backends
_LOCK_CLASS = 0x7A65  # first key of a job's PostgreSQL advisory lock; the job id is the second
_ERROR_MAX = 2000

Status = TagBulkJob.Status


def tag_bulk_job_create(*, tag: Tag, action: str, expression: str, actor) -> TagBulkJob:
    """A pending job that will ``action`` (add or remove) ``tag`` on every customer of the segment
    ``expression``; its task starts once the job is committed. The whole segment, whoever asks: only users who
    may add bulk jobs (operations) get here."""
    if action not in TagBulkJob.Action.values:
        raise ValidationError({"action": _("Choose whether to tag or to untag.")})
    try:
        tags_for(target=TagTarget.CUSTOMER, tag_ids=[tag.pk], adding=True, source=Source.MANUAL)
    except ValidationError as exc:
        raise ValidationError({"tag": exc.message_dict["tags"]}) from None
    expression = (expression or "").strip()
    try:
        validate(expression, target=TagTarget.CUSTOMER)
    except SegmentError as exc:
        raise exc.as_validation_error("expression") from None
    from tagging.tasks.jobs import bulk_job_run

    with transaction.atomic():
        job = TagBulkJob(tag=tag, action=action, expression=expression, created_by=actor)
        job.full_clean()
        job.save()
        transaction.on_commit(lambda: bulk_job_run.delay(job.pk))
    return job


def tag_bulk_job_retry(*, job: TagBulkJob) -> TagBulkJob:
    """Run a failed job again: it resumes where it stopped (what it did before stays done and recorded)."""
    from tagging.tasks.jobs import bulk_job_run

    with transaction.atomic():
        if not TagBulkJob.objects.filter(pk=job.pk, status=Status.FAILED).update(status=Status.PENDING, error=""):
            raise ValidationError({"status": _("Only a failed job can be run again.")})
        transaction.on_commit(lambda: bulk_job_run.delay(job.pk))
    job.refresh_from_db()
    return job


def tag_bulk_job_run(*, job_id: int, chunk_size: int = CHUNK, writers: int | None = None) -> TagBulkJob | None:
    """Run the job, or resume it; returns it as stored, or None when another worker holds it. Only a pending job
    or a running one (its run interrupted) runs; any other is returned as it is. An error fails the job with the
    reason and keeps what the chunks before it did. ``writers``: threads applying chunks, each on its own
    connection; by default ``WRITERS`` on PostgreSQL outside a transaction, else none (this thread applies them)."""
    if writers is None:
        writers = _default_writers()
    with _exclusive(job_id) as mine:
        if not mine:
            return None
        claimed = TagBulkJob.objects.filter(pk=job_id, status__in=[Status.PENDING, Status.RUNNING]).update(
            status=Status.RUNNING, error="", finished_at=None
        )
        job = TagBulkJob.objects.select_related("tag", "created_by").filter(pk=job_id).first()
        if not claimed or job is None:
            return job
        if job.started_at is None:
            _job_update(job, started_at=timezone.now())
        try:
            _apply(job, chunk_size, writers)
        except ValidationError as exc:  # a tag or a stage the expression names is gone, the tag was deleted
            _job_update(job, status=Status.FAILED, error=_reason(exc), finished_at=timezone.now())
            return job
        except Exception as exc:
            logger.exception("bulk tagging job %s failed", job_id)
            _job_update(job, status=Status.FAILED, error=_reason(exc), finished_at=timezone.now())
            raise
        _job_update(job, status=Status.DONE, finished_at=timezone.now())
    return job


def tag_bulk_job_undo(*, job: TagBulkJob, actor) -> TagBulkJob:
    """Start undoing a finished job (in the background): see ``tag_bulk_job_undo_run``."""
    from tagging.tasks.jobs import bulk_job_undo

    with transaction.atomic():
        if not TagBulkJob.objects.filter(pk=job.pk, status=Status.DONE).update(status=Status.UNDOING, error=""):
            raise ValidationError({"status": _("Only a finished job can be undone.")})
        actor_id = getattr(actor, "pk", None)
        transaction.on_commit(lambda: bulk_job_undo.delay(job.pk, actor_id))
    job.refresh_from_db()
    return job


def tag_bulk_job_undo_run(*, job_id: int, actor=None, writers: int | None = None) -> TagBulkJob | None:
    """Reverse exactly what the job's chunks recorded, a chunk per transaction, as ``actor``: a tag it added
    comes off only where the assignment is still the job's (one set by hand before the job, or set again since,
    stays); assignments it removed come back with their source, actor, rule and time. Safe to run again after a
    crash (what is reversed stays reversed). An error puts the job back to done with the reason, to undo again.
    ``writers`` as for ``tag_bulk_job_run``."""
    if writers is None:
        writers = _default_writers()
    with _exclusive(job_id) as mine:
        if not mine:
            return None
        job = TagBulkJob.objects.select_related("tag").filter(pk=job_id).first()
        if job is None or job.status != Status.UNDOING:
            return job
        undo = _unadd if job.action == TagBulkJob.Action.ADD else _unremove
        # chunk by chunk from the database: a removal's chunks carry the removed rows, too many to hold at once
        chunks = list(job.chunks.order_by("seq").values_list("pk", flat=True))

        def undo_chunk(k: int, before_commit) -> None:
            with transaction.atomic():
                commit_without_waiting_for_disk()  # undoing again redoes what a crash lost
                undo(job, TagBulkJobChunk.objects.get(pk=chunks[k]), actor)
                before_commit()

        try:
            InOrder(len(chunks), writers).run(undo_chunk)
        except ValidationError as exc:
            _job_update(job, status=Status.DONE, error=_reason(exc))
            return job
        except Exception as exc:
            logger.exception("undoing bulk tagging job %s failed", job_id)
            _job_update(job, status=Status.DONE, error=_reason(exc))
            raise
        _job_update(job, status=Status.UNDONE, undone_at=timezone.now())
    return job


def _apply(job: TagBulkJob, chunk_size: int, writers: int) -> None:
    """Snapshot the segment and change it chunk by chunk. Resuming, the snapshot starts after the last customer
    the recorded chunks changed; ``total`` stays the first snapshot's size and ``processed`` becomes what is left
    of it."""
    # chunks are recorded in id order (a resumed run starts after the last one), so the last holds the largest id
    last = job.chunks.order_by("-seq").values_list("seq", "customer_ids").first()
    after = max(last[1]) if last else 0
    ids = list(customers_in_segment(job.expression).filter(pk__gt=after).order_by("pk").values_list("pk", flat=True))
    if last:
        _job_update(job, processed=max(0, (job.total or 0) - len(ids)))
    else:
        _job_update(job, total=len(ids), processed=0, changed=0)
    first_seq = last[0] + 1 if last else 0
    slices = [ids[start : start + chunk_size] for start in range(0, len(ids), chunk_size)]
    InOrder(len(slices), writers).run(
        lambda k, before_commit: _apply_slice(job, slices[k], first_seq + k, before_commit)
    )


def _apply_slice(job: TagBulkJob, part: list[int], seq: int, before_commit) -> None:
    adding = job.action == TagBulkJob.Action.ADD
    with transaction.atomic():
        # safe to redo: the chunk's changes, its record and the counters are lost or kept together
        commit_without_waiting_for_disk()
        changes = customer_tags_change(
            customer_ids=part,
            add=[job.tag_id] if adding else [],
            remove=[] if adding else [job.tag_id],
            source=Source.MANUAL,
            actor=job.created_by,
            job=job,
        )
        changed = changes.changed_ids
        if changed:
            TagBulkJobChunk.objects.create(
                job=job, seq=seq, customer_ids=changed, removed={} if adding else _removed(changes, changed)
            )
        before_commit()
        TagBulkJob.objects.filter(pk=job.pk).update(
            processed=F("processed") + len(part), changed=F("changed") + len(changed)
        )


class _Abandoned(Exception):
    """The slice before this one failed: roll this one back, so what is committed stays a prefix."""


class InOrder:
    """Apply ``n`` slices on ``writers`` threads (each on its own database connection), committing them in order:
    a slice waits, just before its commit, for the one before it, and rolls back if that one failed. The Python of
    one slice then overlaps the database work of the other (two cores), while what is committed is always the
    first k slices, as if applied one by one. ``writers`` 0: on this thread, one by one."""

    def __init__(self, n: int, writers: int) -> None:
        self.n, self.writers = n, writers
        self.finished = [threading.Event() for _ in range(n)]
        self.committed = [False] * n
        self.errors: dict[int, BaseException] = {}
        self.next = itertools.count()  # next() on a count is atomic under the GIL

    def run(self, apply) -> None:
        """``apply(k, before_commit)`` applies slice k in one transaction and calls ``before_commit()`` inside it."""
        if self.writers:
            threads = [threading.Thread(target=self._writer, args=(apply,)) for _ in range(self.writers)]
            for thread in threads:
                thread.start()
            try:
                for thread in threads:
                    thread.join()
            except BaseException as exc:  # a time limit on this thread: take no more slices, let these finish
                self.errors[self.n] = exc
                for thread in threads:
                    thread.join()
                raise
        else:
            self._work(apply)
        failures = [error for _k, error in sorted(self.errors.items()) if not isinstance(error, _Abandoned)]
        if failures:
            raise failures[0]

    def _writer(self, apply) -> None:
        try:
            self._work(apply)
        finally:
            connection.close()  # this thread's own connection

    def _work(self, apply) -> None:
        while not self.errors and (k := next(self.next)) < self.n:
            try:
                apply(k, lambda k=k: self._wait_for_previous(k))
                self.committed[k] = True
            except BaseException as exc:
                self.errors[k] = exc
            finally:
                self.finished[k].set()

    def _wait_for_previous(self, k: int) -> None:
        if k:
            self.finished[k - 1].wait()
            if not self.committed[k - 1]:
                raise _Abandoned


def _removed(changes: TagChanges, customer_ids: list[int]) -> dict[str, list]:
    """The removed assignments as the chunk keeps them: one list per attribute, parallel to its customers."""
    rows = [changes.removed[customer_id][0] for customer_id in customer_ids]
    return {
        "source": [row["source"] for row in rows],
        "actor": [row["actor_id"] for row in rows],
        "rule": [row["rule_id"] for row in rows],
        "created_at": [row["created_at"].isoformat() for row in rows],
    }


def _unadd(job: TagBulkJob, chunk: TagBulkJobChunk, actor) -> None:
    # Lock first, then look: nobody may replace the job's assignment with their own between the look and the change
    # (customer_tags_change locks the same rows again, in the same order, which costs nothing more).
    list(Customer.objects.select_for_update().filter(pk__in=chunk.customer_ids).order_by("pk").values_list("pk"))
    carrying = list(
        CustomerTag.objects.filter(customer_id__in=chunk.customer_ids, tag_id=job.tag_id, job=job).values_list(
            "customer_id", flat=True
        )
    )
    customer_tags_change(customer_ids=carrying, remove=[job.tag_id], source=Source.MANUAL, actor=actor, job=job)


def _unremove(job: TagBulkJob, chunk: TagBulkJobChunk, actor) -> None:
    removed = chunk.removed
    customer_tags_restore(
        assignments=(
            {
                "customer_id": customer_id,
                "tag_id": job.tag_id,
                "source": removed["source"][i],
                "actor_id": removed["actor"][i],
                "rule_id": removed["rule"][i],
                "created_at": parse_datetime(removed["created_at"][i]),
            }
            for i, customer_id in enumerate(chunk.customer_ids)
        ),
        actor=actor,
    )


def _default_writers() -> int:
    # threads see only committed rows: inside a transaction (tests) the work stays on this thread
    return WRITERS if connection.vendor == "postgresql" and not connection.in_atomic_block else 0


def _job_update(job: TagBulkJob, **values) -> None:
    """Save these fields now, on the row and on ``job``."""
    for name, value in values.items():
        setattr(job, name, value)
    TagBulkJob.objects.filter(pk=job.pk).update(**values)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)[:_ERROR_MAX]
    return f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]


@contextmanager
def _exclusive(job_id: int) -> Iterator[bool]:
    """Whether this process holds the job (a PostgreSQL session lock: another worker's run or undo, or a
    redelivered copy of this task, gets False). Elsewhere (the SQLite default) always True."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, job_id])
        mine = cursor.fetchone()[0]
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, job_id])
