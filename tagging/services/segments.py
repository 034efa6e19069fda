"""Saved segments: a named expression over customers or customer groups, with the count taken when it was saved
or last recounted. The expression is checked against the taxonomy on every save (parse and resolve every name),
so a saved segment always ran once; a tag deleted later makes the recount fail with the same positioned error.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.core.services import acting_user, audit_record
from tagging.models import Segment, TagTarget
from tagging.segments import SegmentError, customers_in_segment, groups_in_segment, validate


def segment_create(*, name: str, expression: str, target: str = TagTarget.CUSTOMER, actor=None) -> Segment:
    """A new saved segment, counted."""
    segment = Segment(
        name=(name or "").strip(),
        target=target,
        expression=(expression or "").strip(),
        created_by=acting_user(actor),
    )
    _check(segment)
    with transaction.atomic():
        segment.save(force_insert=True)
        audit_record(
            actor=actor,
            action="segment_create",
            target=segment,
            changes={"target": segment.target, "expression": segment.expression},
        )
        _count(segment)
    return segment


def segment_update(
    *,
    segment: Segment,
    name: str | None = None,
    expression: str | None = None,
    target: str | None = None,
    actor=None,
) -> list[str]:
    """Change what is given (``None`` leaves a field as it is); returns the fields that changed. A new expression
    or target is checked and counted again."""
    with transaction.atomic():
        locked = Segment.objects.select_for_update().get(pk=segment.pk)
        values = {
            "name": name.strip() if name is not None else None,
            "expression": expression.strip() if expression is not None else None,
            "target": target,
        }
        changes = {
            field: [getattr(locked, field), value]
            for field, value in values.items()
            if value is not None and value != getattr(locked, field)
        }
        if not changes:
            return []
        for field, (_before, after) in changes.items():
            setattr(locked, field, after)
        _check(locked)
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(actor=actor, action="segment_update", target=locked, changes=changes)
        if {"expression", "target"} & changes.keys():
            _count(locked)
    for field in (*changes, "updated_at", "last_count", "counted_at"):
        setattr(segment, field, getattr(locked, field))
    return list(changes)


def segment_delete(*, segment: Segment, actor=None) -> None:
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="segment_delete",
            target=segment,
            changes={"name": segment.name, "target": segment.target, "expression": segment.expression},
        )
        Segment.objects.filter(pk=segment.pk).delete()


def segment_count_refresh(*, segment: Segment) -> int:
    """Count the segment now (every customer or group in it, whoever asks) and store the figure and the time.
    An expression that no longer resolves (a tag deleted since) is a ValidationError on ``expression``."""
    with transaction.atomic():
        return _count(segment)


def _check(segment: Segment) -> None:
    segment.full_clean(validate_constraints=False)  # the name check below says which field
    taken = Segment.objects.filter(name=segment.name, target=segment.target).exclude(pk=segment.pk)
    if taken.exists():
        raise ValidationError(
            {
                "name": _("A segment of %(target)s named “%(name)s” already exists.")
                % {"target": TagTarget(segment.target).label, "name": segment.name}
            }
        )
    try:
        validate(segment.expression, target=segment.target)
    except SegmentError as exc:
        raise exc.as_validation_error("expression") from None


def _count(segment: Segment) -> int:
    try:
        members = (
            customers_in_segment(segment.expression)
            if segment.target == TagTarget.CUSTOMER
            else groups_in_segment(segment.expression)
        )
        count = members.count()
    except SegmentError as exc:
        raise exc.as_validation_error("expression") from None
    segment.last_count, segment.counted_at = count, timezone.now()
    Segment.objects.filter(pk=segment.pk).update(last_count=segment.last_count, counted_at=segment.counted_at)
    return count
