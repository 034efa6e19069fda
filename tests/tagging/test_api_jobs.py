"""The bulk jobs API: operations start a job (the task after commit), anyone who may view jobs follows its
progress, operations undo it; sales may not start or undo; and the whole way through a real Celery worker."""

import pytest
from rest_framework.test import APIClient

from scrm.core.roles import SALES
from tagging.models import CustomerTag, TagBulkJob
from tagging.services.bulk import tag_bulk_job_run
from tests.helpers import wait_until
from tests.tagging.bulk_fixtures import corp_fixture  # noqa: F401

JOBS = "/api/tagging/bulk-jobs/"


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    client.credentials(HTTP_ACCEPT_LANGUAGE="en")
    return client


def body(corp, **fields):
    return {"tag": corp.tags["复购"].pk, "action": "add", "expression": "奶粉", **fields}


@pytest.mark.django_db
def test_ops_start_a_job_that_runs_after_commit_and_follow_its_progress(corp, django_capture_on_commit_callbacks):
    client = client_for(corp.ops)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(JOBS, body(corp, expression=" 奶粉 "), format="json")

    assert response.status_code == 201, response.json()
    job = TagBulkJob.objects.get()
    assert len(callbacks) == 1
    data = response.json()
    assert {
        k: data[k] for k in ("id", "tag", "tag_label", "action", "expression", "status", "total", "created_by")
    } == {
        "id": job.pk,
        "tag": corp.tags["复购"].pk,
        "tag_label": "兴趣/复购",
        "action": "add",
        "expression": "奶粉",
        "status": "pending",
        "total": None,
        "created_by": "ops-bulk",
    }

    tag_bulk_job_run(job_id=job.pk)
    data = client.get(f"{JOBS}{job.pk}/").json()
    assert {k: data[k] for k in ("status", "total", "processed", "changed", "progress", "error")} == {
        "status": "done",
        "total": 6,
        "processed": 6,
        "changed": 5,
        "progress": 1.0,
        "error": "",
    }
    assert data["finished_at"] is not None


@pytest.mark.django_db
def test_a_refused_job_is_a_400_naming_the_field_and_writes_nothing(corp, django_capture_on_commit_callbacks):
    client = client_for(corp.ops)
    with django_capture_on_commit_callbacks() as callbacks:
        bad_expression = client.post(JOBS, body(corp, expression="奶粉 AND ("), format="json")
        deleted_tag = client.post(JOBS, body(corp, tag=corp.tags["旧"].pk), format="json")
        bad_action = client.post(JOBS, body(corp, action="toggle"), format="json")

    assert bad_expression.status_code == 400
    assert list(bad_expression.json()["fields"]) == ["expression"]
    assert deleted_tag.status_code == 400
    assert deleted_tag.json()["fields"] == {"tag": ["The tag “旧” has been deleted."]}
    assert bad_action.status_code == 400
    assert list(bad_action.json()["fields"]) == ["action"]
    assert callbacks == []
    assert TagBulkJob.objects.count() == 0


@pytest.mark.django_db
def test_sales_may_follow_a_job_but_not_start_or_undo_one(corp, make_user, django_capture_on_commit_callbacks):
    sales = client_for(make_user("sales-bulk", role=SALES))
    with django_capture_on_commit_callbacks():
        job_id = client_for(corp.ops).post(JOBS, body(corp), format="json").json()["id"]
    tag_bulk_job_run(job_id=job_id)

    assert sales.post(JOBS, body(corp), format="json").status_code == 403
    assert sales.post(f"{JOBS}{job_id}/undo/").status_code == 403
    assert sales.get(f"{JOBS}{job_id}/").json()["status"] == "done"
    assert APIClient().get(f"{JOBS}{job_id}/").status_code in (401, 403)
    assert client_for(make_user("nobody")).get(f"{JOBS}{job_id}/").status_code == 403
    assert client_for(corp.ops).get(f"{JOBS}{job_id + 1}/").status_code == 404
    assert TagBulkJob.objects.count() == 1
    assert TagBulkJob.objects.get().status == "done"


@pytest.mark.django_db
def test_ops_undo_a_finished_job_only(corp, django_capture_on_commit_callbacks):
    client = client_for(corp.ops)
    with django_capture_on_commit_callbacks():
        job_id = client.post(JOBS, body(corp), format="json").json()["id"]

    early = client.post(f"{JOBS}{job_id}/undo/")
    assert early.status_code == 400
    assert early.json()["fields"] == {"status": ["Only a finished job can be undone."]}

    tag_bulk_job_run(job_id=job_id)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"{JOBS}{job_id}/undo/")
    assert response.status_code == 202
    assert response.json()["status"] == "undoing"
    assert len(callbacks) == 1


@pytest.mark.django_db(transaction=True)
def test_a_job_and_its_undo_run_in_a_real_worker(celery_worker, corp):
    client = client_for(corp.ops)

    job_id = client.post(JOBS, body(corp), format="json").json()["id"]
    done = wait_until(lambda: client.get(f"{JOBS}{job_id}/").json()["status"] in ("done", "failed"), timeout=60)
    data = client.get(f"{JOBS}{job_id}/").json()
    assert done and (data["status"], data["changed"], data["error"]) == ("done", 5, "")
    assert CustomerTag.objects.filter(tag=corp.tags["复购"]).count() == 6

    assert client.post(f"{JOBS}{job_id}/undo/").status_code == 202
    wait_until(lambda: client.get(f"{JOBS}{job_id}/").json()["status"] != "undoing", timeout=60)
    assert client.get(f"{JOBS}{job_id}/").json()["status"] == "undone"
    assert list(CustomerTag.objects.filter(tag=corp.tags["复购"]).values_list("customer_id", flat=True)) == [
        corp.members[1].pk
    ]
