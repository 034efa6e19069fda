"""Store chunks of validated records with a few set-based statements each, in the caller's transaction.

On PostgreSQL, whatever the chunk's size: one SELECT of the customers by phone and one INSERT of the missing ones
(``ON CONFLICT DO NOTHING`` and a re-read, so a customer created meanwhile by someone else is used, not a
failure); then one INSERT of the timeline entries (``ON CONFLICT (source_key) DO NOTHING``: the rows it counts are
the new ones). Column values travel as one array literal each (``'{…}'::text[]``): psycopg2 would send a Python
list as ``ARRAY[…]`` with one expression per value, which PostgreSQL parses and plans five times slower. Rows go in
sorted by key (customers by phone), so that two writers take their locks in the same order instead of
deadlocking. Other databases (the embedded SQLite) take the ORM path, with the same result.

"Last contact" is moved by ``Touches``, once per customer per import rather than once per chunk: with the
customer table's nine indexes an update costs about 30 µs, and a file names most customers in several chunks.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.db import connection, transaction

from customers.imports.pipeline import Writers
from customers.imports.rows import Record
from customers.models import Customer, TimelineEntry
from customers.services.timeline import customer_touch
from scrm.core.db import commit_without_waiting_for_disk
from scrm.core.upsert import array_literal, insert_select, texts_literal

TOUCH_BATCH = 5000  # customers per UPDATE (and per transaction) when "last contact" is applied
TOUCH_LIMIT = 500_000  # customers remembered before applying early: bounds memory (about 100 B each)
_SQLITE_BATCH = 500  # under SQLite's limit on variables in one statement
_ID, _PHONE = Customer._meta.pk, Customer._meta.get_field("phone")
_AT = Customer._meta.get_field("last_contact_at")


class Prepared:
    """A chunk ready to store: its records unique by key, in key order, and on PostgreSQL their columns as array
    literals. Built on the reading thread, so that the writing thread (the one waiting on the database) only
    looks up the customers and sends."""

    def __init__(self, records: list[Record]):
        # the first of the same key counts; the others are duplicates
        self.records = sorted({record.source_key: record for record in reversed(records)}.values(), key=_by_key)
        self.phones = sorted({record.phone for record in self.records})
        self.columns = _entry_columns(self.records) if connection.vendor == "postgresql" else {}


def customers_ensure(phones: list[str]) -> tuple[dict[str, int], int]:
    """``{phone: customer id}`` for these numbers, creating the customers that do not exist (``origin =
    import``); returns it and how many were created."""
    if connection.vendor == "postgresql":
        return _customers_ensure(phones)
    return _customers_ensure_orm(phones)


def entries_insert(chunk: Prepared, customer_ids: dict[str, int], *, kind: str, channel: str) -> int:
    """Insert the chunk's records whose key is not stored yet; returns how many."""
    if connection.vendor == "postgresql":
        return _entries_insert(chunk, customer_ids, kind=kind, channel=channel)
    return _entries_insert_orm(chunk.records, customer_ids, kind=kind, channel=channel)


def latest_contacts(chunk: Prepared, customer_ids: dict[str, int]) -> dict[int, datetime]:
    """The newest time per customer among the chunk's records."""
    latest: dict[int, datetime] = {}
    for record in chunk.records:
        customer_id = customer_ids[record.phone]
        if customer_id not in latest or record.occurred_at > latest[customer_id]:
            latest[customer_id] = record.occurred_at
    return latest


class Touches:
    """The newest time per customer, applied to "last contact" (forward only) by ``apply``.

    From every valid row, not only the new ones: re-importing a file then finds nothing to move, and a run that
    redoes an interrupted one still applies what the first run stored but never applied."""

    def __init__(self) -> None:
        self.latest: dict[int, datetime] = {}

    def add(self, latest: dict[int, datetime]) -> None:
        known = self.latest
        for customer_id, at in latest.items():
            if customer_id not in known or at > known[customer_id]:
                known[customer_id] = at
        if len(known) >= TOUCH_LIMIT:
            self.apply()  # on this thread, while the writers go on

    def apply(self, *, writers: int = 0) -> None:
        """In customer id order (no deadlock with another import), a batch per short transaction (no customer
        stays locked for long), on ``writers`` threads (see ``pipeline.Writers``)."""
        items = sorted(self.latest.items())
        self.latest = {}
        with Writers(_touch, writers) as pool:
            for start in range(0, len(items), TOUCH_BATCH):
                pool.put(items[start : start + TOUCH_BATCH])
            pool.done()


def _by_key(record: Record) -> str:
    return record.source_key


@transaction.atomic
def _touch(items: list[tuple[int, datetime]]) -> None:
    commit_without_waiting_for_disk()  # lost in a crash: running the job again re-applies it
    if connection.vendor != "postgresql":
        for customer_id, at in items:
            customer_touch(customer_ids=[customer_id], at=at)
        return
    table = connection.ops.quote_name(Customer._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS c SET last_contact_at = v.at"  # noqa: S608 - the model's table
            " FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, at)"
            " WHERE c.id = v.id AND (c.last_contact_at IS NULL OR c.last_contact_at < v.at)",
            [array_literal(_ID, [pk for pk, _at in items]), array_literal(_AT, [at for _pk, at in items])],
        )


def _customers_ensure(phones: list[str]) -> tuple[dict[str, int], int]:
    table = connection.ops.quote_name(Customer._meta.db_table)
    # A join rather than "phone = ANY(…)": past 100 values the planner cannot prove the phones non-empty, so it
    # cannot use the (partial) unique index and scans the whole table instead.
    select = (
        f"SELECT c.phone, c.id FROM unnest(%s::text[]) AS p(phone) JOIN {table} AS c"  # noqa: S608 - model's table
        " ON c.phone = p.phone AND c.phone <> ''"
    )
    with connection.cursor() as cursor:
        cursor.execute(select, [array_literal(_PHONE, phones)])
        ids = dict(cursor.fetchall())
        missing = [phone for phone in phones if phone not in ids]
        if not missing:
            return ids, 0
        created = dict(
            insert_select(
                Customer,
                arrays={"phone": missing},
                values={"origin": Customer.Origin.IMPORT},
                conflict="",
                returning=("phone", "id"),
            )[1]
        )
        ids.update(created)
        if len(created) < len(missing):  # created meanwhile by someone else
            cursor.execute(select, [array_literal(_PHONE, [phone for phone in missing if phone not in created])])
            ids.update(cursor.fetchall())
    return ids, len(created)


def _entry_columns(records: list[Record]) -> dict[str, str]:
    return {
        name: array_literal(TimelineEntry._meta.get_field(name), [getattr(record, name) for record in records])
        for name in ("occurred_at", "employee_id", "summary", "content", "source_key")
    } | {"data": texts_literal([record.data for record in records])}  # already JSON text


def _entries_insert(chunk: Prepared, customer_ids: dict[str, int], *, kind: str, channel: str):
    return insert_select(
        TimelineEntry,
        arrays={
            "customer_id": array_literal(_ID, [customer_ids[record.phone] for record in chunk.records]),
            **chunk.columns,
        },
        values={"kind": kind, "channel": channel},
        conflict="(source_key)",
    )[0]


def _customers_ensure_orm(phones: list[str]) -> tuple[dict[str, int], int]:
    ids = dict(_in_batches(Customer.objects.all(), "phone", phones, ("phone", "id")))
    missing = [phone for phone in phones if phone not in ids]
    Customer.objects.bulk_create(
        [Customer(phone=phone, origin=Customer.Origin.IMPORT) for phone in missing], ignore_conflicts=True
    )
    ids.update(_in_batches(Customer.objects.all(), "phone", missing, ("phone", "id")))
    return ids, len(missing)  # SQLite writers are serialized: nobody else created these meanwhile


def _entries_insert_orm(records: list[Record], customer_ids: dict[str, int], *, kind: str, channel: str):
    keys = [record.source_key for record in records]
    stored = {key for (key,) in _in_batches(TimelineEntry.objects.all(), "source_key", keys, ("source_key",))}
    new = [record for record in records if record.source_key not in stored]
    TimelineEntry.objects.bulk_create(
        [
            TimelineEntry(
                customer_id=customer_ids[record.phone],
                kind=kind,
                channel=channel,
                occurred_at=record.occurred_at,
                employee_id=record.employee_id,
                summary=record.summary,
                content=record.content,
                data=json.loads(record.data),
                source_key=record.source_key,
            )
            for record in new
        ],
        batch_size=_SQLITE_BATCH,
    )
    return len(new)


def _in_batches(queryset, field: str, values: list[Any], columns: tuple[str, ...]) -> list[tuple]:
    found = []
    for start in range(0, len(values), _SQLITE_BATCH):
        batch = values[start : start + _SQLITE_BATCH]
        found.extend(queryset.filter(**{f"{field}__in": batch}).values_list(*columns))
    return found
