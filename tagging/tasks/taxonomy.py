"""Corp-tag edits made here → WeCom (``tagging.services.taxonomy_push``): one push per row after commit, and a
periodic sweep for the pushes that were lost or whose retry is due."""

from celery import shared_task

from tagging.services.taxonomy_push import taxonomy_push as push
from tagging.services.taxonomy_push import taxonomy_pushes_due


@shared_task(name="tagging.taxonomy_push", ignore_result=True)
def taxonomy_push(kind: str, pk: int) -> None:
    """Send one corp tag's (``kind="tag"``) or tag group's (``"group"``) pending change to WeCom. Failures are
    recorded on the row and retried by the sweep, never by re-running this task."""
    push(kind=kind, pk=pk)


@shared_task(name="tagging.taxonomy_push_due", ignore_result=True)
def taxonomy_push_due() -> None:
    """Beat tick (every minute): queue the pushes that are due. The claim in the push keeps each row to one sender."""
    for kind, pk in taxonomy_pushes_due():
        taxonomy_push.delay(kind, pk)
