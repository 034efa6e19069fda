import sys
import time

from django.core.management.base import BaseCommand, CommandError

from scrm.core.errors import DomainError
from scrm.wecom.errors import WeComError
from scrm.wecom.sync import RESOURCES, wecom_sync


class Command(BaseCommand):
    help = (
        "Full sync from WeCom (employees, tags, contacts, groups). Resumes an interrupted run from its last page; "
        "--restart starts over."
    )

    def add_arguments(self, parser):
        parser.add_argument("--only", default=",".join(RESOURCES), help=f"comma-separated subset of {RESOURCES}")
        parser.add_argument("--restart", action="store_true", help="ignore saved positions and start over")

    def handle(self, *args, only: str, restart: bool, **options):
        resources = tuple(name.strip() for name in only.split(",") if name.strip())
        interactive = sys.stdout.isatty() and options.get("verbosity", 1) > 0
        started: dict[str, float] = {}

        def progress(resource: str, done: int) -> None:
            if interactive:  # one line rewritten in place: count and rate so far
                elapsed = time.monotonic() - started.setdefault(resource, time.monotonic())
                rate = f"{done / elapsed:,.0f}/s" if elapsed > 1 else ""
                self.stdout.write(f"\r  {resource:<10} {done:>10,}  {rate:<12}", ending="")
                self.stdout.flush()

        try:
            results = wecom_sync(resources=resources, restart=restart, progress=progress)
        except (WeComError, DomainError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if interactive:
            self.stdout.write("")
        failed = []
        for resource, counts in results.items():
            error = counts.pop("error", None)
            summary = ", ".join(f"{key} {value:,}" for key, value in counts.items()) or "nothing"
            if error:
                failed.append(resource)
                self.stdout.write(self.style.ERROR(f"✗ {resource:<10} {summary}; stopped: {error}"))
            else:
                self.stdout.write(self.style.SUCCESS(f"✓ {resource:<10} {summary}"))
        if failed:
            raise CommandError(f"sync incomplete for {', '.join(failed)}; re-run to resume from the last page")
