"""Follow-up imports: a file of calls or SMS becomes timeline entries of the customers with those phone numbers.

A number no customer has creates one (``origin = import``). Every row is counted once, as imported, already
imported (its ``source_key`` is stored: re-importing a file adds nothing) or rejected; a rejected row goes to the
job's error report with its row number and the reason, naming the column. A file that cannot be read at all (type,
encoding, a required column missing) fails the job before anything is written.

Rows are validated on one thread and stored in chunks on others (``customers.imports.pipeline``), a transaction
per chunk; the job's counts follow each chunk, so the admin shows the progress. A crash loses at most the chunks in
flight, and running the job again reads the file from the start: what the first run stored then counts as already
imported. "Last contact" moves once per customer, at the end, to the newest time in the file (never back). Memory
stays bounded: a few chunks of rows, and the newest time per customer.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import activate, get_language
from django.utils.translation import gettext_lazy as _

from customers.imports.pipeline import Writers, read_ahead
from customers.imports.readers import CSV_SUFFIXES, XLSX_SUFFIXES, ImportFileError, open_table
from customers.imports.rows import RowError, RowParser
from customers.imports.writer import Prepared, Touches, customers_ensure, entries_insert, latest_contacts
from customers.models import Employee, ImportJob, TimelineEntry
from scrm.core.db import commit_without_waiting_for_disk
from scrm.core.errors import Conflict
from scrm.queues import Queue

logger = logging.getLogger(__name__)

CHUNK_SIZE = 5000
WRITERS = 2  # chunks stored at once on PostgreSQL: a two-core server then runs two backends
ERROR_SAMPLE_SIZE = 100
UPLOAD_DIR = "imports"
ENTRY_KIND = {ImportJob.Kind.CALLS: TimelineEntry.Kind.CALL, ImportJob.Kind.SMS: TimelineEntry.Kind.SMS}
ENTRY_CHANNEL = {ImportJob.Kind.CALLS: TimelineEntry.Channel.PHONE, ImportJob.Kind.SMS: TimelineEntry.Channel.SMS}
_LOCK_CLASS = 0x1A0F  # first key of the job's PostgreSQL advisory lock; the job id is the second

_ZERO = {
    "total_rows": 0,
    "imported_rows": 0,
    "duplicate_rows": 0,
    "rejected_rows": 0,
    "customers_created": 0,
    "error_report": "",
    "error_sample": [],
}

Progress = Callable[[int, "int | None"], None]  # (rows read so far, estimated rows in the file or None)


def import_job_create(*, kind: str, upload: UploadedFile, actor=None) -> ImportJob:
    """A pending job for an uploaded file, saved under MEDIA_ROOT/imports/<job id>/; the import runs in a task
    once the job is committed."""
    if kind not in ImportJob.Kind.values:
        raise ImportFileError(_("Choose what the file holds: calls or SMS."), field="kind")
    name = Path(upload.name or "").name
    if not name.lower().endswith(CSV_SUFFIXES + XLSX_SUFFIXES):
        raise ImportFileError(
            _("“%(name)s” is neither a CSV nor an XLSX file (.csv, .xlsx).") % {"name": name}, field="file"
        )
    from customers.tasks import import_followups

    with transaction.atomic():
        job = ImportJob.objects.create(kind=kind, file_name=name, actor=actor)
        stored = default_storage.save(f"{UPLOAD_DIR}/{job.pk}/{default_storage.get_valid_name(name)}", upload)
        job.file_name = Path(stored).name
        job.save(update_fields=["file_name", "updated_at"])
        # the sync queue, with the full syncs: a big import must not hold up interactive work
        transaction.on_commit(lambda: import_followups.apply_async(args=[job.pk], queue=Queue.SYNC.value))
    return job


def import_upload_path(job: ImportJob) -> Path:
    """Where ``import_job_create`` saved the job's file."""
    return Path(default_storage.path(f"{UPLOAD_DIR}/{job.pk}/{job.file_name}"))


def followups_import(
    *,
    job: ImportJob,
    path: str | Path,
    progress: Progress | None = None,
    chunk_size: int = CHUNK_SIZE,
    writers: int | None = None,
) -> ImportJob:
    """Import ``path`` into ``job``; returns the job as stored. A file that cannot be imported leaves the job
    ``failed`` with the reason in ``message`` (nothing written); a job already ``done`` is returned as it is; a
    job that failed or was interrupted runs again from the start. ``writers``: threads storing chunks, each on its
    own connection; by default two on PostgreSQL outside a transaction, else none (this thread stores them)."""
    if writers is None:
        writers = WRITERS if connection.vendor == "postgresql" and not connection.in_atomic_block else 0
    with _job_lock(job):
        job.refresh_from_db()
        if job.status == ImportJob.Status.DONE:
            return job
        _job_update(job, status=ImportJob.Status.RUNNING, message="", started_at=timezone.now(), **_ZERO)
        try:
            with open_table(path) as table:
                parser = RowParser(
                    kind=job.kind,
                    header=table.header,
                    employees=_employees_by_userid(),
                    job_id=job.pk,
                    tz=timezone.get_default_timezone(),
                )
                _run(job, table, parser, progress=progress, chunk_size=chunk_size, writers=writers)
        except ImportFileError as exc:
            _job_update(job, status=ImportJob.Status.FAILED, message=str(exc.message), finished_at=timezone.now())
            return job
        except Exception as exc:
            logger.exception("import job %s failed", job.pk)
            _job_update(job, status=ImportJob.Status.FAILED, message=f"{type(exc).__name__}: {exc}"[:2000])
            raise
        _job_update(job, status=ImportJob.Status.DONE, finished_at=timezone.now())
    return job


@dataclass
class Chunk:
    job_id: int
    kind: str
    valid: int  # rows that passed validation
    prepared: Prepared  # their records, ready to store
    rejected: list[tuple[int, str, str, list[Any]]]  # row, column, reason, cells

    def __len__(self) -> int:
        return self.valid + len(self.rejected)


def _run(job: ImportJob, table, parser: RowParser, *, progress: Progress | None, chunk_size: int, writers: int):
    report = ErrorReport(job, table.header)
    touches = Touches()
    try:
        with Writers(_store, writers) as pool:
            for chunk in read_ahead(_chunks(job, table.rows, parser, size=chunk_size, language=get_language())):
                report.add(chunk.rejected)  # here, in file order: the writers finish chunks in any order
                for stored in pool.put(chunk):
                    _stored(job, *stored, touches=touches, progress=progress, estimate=table.estimated_rows)
            for stored in pool.done():
                _stored(job, *stored, touches=touches, progress=progress, estimate=table.estimated_rows)
    finally:
        report.close()
    touches.apply(writers=writers)
    _job_update(job, error_report=report.name if report.rows else "", error_sample=report.sample)


def _store(chunk: Chunk) -> tuple[int, int, dict[int, datetime]]:
    """One chunk, on the calling thread's connection; returns (inserted, customers created, newest time per
    customer). Its new customers commit first, on their own: another writer that needs the same new number
    then waits for that short transaction, not for the chunk. Both are safe to redo: what a crash loses,
    running the job again does again."""
    with transaction.atomic():
        commit_without_waiting_for_disk()
        customer_ids, created = customers_ensure(chunk.prepared.phones)
    with transaction.atomic():
        commit_without_waiting_for_disk()
        kind, channel = ENTRY_KIND[chunk.kind], ENTRY_CHANNEL[chunk.kind]
        inserted = entries_insert(chunk.prepared, customer_ids, kind=kind, channel=channel)
    return inserted, created, latest_contacts(chunk.prepared, customer_ids)


def _stored(job: ImportJob, chunk: Chunk, result, *, touches: Touches, progress: Progress | None, estimate) -> None:
    """Count a stored chunk. The counts are saved here, by one thread, rather than by the writers, whose
    transactions would otherwise queue on the job's row."""
    inserted, created, latest = result
    _job_update(
        job,
        total_rows=job.total_rows + len(chunk),
        imported_rows=job.imported_rows + inserted,
        duplicate_rows=job.duplicate_rows + chunk.valid - inserted,
        rejected_rows=job.rejected_rows + len(chunk.rejected),
        customers_created=job.customers_created + created,
    )
    touches.add(latest)
    if progress:
        progress(job.total_rows, estimate)


def _chunks(job: ImportJob, rows: Iterator[tuple[int, list[Any]]], parser: RowParser, *, size: int, language):
    """The file's non-blank rows, validated, in chunks of ``size`` rows."""
    if language:
        activate(language)  # this runs on the read-ahead thread: messages in the caller's language
    records, rejected = [], []
    for row_number, cells in rows:
        if _blank(cells):
            continue  # a blank row carries nothing to import or report
        try:
            records.append(parser.parse(cells))
        except RowError as exc:
            rejected.append((row_number, exc.column, str(exc.message), cells))
        if len(records) + len(rejected) >= size:
            yield Chunk(job.pk, job.kind, len(records), Prepared(records), rejected)
            records, rejected = [], []
    if records or rejected:
        yield Chunk(job.pk, job.kind, len(records), Prepared(records), rejected)


def _blank(cells: list[Any]) -> bool:
    return all(cell is None or (type(cell) is str and not cell.strip()) for cell in cells)


class ErrorReport:
    """The rejected rows as CSV (row, column, reason, then the row's cells under the file's own header), in file
    order, and the first of them for the admin. UTF-8 with a BOM, so that Excel shows Chinese text correctly."""

    def __init__(self, job: ImportJob, header: list[str]):
        self.name = f"{UPLOAD_DIR}/errors/job-{job.pk}.csv"
        self.path = Path(settings.MEDIA_ROOT) / self.name
        self.header = [str(_("row")), str(_("column")), str(_("reason")), *header]
        self.rows = 0
        self.sample: list[dict[str, Any]] = []
        self.stream = None
        self.path.unlink(missing_ok=True)  # an earlier run's

    def add(self, rejected: list[tuple[int, str, str, list[Any]]]) -> None:
        if not rejected:
            return
        if self.stream is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.stream = self.path.open("w", encoding="utf-8-sig", newline="")
            self.writer = csv.writer(self.stream)
            self.writer.writerow(self.header)
        self.writer.writerows(
            [row, column, reason, *("" if cell is None else cell for cell in cells)]
            for row, column, reason, cells in rejected
        )
        self.stream.flush()
        self.rows += len(rejected)
        room = ERROR_SAMPLE_SIZE - len(self.sample)
        self.sample += [
            {"row": row, "reason": f"{column}: {reason}"} for row, column, reason, _cells in rejected[:room]
        ]

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def _employees_by_userid() -> dict[str, int]:
    return {userid.lower(): pk for userid, pk in Employee.objects.values_list("userid", "pk")}


def _job_update(job: ImportJob, **values: Any) -> None:
    for name, value in values.items():
        setattr(job, name, value)
    ImportJob.objects.filter(pk=job.pk).update(**values, updated_at=timezone.now())


@contextmanager
def _job_lock(job: ImportJob):
    """One run per job at a time (a redelivered task must not import the same rows beside the first run).
    A PostgreSQL session lock, so that a worker that dies releases it with its connection."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, job.pk])
        if not cursor.fetchone()[0]:
            raise Conflict(_("This import is running already."))
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, job.pk])
