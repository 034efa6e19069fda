"""Hook subscribers that keep customers' tag assignments with their WeCom contacts: what WeCom shows on the
follow relations just written, and a merged customer's tags moving to the customer it merged into."""

from scrm.core.hooks import subscribe
from tagging.services.merges import customer_tags_merge
from tagging.services.wecom_tags import customer_tags_reconcile_from_wecom


@subscribe("customers.contacts_changed")
def contacts_changed(*, contact_ids: list[int]) -> None:
    # In the writing transaction: the tags commit with the relations that show them, or neither does.
    customer_tags_reconcile_from_wecom(contact_ids=contact_ids)


@subscribe("customers.merging")
def customers_merging(*, into_id: int, other_id: int) -> None:
    customer_tags_merge(into_id=into_id, other_id=other_id)
