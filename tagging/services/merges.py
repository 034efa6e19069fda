"""A merged customer's tags move to the customer it is merged into (``customers.merging``, in the merge's
transaction, before the merged customer is deleted)."""

from __future__ import annotations

from django.db import transaction

from tagging.models import CustomerTag, TagTarget
from tagging.services.assignments import rebuild_tag_arrays


def customer_tags_merge(*, into_id: int, other_id: int) -> int:
    """Move ``other``'s tag assignments to ``into`` with their source, actor, rule and time; where both carry a
    tag, ``into``'s row stays (``other``'s goes with ``other``). Rebuilds both ``tag_ids`` arrays (the merge
    holds both customers' locks). Returns how many assignments moved."""
    with transaction.atomic(savepoint=False):  # joins the caller's (the hook's) transaction
        moved = (
            CustomerTag.objects.filter(customer_id=other_id)
            .exclude(tag_id__in=CustomerTag.objects.filter(customer_id=into_id).values("tag_id"))
            .update(customer_id=into_id)
        )
        rebuild_tag_arrays(target=TagTarget.CUSTOMER, ids=sorted({into_id, other_id}))
    return moved
