"""The customer 360 view: one read that gathers a customer's profile, WeCom contacts and their follow relations,
stage history, latest orders and the head of the timeline, plus sections other apps contribute.

Tags and groups live in ``tagging`` and ``groups``, which depend on ``customers`` and not the other way round, so
they register their part here (``register_profile_section``) from their app's ``ready()``. Each section costs a
fixed number of queries, so the whole view does too, however long a customer's history is.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import F

from customers.models import Customer, ExternalContact, Order, StageChange, TimelineEntry
from customers.selectors import customer_timeline

STAGE_HISTORY_LENGTH = 20
LATEST_ORDERS = 10
TIMELINE_HEAD = 20

# The 360 view's own keys: a section may not shadow them.
RESERVED_NAMES = frozenset({"profile", "contacts", "stage_history", "orders", "timeline"})

# fn(customer, contacts): ``contacts`` as ``customer_contacts`` returns them (dicts, relations included)
SectionFn = Callable[[Customer, list[dict[str, Any]]], Any]


@dataclass(frozen=True)
class ProfileSection:
    name: str
    fn: SectionFn
    # describes the section's items in the OpenAPI schema; None = free-form JSON
    serializer: type | None = None


_sections: dict[str, ProfileSection] = {}


def register_profile_section(name: str, fn: SectionFn, *, serializer: type | None = None) -> None:
    """Add ``name`` to the 360 view: ``fn(customer, contacts)`` returns JSON-able data. ``contacts`` are what
    ``customer_contacts`` returns (each with its ``relations``), so reading them costs no query; ``fn`` should
    cost a fixed number of queries. Registering the same name again replaces it (autoreload imports twice)."""
    if name in RESERVED_NAMES:
        raise ValueError(f"{name!r} is a key of the 360 view itself")
    _sections[name] = ProfileSection(name=name, fn=fn, serializer=serializer)


def profile_sections() -> dict[str, ProfileSection]:
    return dict(_sections)


def customer_360(*, customer: Customer) -> dict[str, Any]:
    """Everything the 360 view shows about ``customer`` (fetched with ``customer_360_queryset``). Queries: contacts
    with their relations, stage history, orders, timeline head, and each registered section's own.

    Rows that are only shown are read as values, not model instances: on this path Django's model building and
    ``select_related`` cost more CPU than the database does."""
    contacts = customer_contacts(customer=customer)
    history = list(
        StageChange.objects.filter(customer=customer)
        .order_by("-changed_at", "-id")
        .values("pipeline", "from_value", "to_value", "reason", "changed_at", actor_username=F("actor__username"))[
            :STAGE_HISTORY_LENGTH
        ]
    )
    orders = list(Order.objects.filter(customer=customer).order_by("-ordered_at", "-id")[:LATEST_ORDERS])
    head = customer_timeline(customer=customer, limit=TIMELINE_HEAD + 1)
    data: dict[str, Any] = {
        "profile": customer,
        "contacts": contacts,
        "stage_history": history,
        "orders": orders,
        "timeline": timeline_page(head, limit=TIMELINE_HEAD),
    }
    for name, section in _sections.items():
        data[name] = section.fn(customer, contacts)
    return data


CONTACT_FIELDS = ("external_userid", "name", "avatar", "type", "gender", "corp_name")
RELATION_FIELDS = ("remark", "description", "state", "add_way", "added_at", "status", "status_changed_at")


def customer_contacts(*, customer: Customer) -> list[dict[str, Any]]:
    """The customer's WeCom contacts, oldest first, each with ``relations`` (its follow relations, active or
    ended, oldest first: ``employee`` {id, userid, name}, the relation's fields and ``wecom_tag_ids``). One
    query: contacts left-joined to relations and employees, folded here."""
    relation = [f"follow_relations__{name}" for name in (*RELATION_FIELDS, "wecom_tag_ids", "id")]
    rows = (
        ExternalContact.objects.filter(customer=customer)
        .order_by("created_at", "id", "follow_relations__added_at", "follow_relations__id")
        .values(
            "id",
            *CONTACT_FIELDS,
            *relation,
            "follow_relations__employee_id",
            "follow_relations__employee__userid",
            "follow_relations__employee__name",
        )
    )
    contacts: dict[int, dict[str, Any]] = {}
    for row in rows:
        contact = contacts.get(row["id"])
        if contact is None:
            contact = contacts[row["id"]] = {name: row[name] for name in CONTACT_FIELDS} | {"relations": []}
        if row["follow_relations__id"] is not None:  # a contact nobody follows has one row of nulls
            contact["relations"].append(
                {name: row[f"follow_relations__{name}"] for name in (*RELATION_FIELDS, "wecom_tag_ids")}
                | {
                    "employee": {
                        "id": row["follow_relations__employee_id"],
                        "userid": row["follow_relations__employee__userid"],
                        "name": row["follow_relations__employee__name"],
                    }
                }
            )
    return list(contacts.values())


def customer_360_queryset(customers):
    """The joins the profile part shows: one query for the customer row."""
    return customers.select_related("owner", "opportunity_stage", "tier", "referred_by")


def timeline_page(entries: list[TimelineEntry], *, limit: int) -> dict[str, Any]:
    """A page read with ``limit + 1`` rows: the extra row only tells that there is more."""
    page = entries[:limit]
    more = len(entries) > limit
    return {"results": page, "next_cursor": timeline_cursor(page[-1]) if more and page else None}


def timeline_cursor(entry: TimelineEntry) -> str:
    """An opaque position after ``entry``: its (occurred_at, id), the timeline's sort key (ids break ties)."""
    raw = f"{entry.occurred_at.isoformat()}|{entry.pk}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def timeline_cursor_decode(cursor: str) -> tuple[datetime, int]:
    """The (occurred_at, id) inside a cursor; ValueError if it was not made by ``timeline_cursor``."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at_text, _sep, pk_text = raw.rpartition("|")
        at, pk = datetime.fromisoformat(at_text), int(pk_text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a timeline cursor") from exc
    if at.tzinfo is None or pk <= 0:
        raise ValueError("not a timeline cursor")
    return at, pk
