"""Files for the follow-up import tests: real CSV (any encoding) and XLSX files on disk, and a job run on them.

Import the fixture you use into the test module (``from tests.customers.import_files import media_fixture``)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from customers.models import ImportJob
from customers.services.imports import followups_import

CALLS_HEADER = ["手机号", "通话时间", "方向", "通话时长（秒）", "员工", "备注"]


def write_csv(path: Path, rows: list[list[Any]], *, encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as stream:
        csv.writer(stream).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[Any]]) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def run_import(path: Path, kind: str = ImportJob.Kind.CALLS, **options) -> ImportJob:
    job = ImportJob.objects.create(kind=kind, file_name=path.name)
    return followups_import(job=job, path=path, **options)


def counts(job: ImportJob) -> dict[str, int]:
    return {
        "total": job.total_rows,
        "imported": job.imported_rows,
        "duplicates": job.duplicate_rows,
        "rejected": job.rejected_rows,
        "new_customers": job.customers_created,
    }


def read_report(job: ImportJob) -> list[list[str]]:
    with Path(job.error_report.path).open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.reader(stream))


@pytest.fixture(name="media")
def media_fixture(settings, tmp_path):
    """Uploads and error reports under a MEDIA_ROOT of this test's own."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT
