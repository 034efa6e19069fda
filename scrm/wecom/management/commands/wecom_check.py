from django.core.management.base import BaseCommand, CommandError

from scrm.wecom.setup_check import FAIL, WARN, run_setup_checks

MARKS = {"ok": "✓", WARN: "!", FAIL: "✗"}


class Command(BaseCommand):
    help = "Check the WeCom configuration (secrets, permissions, trusted IP, callback) and say how to fix it."

    def handle(self, *args, **options):
        results = run_setup_checks()
        for result in results:
            style = {FAIL: self.style.ERROR, WARN: self.style.WARNING}.get(result.status, self.style.SUCCESS)
            self.stdout.write(style(f"{MARKS[result.status]} {result.name:<18} {result.message}"))
            if result.fix and result.status != "ok":
                self.stdout.write(f"  → {result.fix}")
        failed = [result.name for result in results if result.status == FAIL]
        if failed:
            raise CommandError(f"{len(failed)} check(s) failed: {', '.join(failed)}")
