"""Follow-up imports: a file of calls or SMS becomes timeline entries of the customers with those phone numbers.

A number no customer has creates one (``origin = import``). Every row is counted once, as imported, already
imported (its ``source_key`` is stored: re-importing a file changes nothing) or rejected; a rejected row goes to the
job's error report with its row number and the reason, naming the column. A file that cannot be read at all (type,
encoding, a required column missing) fails the job before anything is written.

Rows are stored in chunks, each in its own transaction together with the job's counts, so the admin sees the
progress, a crash loses at most the chunk in flight, and running the job again resumes after the last chunk
stored. Only one chunk of rows is in memory at a time.
"""

from __future__ import annotations

import csv
import itertools
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import activate, get_language
from django.utils.translation import gettext_lazy as _

from customers.imports.readers import CSV_SUFFIXES, XLSX_SUFFIXES, ImportFileError, open_table
from customers.imports.rows import Record, RowError, RowParser
from customers.imports.writer import Touches, chunk_write, stored_entries
from customers.models import Employee, ImportJob, TimelineEntry
from scrm.core.db import commit_without_waiting_for_disk
from scrm.core.errors import Conflict
from scrm.queues import Queue

logger = logging.getLogger(__name__)

CHUNK_SIZE = 5000
ERROR_SAMPLE_SIZE = 100
UPLOAD_DIR = "imports"
ENTRY_KIND = {ImportJob.Kind.CALLS: TimelineEntry.Kind.CALL, ImportJob.Kind.SMS: TimelineEntry.Kind.SMS}
ENTRY_CHANNEL = {ImportJob.Kind.CALLS: TimelineEntry.Channel.PHONE, ImportJob.Kind.SMS: TimelineEntry.Channel.SMS}
_LOCK_CLASS = 0x1A0F  # first key of the job's PostgreSQL advisory lock; the job id is the second

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
    *, job: ImportJob, path: str | Path, progress: Progress | None = None, chunk_size: int = CHUNK_SIZE
) -> ImportJob:
    """Import (or resume importing) ``path`` into ``job``; returns the job as stored. A file that cannot be
    imported leaves the job ``failed`` with the reason in ``message`` (nothing written); a job already ``done``
    is returned as it is."""
    with _job_lock(job):
        job.refresh_from_db()
        if job.status == ImportJob.Status.DONE:
            return job
        _job_update(job, status=ImportJob.Status.RUNNING, message="", started_at=job.started_at or timezone.now())
        try:
            with open_table(path) as table:
                parser = RowParser(
                    kind=job.kind,
                    header=table.header,
                    employees=_employees_by_userid(),
                    job_id=job.pk,
                    tz=timezone.get_default_timezone(),
                )
                _run(job, table, parser, progress=progress, chunk_size=chunk_size)
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
    stored_before: bool  # rows an interrupted run of this job stored and counted already
    records: list[Record] = field(default_factory=list)
    rejected: list[tuple[int, str, str, list[Any]]] = field(default_factory=list)  # row, column, reason, cells

    def __len__(self) -> int:
        return len(self.records) + len(self.rejected)


def _run(job: ImportJob, table, parser: RowParser, *, progress: Progress | None, chunk_size: int) -> None:
    kind, channel = ENTRY_KIND[job.kind], ENTRY_CHANNEL[job.kind]
    report = ErrorReport(job, table.header)
    touches = Touches()
    chunks = _chunks(table.rows, parser, resume_after=job.total_rows, size=chunk_size, language=get_language())
    for chunk in _read_ahead(chunks):
        if chunk.stored_before:
            # counted already; only "last contact" may be missing, if the run stopped before applying it
            touches.add(stored_entries([record.source_key for record in chunk.records]))
            continue
        report.write(chunk.rejected)  # first: a crash before the commit leaves lines that a resumed run trims
        with transaction.atomic():
            # safe to redo: a chunk lost in a crash is lost with its counts, and the next run reads it again
            commit_without_waiting_for_disk()
            inserted, created = chunk_write(chunk.records, kind=kind, channel=channel)
            _job_count(job, chunk, inserted=len(inserted), created=created, report=report)
        touches.add(inserted)
        if progress:
            progress(job.total_rows, table.estimated_rows)
    touches.apply()


def _job_count(job: ImportJob, chunk: Chunk, *, inserted: int, created: int, report: ErrorReport) -> None:
    job.total_rows += len(chunk)
    job.imported_rows += inserted
    job.duplicate_rows += len(chunk.records) - inserted
    job.rejected_rows += len(chunk.rejected)
    job.customers_created += created
    fields = ["total_rows", "imported_rows", "duplicate_rows", "rejected_rows", "customers_created"]
    if chunk.rejected:
        job.error_report.name = report.name
        room = ERROR_SAMPLE_SIZE - len(job.error_sample)
        job.error_sample += [
            {"row": row, "reason": f"{column}: {reason}"} for row, column, reason, _cells in chunk.rejected[:room]
        ]
        fields += ["error_report", "error_sample"]
    _job_update(job, **{name: getattr(job, name) for name in fields})


def _chunks(
    rows: Iterator[tuple[int, list[Any]]], parser: RowParser, *, resume_after: int, size: int, language: str | None
) -> Iterator[Chunk]:
    """The file's non-blank rows, validated, in chunks of ``size``; the first ``resume_after`` rows (stored by an
    interrupted run) in chunks of their own."""
    if language:
        activate(language)  # this runs on the read-ahead thread: messages in the caller's language
    read = 0
    chunk = Chunk(stored_before=resume_after > 0)
    for row_number, cells in rows:
        if _blank(cells):
            continue  # a blank row carries nothing to import or report
        read += 1
        stored_before = read <= resume_after
        if len(chunk) >= size or (chunk and chunk.stored_before != stored_before):
            yield chunk
            chunk = Chunk(stored_before=stored_before)
        try:
            chunk.records.append(parser.parse(cells))
        except RowError as exc:
            if not stored_before:
                chunk.rejected.append((row_number, exc.column, str(exc.message), cells))
    if chunk:
        yield chunk


def _blank(cells: list[Any]) -> bool:
    return all(cell is None or (type(cell) is str and not cell.strip()) for cell in cells)


def _read_ahead(chunks: Iterator[Chunk]) -> Iterator[Chunk]:
    """The chunks, the next one read and validated on another thread while the caller stores this one: parsing
    (Python) and storing (PostgreSQL, which releases the GIL) overlap instead of adding up. At most two chunks
    are in memory; leaving early waits for the chunk being read, so no thread outlives the import."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-read") as pool:
        pending = pool.submit(next, chunks, None)
        try:
            while (chunk := pending.result()) is not None:
                pending = pool.submit(next, chunks, None)
                yield chunk
        finally:
            pending.cancel()


class ErrorReport:
    """The rejected rows as CSV (row, column, reason, then the row's cells under the file's own header), written
    as chunks are stored. UTF-8 with a BOM, so that Excel shows Chinese text correctly."""

    def __init__(self, job: ImportJob, header: list[str]):
        self.name = f"{UPLOAD_DIR}/errors/job-{job.pk}.csv"
        self.path = Path(settings.MEDIA_ROOT) / self.name
        self.header = [str(_("row")), str(_("column")), str(_("reason")), *header]
        # On a resumed run, keep the lines of the chunks stored; a chunk lost in the crash wrote its lines anyway.
        self._trim(job.rejected_rows)

    def write(self, rejected: list[tuple[int, str, str, list[Any]]]) -> None:
        if not rejected:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with self.path.open("a", encoding="utf-8-sig" if new else "utf-8", newline="") as stream:
            writer = csv.writer(stream)
            if new:
                writer.writerow(self.header)
            writer.writerows(
                [row, column, reason, *("" if cell is None else cell for cell in cells)]
                for row, column, reason, cells in rejected
            )

    def _trim(self, keep: int) -> None:
        if not self.path.exists():
            return
        if not keep:
            self.path.unlink()
            return
        kept = self.path.with_suffix(".tmp")
        with (
            self.path.open(encoding="utf-8-sig", newline="") as old,
            kept.open("w", encoding="utf-8-sig", newline="") as new,
        ):
            csv.writer(new).writerows(itertools.islice(csv.reader(old), keep + 1))  # the header and `keep` rows
        kept.replace(self.path)


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
