from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from customers.services.order_imports import orders_import
from scrm.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "Import orders from a CSV or XLSX file (columns: phone, order id, amount, time; optional source). Orders "
        "are matched to customers by phone (new numbers create customers) and recorded once per order id, so "
        "importing the same file again changes nothing. Rejected rows are listed with row number and reason."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a .csv (UTF-8 or GB18030) or .xlsx file; row 1 names the columns")
        parser.add_argument("--user", help="username recorded as the importer")

    def handle(self, *args, file: str, user: str | None, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        actor = None
        if user and (actor := get_user_model().objects.filter(username=user).first()) is None:
            raise CommandError(f"--user {user}: no such user")
        interactive = self.stdout.isatty()

        def progress(done: int, total: int | None) -> None:
            if interactive:
                self.stdout.write(f"\r  {done:,}/{total or '?'} rows", ending="")
                self.stdout.flush()

        try:
            result = orders_import(path=path, actor=actor, progress=progress)
        except DomainError as exc:
            raise CommandError(f"{path.name}: {exc}") from exc
        if interactive:
            self.stdout.write("")
        self.stdout.write(
            f"{path.name}: {result.total} rows — {result.imported} imported, {result.duplicates} already imported, "
            f"{result.rejected} rejected; {result.customers_created} new customers"
        )
        for row, column, reason in result.errors:
            self.stdout.write(f"  row {row}, {column}: {reason}")
