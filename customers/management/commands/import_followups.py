import time
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from customers.models import ImportJob
from customers.services.imports import followups_import
from scrm.core.errors import DomainError

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Import calls or SMS from a CSV or XLSX file into the customers' timelines. Rows are matched to customers "
        "by phone (new numbers create customers); rejected rows go to an error report; importing the same file "
        "again changes nothing. Exits 0 when the job ran (check the rejected count and the report), 1 when it failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv (UTF-8 or GB18030) or .xlsx file; row 1 names the columns")
        parser.add_argument("--kind", required=True, choices=ImportJob.Kind.values, help="what the file holds")
        parser.add_argument("--user", help="username recorded as the importer")
        parser.add_argument(
            "--job", type=int, help="run this failed or interrupted job again (same file) instead of a new one"
        )

    def handle(self, *args, file: str, kind: str, user: str | None, job: int | None, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"--user {user}: no such user")
        if job:
            import_job = ImportJob.objects.filter(pk=job, kind=kind).first()
            if import_job is None:
                raise CommandError(f"--job {job}: no {kind} import with this id")
        else:
            import_job = ImportJob.objects.create(kind=kind, file_name=path.name, actor=actor)
        interactive = self.stdout.isatty() and options.get("verbosity", 1) > 0
        started = time.monotonic()

        def progress(done: int, total: int | None) -> None:
            if interactive:  # one line rewritten in place
                elapsed = time.monotonic() - started
                rate = f"{done / elapsed:,.0f} rows/s" if elapsed > 1 else ""
                if total:
                    filled = min(BAR_WIDTH, BAR_WIDTH * done // total)
                    bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {min(100, 100 * done // total):3d}% "
                    count = f"{done:,}/{total:,}"
                else:
                    bar, count = "", f"{done:,}"
                self.stdout.write(f"\r  {bar}{count} {rate:<16}", ending="")
                self.stdout.flush()

        try:
            import_job = followups_import(job=import_job, path=path, progress=progress)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if interactive:
                self.stdout.write("")
        elapsed = time.monotonic() - started
        if import_job.status != ImportJob.Status.DONE:
            raise CommandError(f"import #{import_job.pk} of {path.name} failed: {import_job.message}")
        self.stdout.write(
            self.style.SUCCESS(
                f"✓ import #{import_job.pk} ({import_job.kind}) of {path.name}: {import_job.total_rows:,} rows read "
                f"in {elapsed:.1f} s — {import_job.imported_rows:,} imported, {import_job.duplicate_rows:,} "
                f"already imported, {import_job.rejected_rows:,} rejected; "
                f"{import_job.customers_created:,} new customers"
            )
        )
        if import_job.rejected_rows:
            self.stdout.write(
                self.style.WARNING(f"  {import_job.rejected_rows:,} rows rejected: see {import_job.error_report.path}")
            )
            for error in import_job.error_sample[:5]:
                self.stdout.write(f"    row {error['row']}: {error['reason']}")
