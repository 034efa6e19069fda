"""manage.py import_followups on real files: the summary it prints, the error report path, its exit status."""

import os
import pty
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from customers.models import Customer, ImportJob, TimelineEntry
from tests.conftest import ROOT
from tests.customers.import_files import CALLS_HEADER, media_fixture, write_csv, write_xlsx  # noqa: F401
from tests.helpers import subprocess_env

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media")]

ROWS = [
    CALLS_HEADER,
    ["13800138000", "2024-03-01 09:05", "呼入", "35", "", ""],
    ["13900139000", "2024-03-02 09:05", "呼出", "60", "", "回访"],
    ["12345", "2024-03-02 09:05", "呼出", "60", "", ""],
]


def import_followups(*args: str) -> str:
    out = StringIO()
    with translation.override("en"):
        call_command("import_followups", *args, stdout=out)
    return out.getvalue()


def test_imports_a_csv_and_prints_the_summary_and_the_report(tmp_path, make_user):
    make_user("ops1")
    path = write_csv(tmp_path / "calls.csv", ROWS)

    output = import_followups(str(path), "--kind", "calls", "--user", "ops1")

    job = ImportJob.objects.get()
    assert output.splitlines()[0].startswith(f"✓ import #{job.pk} (calls) of calls.csv: 3 rows read in ")
    assert output.splitlines()[0].endswith(" — 2 imported, 0 already imported, 1 rejected; 2 new customers")
    assert f"1 rows rejected: see {Path(job.error_report.path)}" in output
    assert "row 4: 手机号: “12345” is not a valid phone number for its region." in output
    assert job.actor.username == "ops1"
    assert job.status == ImportJob.Status.DONE
    assert TimelineEntry.objects.count() == 2


def test_running_it_again_reports_duplicates(tmp_path):
    path = write_xlsx(tmp_path / "calls.xlsx", ROWS[:3])
    import_followups(str(path), "--kind", "calls")

    output = import_followups(str(path), "--kind", "calls")

    assert "2 rows read" in output
    assert "0 imported, 2 already imported, 0 rejected; 0 new customers" in output
    assert "rejected: see" not in output
    assert TimelineEntry.objects.count() == 2
    assert Customer.objects.count() == 2


def test_a_failed_job_exits_with_an_error_and_writes_nothing(tmp_path):
    path = write_csv(tmp_path / "calls.csv", [["手机号", "通话时间"], ["13800138000", "2024-03-01 09:05"]])

    with pytest.raises(CommandError) as caught:
        import_followups(str(path), "--kind", "calls")

    job = ImportJob.objects.get()
    assert str(caught.value) == f"import #{job.pk} of calls.csv failed: {job.message}"
    assert "direction" in job.message and "duration" in job.message
    assert job.status == ImportJob.Status.FAILED
    assert TimelineEntry.objects.count() == 0
    assert Customer.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv", "--kind", "calls"], "missing.csv: no such file"),
        (["{file}", "--kind", "calls", "--user", "nobody"], "--user nobody: no such user"),
        (["{file}", "--kind", "sms", "--job", "999"], "--job 999: no sms import with this id"),
    ],
)
def test_refused_arguments_create_no_job(tmp_path, args, message):
    path = write_csv(tmp_path / "calls.csv", ROWS)

    with pytest.raises(CommandError, match=message):
        import_followups(*[arg.format(file=path) for arg in args])

    assert ImportJob.objects.count() == 0


def test_resumes_a_job_by_its_id(tmp_path):
    path = write_csv(tmp_path / "calls.csv", ROWS)
    job = ImportJob.objects.create(kind=ImportJob.Kind.CALLS, file_name=path.name, status=ImportJob.Status.FAILED)

    output = import_followups(str(path), "--kind", "calls", "--job", str(job.pk))

    assert output.startswith(f"✓ import #{job.pk} (calls)")
    assert ImportJob.objects.count() == 1
    job.refresh_from_db()
    assert (job.status, job.imported_rows, job.rejected_rows) == (ImportJob.Status.DONE, 2, 1)


@pytest.mark.django_db(transaction=True)
def test_a_terminal_gets_a_progress_bar(tmp_path):
    path = write_csv(tmp_path / "calls.csv", ROWS)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "import_followups", str(path), "--kind", "calls"],
        cwd=ROOT,
        env=subprocess_env(MEDIA_ROOT=str(tmp_path / "media")),
        stdout=terminal,
        stderr=terminal,
    )
    os.close(terminal)
    output = b""
    while chunk := _read(controller):
        output += chunk
    assert proc.wait(timeout=60) == 0
    text = output.decode()
    assert f"\r  [{'#' * 30}] 100% 3/3 " in text
    assert "2 imported, 0 already imported, 1 rejected" in text
    assert TimelineEntry.objects.count() == 2


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 4096)
    except OSError:  # the other end closed
        return b""
