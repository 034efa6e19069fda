"""The imports admin: an ops user uploads a file, the job runs in the task (after commit), the job page shows the
counts and first errors, and the error report downloads; who may do what; and the whole way through a real worker."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from customers.models import Customer, ImportJob, TimelineEntry
from customers.services.imports import import_upload_path
from customers.tasks import import_followups
from scrm.core.roles import OPS, SALES
from tests.customers.import_files import CALLS_HEADER, media_fixture  # noqa: F401
from tests.helpers import wait_until

pytestmark = pytest.mark.usefixtures("media", "english")

UPLOAD = "/admin/customers/importjob/upload/"


@pytest.fixture
def english(client, settings):
    """Pages in English (``ops_client`` is this same client): assert on the source messages, not zh-hans."""
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"


def calls_file(name: str = "通话 记录.csv") -> SimpleUploadedFile:
    out = io.StringIO()
    csv.writer(out).writerows(
        [
            CALLS_HEADER,
            ["13800138000", "2024-03-01 09:05", "呼入", "35", "", ""],
            ["13900139000", "2024-03-02 09:05", "呼出", "60", "", ""],
            ["12345", "2024-03-02 09:05", "呼出", "60", "", ""],
        ]
    )
    return SimpleUploadedFile(name, out.getvalue().encode("utf-8-sig"), content_type="text/csv")


@pytest.mark.django_db
def test_ops_upload_runs_the_import_after_commit(ops_client, django_capture_on_commit_callbacks):
    page = ops_client.get(UPLOAD)
    assert page.status_code == 200
    assert "通话时长" in page.content.decode()  # the accepted headers are listed

    with django_capture_on_commit_callbacks() as callbacks:
        response = ops_client.post(UPLOAD, {"kind": "calls", "file": calls_file()})

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/customers/importjob/{job.pk}/change/"
    assert (job.status, job.kind, job.file_name, job.actor.username) == ("pending", "calls", "通话_记录.csv", "ops1")
    assert import_upload_path(job).read_bytes() == calls_file().read()
    assert len(callbacks) == 1  # the task is sent once the job is committed, not before
    assert TimelineEntry.objects.count() == 0

    with translation.override("en"):
        import_followups(job.pk)  # what the worker runs

    job.refresh_from_db()
    assert (job.status, job.total_rows, job.imported_rows, job.rejected_rows) == ("done", 3, 2, 1)
    body = ops_client.get(f"/admin/customers/importjob/{job.pk}/change/").content.decode()
    assert "“12345” is not a valid phone number for its region." in body
    assert f"/admin/customers/importjob/{job.pk}/error-report/" in body
    report = ops_client.get(f"/admin/customers/importjob/{job.pk}/error-report/")
    assert report.status_code == 200
    assert report["Content-Disposition"] == f'attachment; filename="import-{job.pk}-errors.csv"'
    lines = b"".join(report.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[1].startswith("4,手机号,“12345” is not a valid phone number")
    listing = ops_client.get("/admin/customers/importjob/").content.decode()
    assert "通话_记录.csv" in listing and UPLOAD in listing


@pytest.mark.django_db
def test_a_file_of_another_type_is_refused_without_a_job(ops_client):
    response = ops_client.post(
        UPLOAD, {"kind": "calls", "file": SimpleUploadedFile("calls.pdf", b"%PDF", content_type="application/pdf")}
    )

    assert response.status_code == 200
    assert "is neither a CSV nor an XLSX file" in response.content.decode()
    assert ImportJob.objects.count() == 0


@pytest.mark.django_db
def test_jobs_are_read_only_and_only_importers_upload(client, ops_client, make_user):
    job = ImportJob.objects.create(kind="calls", file_name="calls.csv")
    assert ops_client.get(f"/admin/customers/importjob/{job.pk}/change/").status_code == 200
    assert ops_client.get("/admin/customers/importjob/add/").status_code == 403
    assert ops_client.get(f"/admin/customers/importjob/{job.pk}/delete/").status_code == 403

    sales = make_user("sales1", role=SALES, is_staff=True)
    sales.user_permissions.add(Permission.objects.get(codename="view_importjob"))
    client.force_login(sales)
    assert client.get(UPLOAD).status_code == 403
    assert client.post(UPLOAD, {"kind": "calls", "file": calls_file()}).status_code == 403
    assert ImportJob.objects.count() == 1


@pytest.mark.django_db
def test_the_error_report_needs_the_full_phone_permission(client, make_user, tmp_path):
    job = ImportJob.objects.create(kind="calls", file_name="calls.csv")
    job.error_report.save("job.csv", io.BytesIO(b"row,column,reason\n"), save=True)
    viewer = make_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_importjob"))
    client.force_login(viewer)

    assert client.get(f"/admin/customers/importjob/{job.pk}/error-report/").status_code == 403

    viewer.user_permissions.add(Permission.objects.get(codename="view_full_phone"))
    client.force_login(viewer)
    assert client.get(f"/admin/customers/importjob/{job.pk}/error-report/").status_code == 200
    assert client.get("/admin/customers/importjob/999/error-report/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_an_upload_is_imported_by_a_real_worker(celery_worker, client, make_user, settings):
    # the worker shares the default MEDIA_ROOT under SCRM_VAR_DIR, not this test's own
    settings.MEDIA_ROOT = settings.VAR_DIR / "media"
    client.force_login(make_user("ops1", role=OPS, is_staff=True))

    response = client.post(UPLOAD, {"kind": "calls", "file": calls_file("worker.csv")})

    assert response.status_code == 302
    job = wait_until(lambda: ImportJob.objects.filter(status=ImportJob.Status.DONE).first(), timeout=60)
    assert job is not None, ImportJob.objects.values("status", "message").first()
    assert (job.total_rows, job.imported_rows, job.duplicate_rows, job.rejected_rows) == (3, 2, 0, 1)
    assert Customer.objects.filter(origin=Customer.Origin.IMPORT).count() == 2
    assert TimelineEntry.objects.count() == 2
