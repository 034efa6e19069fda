"""``manage.py groups_stats_backfill --days N``: roll up the group statistics of the last N days (today
included), oldest first — after an outage, or when the statistics start on a corp that already has groups.

Each day is one statement for all groups and rerunning a day writes the same figures, so it is safe to run again.
A day's figures come from the member rows as they stand (a member's row keeps only their latest stay): the further
back, the more approximate for members who left and came back.
"""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from groups.services.stats import stats_rollup


class Command(BaseCommand):
    help = "Roll up the group statistics (members, joins, quits) of the last N days, today included."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=30, help="How many days back, today included (1-366).")
        parser.add_argument(
            "--until", type=date.fromisoformat, default=None, help="The last day (YYYY-MM-DD); default today."
        )

    def handle(self, *args, days: int, until: date | None, **options):
        if not 1 <= days <= 366:
            raise CommandError("--days must be between 1 and 366.")
        last = until or timezone.localdate()
        if last > timezone.localdate():
            raise CommandError("--until cannot be in the future.")
        total = 0
        for back in range(days - 1, -1, -1):
            day = last - timedelta(days=back)
            written = stats_rollup(day=day)
            total += written
            self.stdout.write(f"{day.isoformat()} {written} rows written")
        self.stdout.write(self.style.SUCCESS(f"{days} days rolled up, {total} rows written."))
