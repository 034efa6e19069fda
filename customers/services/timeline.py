"""The follow-up timeline: every feed (calls, SMS, WeCom chats, notes, stages, orders …) writes through here.

Each entry carries its feed's ``source_key``; the unique index on it makes every feed idempotent: feeding the same
record again returns the stored entry and changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Employee, TimelineEntry
from scrm.core.hooks import publish
from scrm.core.services import acting_user

Kind = TimelineEntry.Kind
# Entries that are a conversation with the customer: they move "last contact".
CONTACT_KINDS = frozenset({Kind.WECOM_CHAT, Kind.CALL, Kind.SMS})
NOTE_MAX_LENGTH = 5000


def timeline_add(
    *,
    customer: Customer,
    kind: str,
    channel: str,
    occurred_at: datetime,
    source_key: str,
    employee: Employee | None = None,
    summary: str = "",
    content: str = "",
    data: dict[str, Any] | None = None,
) -> tuple[TimelineEntry, bool]:
    """Record one entry; returns (entry, created). A ``source_key`` already stored returns that entry."""
    entry = TimelineEntry(
        customer=customer,
        kind=kind,
        channel=channel,
        occurred_at=occurred_at,
        source_key=source_key,
        employee=employee,
        summary=summary[:255],
        content=content,
        data=data or {},
    )
    entry.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            entry.save(force_insert=True)
            if kind in CONTACT_KINDS:
                customer_touch(customer_ids=[customer.pk], at=occurred_at)
            if kind == Kind.WECOM_CHAT:
                publish("customers.chat_recorded", customer_id=customer.pk, text=content or summary)
    except IntegrityError:
        existing = TimelineEntry.objects.filter(source_key=source_key).first()
        if existing is None:
            raise
        return existing, False
    return entry, True


def customer_touch(*, customer_ids: list[int], at: datetime) -> None:
    """Move "last contact" forward to ``at`` (never back: an imported old call does not hide a newer chat)."""
    Customer.objects.filter(pk__in=customer_ids).filter(
        Q(last_contact_at__isnull=True) | Q(last_contact_at__lt=at)
    ).update(last_contact_at=at)


def timeline_note_add(*, customer: Customer, text: str, author, employee: Employee | None = None) -> TimelineEntry:
    """A note staff write by hand (admin, API, sidebar)."""
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("The note is empty.")}, code="required")
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationError(
            {"text": _("The note is longer than %(max)s characters.") % {"max": NOTE_MAX_LENGTH}}, code="max_length"
        )
    entry, _created = timeline_add(
        customer=customer,
        kind=Kind.NOTE,
        channel=TimelineEntry.Channel.STAFF,
        occurred_at=timezone.now(),
        source_key=f"note:{uuid.uuid4().hex}",
        employee=employee or getattr(author, "employee", None),
        summary=text.splitlines()[0],
        content=text,
        data={"author": author.get_username()} if acting_user(author) else {},
    )
    return entry
