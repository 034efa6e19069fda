"""Bulk tagging jobs: run one, undo one (routed to the sync queue by name, with the full syncs and imports)."""

from celery import shared_task
from django.contrib.auth import get_user_model

from tagging.services.bulk import tag_bulk_job_run, tag_bulk_job_undo_run


# A million-customer segment takes minutes: longer limits than the default, still under the broker's visibility
# timeout (an hour), so that a running job is not delivered to a second worker.
@shared_task(name="tagging.bulk_job_run", ignore_result=True, soft_time_limit=3000, time_limit=3300)
def bulk_job_run(job_id: int) -> None:
    """Run a bulk tagging job, or resume it after a lost worker."""
    tag_bulk_job_run(job_id=job_id)


@shared_task(name="tagging.bulk_job_undo", ignore_result=True, soft_time_limit=3000, time_limit=3300)
def bulk_job_undo(job_id: int, actor_id: int | None = None) -> None:
    """Undo a bulk tagging job that ``tag_bulk_job_undo`` marked as undoing, as the user who asked."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    tag_bulk_job_undo_run(job_id=job_id, actor=actor)
