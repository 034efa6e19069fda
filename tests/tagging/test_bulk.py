"""tagging.services.bulk: a segment tagged or untagged as a job, in recorded chunks with exact counts; running it
again changes nothing; a failure keeps what was done and the job resumes; undo reverses exactly the chunks."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone, translation

from customers.models import Customer, TimelineEntry
from tagging.models import CustomerTag, Source, TagBulkJob, TagBulkJobChunk, TagRule, WeComTagPush
from tagging.services import bulk as bulk_service
from tagging.services import customer_tags_change
from tagging.services.bulk import (
    tag_bulk_job_create,
    tag_bulk_job_retry,
    tag_bulk_job_run,
    tag_bulk_job_undo,
    tag_bulk_job_undo_run,
)
from tests.tagging.bulk_fixtures import corp_fixture  # noqa: F401

pytestmark = pytest.mark.django_db

ADD, REMOVE = TagBulkJob.Action.ADD, TagBulkJob.Action.REMOVE


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def create(corp, action=ADD, expression="奶粉", tag="复购", *, capture):
    with capture() as callbacks:
        job = tag_bulk_job_create(tag=corp.tags[tag], action=action, expression=expression, actor=corp.ops)
    assert len(callbacks) == 1  # the task, once the job is committed
    return job


def run(job, **kwargs) -> TagBulkJob:
    tag_bulk_job_run(job_id=job.pk, **kwargs)
    job.refresh_from_db()
    return job


def undo(job, actor) -> TagBulkJob:
    tag_bulk_job_undo(job=job, actor=actor)
    tag_bulk_job_undo_run(job_id=job.pk, actor=actor)
    job.refresh_from_db()
    return job


def carriers(tag) -> list[int]:
    return sorted(CustomerTag.objects.filter(tag=tag).values_list("customer_id", flat=True))


def arrays_match_rows() -> bool:
    rows = {}
    for customer_id, tag_id in CustomerTag.objects.values_list("customer_id", "tag_id"):
        rows.setdefault(customer_id, []).append(tag_id)
    return all(sorted(rows.get(c.pk, [])) == sorted(c.tag_ids) for c in Customer.objects.all())


def timeline_count() -> int:
    return TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE).count()


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"action": "toggle"}, {"action": ["Choose whether to tag or to untag."]}),
        ({"tag": "旧"}, {"tag": ["The tag “旧” has been deleted."]}),
        (
            {"tag": "老客"},
            {"tag": ["“老客” is an employee's personal WeCom tag: it can only be changed in WeCom."]},
        ),
        ({"expression": "奶粉 AND"}, "expression"),
        ({"expression": "不存在的标签"}, "expression"),
    ],
)
def test_create_refuses_a_bad_action_tag_or_expression_and_writes_nothing(
    corp, fields, error, django_capture_on_commit_callbacks
):
    given = {"tag": "复购", "action": ADD, "expression": "奶粉", **fields}
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError) as refused:
        tag_bulk_job_create(
            tag=corp.tags[given["tag"]], action=given["action"], expression=given["expression"], actor=corp.ops
        )
    if isinstance(error, str):
        assert list(refused.value.message_dict) == [error]
    else:
        assert refused.value.message_dict == error
    assert callbacks == []
    assert TagBulkJob.objects.count() == 0


def test_a_job_tags_the_segment_in_recorded_chunks_with_exact_counts(corp, django_capture_on_commit_callbacks):
    job = create(corp, capture=django_capture_on_commit_callbacks)
    assert (job.status, job.total, job.processed, job.expression, job.created_by) == (
        "pending",
        None,
        0,
        "奶粉",
        corp.ops,
    )
    before = timeline_count()

    job = run(job, chunk_size=4)

    ids = [c.pk for c in corp.members]
    assert (job.status, job.total, job.processed, job.changed, job.error) == ("done", 6, 6, 5, "")
    assert job.started_at and job.finished_at
    chunks = list(job.chunks.order_by("seq").values_list("seq", "customer_ids", "removed"))
    # the first chunk of four held the customer tagged by hand already: three changed there, two in the second
    assert chunks == [(0, [ids[0], ids[2], ids[3]], {}), (1, [ids[4], ids[5]], {})]
    assert carriers(corp.tags["复购"]) == ids
    made = CustomerTag.objects.filter(tag=corp.tags["复购"], job=job)
    assert sorted(made.values_list("customer_id", flat=True)) == [ids[0], *ids[2:]]
    assert set(made.values_list("source", "actor")) == {(Source.MANUAL, corp.ops.pk)}
    assert CustomerTag.objects.get(tag=corp.tags["复购"], customer=corp.members[1]).job is None  # by hand, untouched
    assert arrays_match_rows()
    assert timeline_count() - before == 5
    assert WeComTagPush.objects.count() == 0  # none of them has a WeCom follow relation to show it on


def test_running_a_job_again_or_the_same_job_twice_changes_nothing(corp, django_capture_on_commit_callbacks):
    job = run(create(corp, capture=django_capture_on_commit_callbacks))
    before = (timeline_count(), CustomerTag.objects.count(), TagBulkJobChunk.objects.count())

    assert run(job).changed == 5  # a done job is not run again
    second = run(create(corp, capture=django_capture_on_commit_callbacks))

    assert (second.status, second.total, second.processed, second.changed) == ("done", 6, 6, 0)
    assert (timeline_count(), CustomerTag.objects.count(), TagBulkJobChunk.objects.count()) == before


def test_undoing_an_add_leaves_tags_set_by_hand_before_or_since(corp, django_capture_on_commit_callbacks, make_user):
    job = run(create(corp, capture=django_capture_on_commit_callbacks), chunk_size=2)
    ids = [c.pk for c in corp.members]
    # since the job: someone took 复购 off members[2] and put it on again by hand
    customer_tags_change(customer_ids=[ids[2]], remove=[corp.tags["复购"].pk], source=Source.MANUAL)
    customer_tags_change(customer_ids=[ids[2]], add=[corp.tags["复购"].pk], source=Source.MANUAL, actor=corp.earlier)
    before = timeline_count()
    undoer = make_user("undoer")

    job = undo(job, undoer)

    assert (job.status, job.changed) == ("undone", 5)
    assert job.undone_at is not None
    assert carriers(corp.tags["复购"]) == [ids[1], ids[2]]
    kept = CustomerTag.objects.get(tag=corp.tags["复购"], customer_id=ids[1])
    assert (kept.source, kept.actor, kept.job) == (Source.MANUAL, corp.earlier, None)
    assert arrays_match_rows()
    entries = TimelineEntry.objects.filter(kind=TimelineEntry.Kind.TAG_CHANGE).order_by("pk")[before:]
    assert sorted(e.customer_id for e in entries) == [ids[0], *ids[3:]]
    assert {e.data["removed"][0] for e in entries} == {"兴趣/复购"}
    assert TagBulkJobChunk.objects.filter(job=job).count() == 3  # the record stays


def test_undoing_a_removal_restores_source_actor_rule_and_time_exactly(corp, django_capture_on_commit_callbacks):
    rebuy = corp.tags["复购"]
    ids = [c.pk for c in corp.members]
    rule = TagRule.objects.create(name="复购规则", tag=rebuy, kind="spend_at_least", value="500")
    long_ago = timezone.now() - timedelta(days=400)
    customer_tags_change(customer_ids=[ids[3]], add=[rebuy.pk], source=Source.RULE, rule=rule, at=long_ago)
    customer_tags_change(customer_ids=[ids[4], corp.others[0].pk], add=[rebuy.pk], source=Source.WECOM)
    fields = ("customer_id", "source", "actor_id", "rule_id", "job_id", "created_at")
    original = list(CustomerTag.objects.filter(tag=rebuy).order_by("customer_id").values_list(*fields))

    job = run(create(corp, REMOVE, capture=django_capture_on_commit_callbacks), chunk_size=2)

    assert (job.status, job.total, job.processed, job.changed) == ("done", 6, 6, 3)
    assert carriers(rebuy) == [corp.others[0].pk]  # outside the segment
    chunks = list(job.chunks.order_by("seq"))
    assert [c.customer_ids for c in chunks] == [[ids[1]], [ids[3]], [ids[4]]]
    assert chunks[1].removed == {
        "source": ["rule"],
        "actor": [None],
        "rule": [rule.pk],
        "created_at": [long_ago.isoformat()],
    }
    assert chunks[0].removed["actor"] == [corp.earlier.pk]

    job = undo(job, corp.ops)

    assert job.status == "undone"
    assert list(CustomerTag.objects.filter(tag=rebuy).order_by("customer_id").values_list(*fields)) == original
    assert arrays_match_rows()


def test_undoing_a_removal_keeps_an_assignment_made_since(corp, django_capture_on_commit_callbacks):
    rebuy, member = corp.tags["复购"], corp.members[1]
    job = run(create(corp, REMOVE, capture=django_capture_on_commit_callbacks))
    customer_tags_change(customer_ids=[member.pk], add=[rebuy.pk], source=Source.WECOM)
    since = CustomerTag.objects.get(tag=rebuy, customer=member)

    undo(job, corp.ops)

    assert list(CustomerTag.objects.filter(tag=rebuy).values_list("pk", "source")) == [(since.pk, Source.WECOM)]


def test_only_a_finished_job_can_be_undone_and_a_refusal_writes_nothing(corp, django_capture_on_commit_callbacks):
    job = create(corp, capture=django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(ValidationError) as refused:
        tag_bulk_job_undo(job=job, actor=corp.ops)
    assert refused.value.message_dict == {"status": ["Only a finished job can be undone."]}
    assert callbacks == []
    job.refresh_from_db()
    assert job.status == "pending"

    job = run(job)
    with django_capture_on_commit_callbacks() as callbacks:
        tag_bulk_job_undo(job=job, actor=corp.ops)
    assert len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == "undoing"
    with pytest.raises(ValidationError):
        tag_bulk_job_undo(job=job, actor=corp.ops)  # twice: the second is refused


def test_a_job_that_fails_halfway_keeps_its_chunks_and_resumes(corp, monkeypatch, django_capture_on_commit_callbacks):
    # the segment names the job's own tag: what the first run tagged is no longer in it when the job resumes
    job = create(corp, expression="奶粉 AND NOT 复购", capture=django_capture_on_commit_callbacks)
    real, calls = bulk_service.customer_tags_change, []

    def failing_on_the_second_chunk(**kwargs):
        calls.append(kwargs["customer_ids"])
        if len(calls) == 2:
            raise RuntimeError("connection lost")
        return real(**kwargs)

    monkeypatch.setattr(bulk_service, "customer_tags_change", failing_on_the_second_chunk)
    with pytest.raises(RuntimeError):
        tag_bulk_job_run(job_id=job.pk, chunk_size=2)
    job.refresh_from_db()
    ids = [c.pk for c in corp.members]
    assert (job.status, job.error, job.total, job.processed, job.changed) == (
        "failed",
        "RuntimeError: connection lost",
        5,
        2,
        2,
    )
    assert list(job.chunks.values_list("seq", "customer_ids")) == [(0, [ids[0], ids[2]])]
    assert carriers(corp.tags["复购"]) == [ids[0], ids[1], ids[2]]  # the failed chunk left nothing behind

    monkeypatch.setattr(bulk_service, "customer_tags_change", real)
    assert run(job).status == "failed"  # a failed job runs again only when asked
    with django_capture_on_commit_callbacks() as callbacks:
        assert tag_bulk_job_retry(job=job).status == "pending"
    assert len(callbacks) == 1
    job = run(job, chunk_size=2)

    assert (job.status, job.error, job.total, job.processed, job.changed) == ("done", "", 5, 5, 5)
    assert list(job.chunks.order_by("seq").values_list("seq", "customer_ids")) == [
        (0, [ids[0], ids[2]]),
        (1, [ids[3], ids[4]]),
        (2, [ids[5]]),
    ]
    assert carriers(corp.tags["复购"]) == ids
    assert timeline_count() == 6 + 1 + 5  # the seeding, the hand tag, then each customer the job changed once
    assert arrays_match_rows()


def test_a_job_whose_tag_is_deleted_meanwhile_fails_with_the_reason(corp, django_capture_on_commit_callbacks):
    job = create(corp, capture=django_capture_on_commit_callbacks)
    corp.tags["复购"].deleted = True
    corp.tags["复购"].save()

    job = run(job)

    assert (job.status, job.error, job.changed) == ("failed", "The tag “复购” has been deleted.", 0)
    assert job.chunks.count() == 0


@pytest.mark.postgres
def test_a_job_held_by_another_worker_is_left_alone(corp, django_capture_on_commit_callbacks):
    import psycopg2

    job = create(corp, capture=django_capture_on_commit_callbacks)
    params = connection.get_connection_params()
    other = psycopg2.connect(**params)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [bulk_service._LOCK_CLASS, job.pk])
        assert tag_bulk_job_run(job_id=job.pk) is None
        assert tag_bulk_job_undo_run(job_id=job.pk) is None
    finally:
        other.close()
    job.refresh_from_db()
    assert (job.status, job.processed) == ("pending", 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_writers_commit_chunks_in_order_so_a_failure_leaves_a_prefix(corp, monkeypatch):
    job = TagBulkJob.objects.create(tag=corp.tags["复购"], action=ADD, expression="奶粉", created_by=corp.ops)
    ids = [c.pk for c in corp.members]
    real = bulk_service.customer_tags_change

    def failing_on_the_fourth_customer(**kwargs):
        if kwargs["customer_ids"] == [ids[3]]:
            raise RuntimeError("connection lost")
        return real(**kwargs)

    monkeypatch.setattr(bulk_service, "customer_tags_change", failing_on_the_fourth_customer)
    with pytest.raises(RuntimeError):
        tag_bulk_job_run(job_id=job.pk, chunk_size=1, writers=2)
    job.refresh_from_db()
    # slice 4 ran beside slice 3 but waited for it before committing, and rolled back when it failed
    assert (job.status, job.processed, job.changed) == ("failed", 3, 2)
    assert list(job.chunks.order_by("seq").values_list("seq", "customer_ids")) == [(0, [ids[0]]), (2, [ids[2]])]
    assert carriers(corp.tags["复购"]) == ids[:3]

    monkeypatch.setattr(bulk_service, "customer_tags_change", real)
    TagBulkJob.objects.filter(pk=job.pk).update(status=TagBulkJob.Status.PENDING)
    job = run(job, chunk_size=1, writers=2)

    assert (job.status, job.total, job.processed, job.changed) == ("done", 6, 6, 5)
    assert list(job.chunks.order_by("seq").values_list("seq", "customer_ids")) == [
        (0, [ids[0]]),
        (2, [ids[2]]),
        (3, [ids[3]]),
        (4, [ids[4]]),
        (5, [ids[5]]),
    ]
    assert arrays_match_rows()

    TagBulkJob.objects.filter(pk=job.pk).update(status=TagBulkJob.Status.UNDOING)
    tag_bulk_job_undo_run(job_id=job.pk, actor=corp.ops, writers=2)
    job.refresh_from_db()
    assert job.status == "undone"
    assert carriers(corp.tags["复购"]) == [ids[1]]
    assert arrays_match_rows()
