"""The bulk jobs admin: the form counts the segment before the job is confirmed, the list shows the progress, undo
asks for confirmation, a failed job runs again; sales may do none of it."""

import pytest

from scrm.core.roles import SALES
from tagging.models import TagBulkJob
from tagging.services.bulk import tag_bulk_job_run
from tests.tagging.bulk_fixtures import corp_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

NEW = "/admin/tagging/tagbulkjob/new/"
LIST = "/admin/tagging/tagbulkjob/"


@pytest.fixture
def ops(client, corp, settings):
    client.force_login(corp.ops)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # assert on the source messages, not zh-hans
    return client


def form(corp, **fields):
    return {"tag": corp.tags["复购"].pk, "action": "add", "expression": "奶粉", **fields}


def start(ops, corp, capture, **fields) -> TagBulkJob:
    with capture() as callbacks:
        response = ops.post(NEW, {**form(corp, **fields), "confirm": "yes"})
    assert len(callbacks) == 1
    job = TagBulkJob.objects.latest("pk")
    assert response.status_code == 302
    assert response["Location"] == f"/admin/tagging/tagbulkjob/{job.pk}/change/"
    return job


def test_the_form_counts_the_segment_before_anything_starts(ops, corp, django_capture_on_commit_callbacks):
    page = ops.get(NEW)
    assert page.status_code == 200
    assert "兴趣/复购" in page.content.decode()  # tags are offered by label
    assert "个人标签/老客" not in page.content.decode()  # personal WeCom tags are not

    with django_capture_on_commit_callbacks() as callbacks:
        preview = ops.post(NEW, form(corp))

    html = preview.content.decode()
    assert preview.status_code == 200
    assert '<td id="segment-count">6</td>' in html
    assert '<td id="segment-changes"><strong>5</strong></td>' in html  # one already carries the tag
    assert 'name="confirm" value="yes"' in html
    assert callbacks == []
    assert TagBulkJob.objects.count() == 0

    removal = ops.post(NEW, form(corp, action="remove")).content.decode()
    assert '<td id="segment-changes"><strong>1</strong></td>' in removal

    job = start(ops, corp, django_capture_on_commit_callbacks)
    assert (job.status, job.action, job.expression, job.created_by) == ("pending", "add", "奶粉", corp.ops)


def test_a_bad_expression_is_shown_at_its_position_and_nothing_starts(ops, corp, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = ops.post(NEW, {**form(corp, expression="奶粉 AND 不存在"), "confirm": "yes"})

    assert response.status_code == 200
    assert "Unknown tag “不存在” at position 7" in response.content.decode()
    assert callbacks == []
    assert TagBulkJob.objects.count() == 0


def test_the_list_and_the_page_show_the_progress(ops, corp, django_capture_on_commit_callbacks):
    job = start(ops, corp, django_capture_on_commit_callbacks)
    pending = ops.get(f"/admin/tagging/tagbulkjob/{job.pk}/change/").content.decode()
    assert '<meta http-equiv="refresh" content="3">' in pending  # the page follows a job in progress

    tag_bulk_job_run(job_id=job.pk)

    listing = ops.get(LIST).content.decode()
    assert '<progress value="6" max="6"></progress> 100% (6 / 6)' in listing
    assert 'href="/admin/tagging/tagbulkjob/new/"' in listing
    done = ops.get(f"/admin/tagging/tagbulkjob/{job.pk}/change/").content.decode()
    assert 'http-equiv="refresh"' not in done


def test_undo_asks_for_confirmation_first(ops, corp, django_capture_on_commit_callbacks):
    job = start(ops, corp, django_capture_on_commit_callbacks)
    action = {"action": "undo_jobs", "_selected_action": [job.pk]}

    refused = ops.post(LIST, action, follow=True)
    assert "Only finished jobs can be undone." in refused.content.decode()

    tag_bulk_job_run(job_id=job.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        confirm = ops.post(LIST, action)
    assert confirm.status_code == 200
    assert "<code>奶粉</code>" in confirm.content.decode()
    assert callbacks == []
    job.refresh_from_db()
    assert job.status == "done"

    with django_capture_on_commit_callbacks() as callbacks:
        response = ops.post(LIST, {**action, "confirm": "yes"}, follow=True)
    assert f"Job #{job.pk} is being undone." in response.content.decode()
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == "undoing"


def test_a_failed_job_runs_again(ops, corp, django_capture_on_commit_callbacks):
    job = start(ops, corp, django_capture_on_commit_callbacks)
    TagBulkJob.objects.filter(pk=job.pk).update(status=TagBulkJob.Status.FAILED, error="RuntimeError: lost")

    with django_capture_on_commit_callbacks() as callbacks:
        response = ops.post(LIST, {"action": "retry_jobs", "_selected_action": [job.pk]}, follow=True)

    assert "1 failed job will run again from where it stopped." in response.content.decode()
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert (job.status, job.error) == ("pending", "")


def test_sales_may_look_but_not_start_undo_or_retry(client, corp, make_user, django_capture_on_commit_callbacks):
    TagBulkJob.objects.create(tag=corp.tags["复购"], action="add", expression="奶粉", status="done")
    client.force_login(make_user("sales-bulk", role=SALES, is_staff=True))

    assert client.get(NEW).status_code == 403
    assert client.post(NEW, {**form(corp), "confirm": "yes"}).status_code == 403
    listing = client.get(LIST)
    assert listing.status_code == 200
    assert "tagbulkjob/new/" not in listing.content.decode()
    assert 'value="undo_jobs"' not in listing.content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        client.post(LIST, {"action": "undo_jobs", "_selected_action": [TagBulkJob.objects.get().pk], "confirm": "yes"})
    assert callbacks == []
    assert TagBulkJob.objects.get().status == "done"
