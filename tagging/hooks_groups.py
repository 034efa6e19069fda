"""Hook subscribers for groups' live codes: the tags a code puts on the customers who come through it are checked
when the code is saved, and put on as they come. Groups cannot import tagging (tagging reads groups)."""

from django.core.exceptions import ValidationError
from django.db.models import Q

from scrm.core.hooks import subscribe
from tagging.models import Source, Tag, TagKind, TagTarget
from tagging.services.assignments import customer_tags_change, tags_for


@subscribe("groups.code_tags_checking")
def code_tags_checking(*, tag_ids: list[int]) -> None:
    try:
        tags_for(target=TagTarget.CUSTOMER, tag_ids=tag_ids, adding=True, source=Source.CODE)
    except ValidationError as error:
        raise ValidationError({"tag_ids": error.message_dict["tags"]}) from error


@subscribe("groups.code_customers_tagging")
def code_customers_tagging(*, customer_ids: list[int], tag_ids: list[int]) -> None:
    if not (customer_ids and tag_ids):
        return
    # A tag deleted since the code was saved is skipped: the customer still arrives, with the code's other tags.
    usable = list(
        Tag.objects.live()
        .filter(pk__in=tag_ids)
        .exclude(kind=TagKind.PERSONAL)
        .filter(Q(group__isnull=True) | Q(group__target=TagTarget.CUSTOMER))
        .values_list("pk", flat=True)
    )
    if usable:
        customer_tags_change(customer_ids=customer_ids, add=usable, source=Source.CODE)
