"""The small upsert toolkit the WeCom-fed apps (customers, groups, tagging) share for idempotent writes.

Rows are keyed by WeCom's ids, so applying the same news twice must change nothing: ``lock_or_create`` finds or
makes the row by its unique key, ``update_changed`` writes only the fields that differ (``updated_at`` moves only
on a real change), and the parsers turn WeCom's loosely typed JSON into clean values or a ``ValidationError``
that names the field. Nothing here imports ``scrm.wecom``: ``wecom_time`` only converts unix seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

M = TypeVar("M", bound=models.Model)


def lock_or_create(
    model: type[M], *, lookup: dict[str, Any], defaults: dict[str, Any], lock: bool = True
) -> tuple[M, bool]:
    """The row with this unique key, locked for update (or not, with ``lock=False``), or a new one built from
    ``defaults``; returns ``(row, created)``. Locking needs an open ``transaction.atomic``.

    A concurrent insert of the same key (two events about one new contact) loses on the unique constraint
    inside a savepoint and reads (and locks) the winner's row instead of failing the event.
    """
    manager = model._default_manager.select_for_update() if lock else model._default_manager
    try:
        return manager.get(**lookup), False
    except model.DoesNotExist:
        pass
    obj = model(**lookup, **defaults)
    # Uniqueness is the database's job here (see the IntegrityError below); checking it first would only race.
    obj.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            obj.save(force_insert=True)
    except IntegrityError:
        return manager.get(**lookup), False
    return obj, True


def update_changed(obj: models.Model, values: dict[str, Any]) -> list[str]:
    """Write only the fields whose value differs; returns their names (empty: nothing saved).

    Saving nothing when nothing differs is what makes re-applied news a no-op: ``updated_at`` moves only on a
    real change. ``obj`` must have an ``updated_at`` field (``TimeStampedModel``).
    """
    changed = [name for name, value in values.items() if getattr(obj, name) != value]
    if not changed:
        return []
    for name in changed:
        setattr(obj, name, values[name])
    obj.full_clean(validate_unique=False, validate_constraints=False)
    obj.save(update_fields=[*changed, "updated_at"])
    return changed


def given(**values: Any) -> dict[str, Any]:
    """The keyword arguments that are not ``None``: in the services ``None`` means "leave the field as it is", so
    an event that knows only an id never blanks what the full sync filled in."""
    return {name: value for name, value in values.items() if value is not None}


def require_id(value: str, field: str) -> None:
    """Refuse an empty WeCom id: a row keyed by ``""`` would swallow every later event that lacks the id."""
    if not value:
        raise ValidationError({field: _("This WeCom id is required.")}, code="required")


def as_text(value: Any) -> str:
    """WeCom's JSON value as stripped text; ``None`` (absent) becomes ``""``, numbers become their digits."""
    return "" if value is None else str(value).strip()


def as_int(value: Any, field: str) -> int:
    """WeCom's number (int or numeric string) as an int, or a ``ValidationError`` naming ``field``."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError({field: _("Expected a whole number.")}, code="invalid") from None


def wecom_time(value: Any, *, field: str) -> datetime | None:
    """WeCom's unix seconds (int or numeric string) → an aware datetime; 0 or empty means unknown."""
    if value in (None, "", 0, "0"):
        return None
    return datetime.fromtimestamp(as_int(value, field), tz=UTC).astimezone(timezone.get_current_timezone())


def insert_rows(model: type[models.Model], rows: list[dict[str, Any]], *, key: str = "") -> dict[Any, int]:
    """Insert validated rows (attname → plain value, the same keys in every row; other fields take their
    defaults, ``auto_now`` fields now)
    in one statement; with ``key``, returns ``{row[key]: pk}`` (``key="pk"``: the new pks, in the rows' order).

    ``bulk_create`` prepares every value through its field, and at a page of contacts with their relations that
    per-value work (not PostgreSQL) was what limited the full WeCom sync. Here the values are plain Python that
    the caller has validated (``full_clean`` or ``Field.clean``) and that psycopg2 adapts as they are: str, int,
    bool, None, aware datetimes, and lists or dicts for JSON fields. On PostgreSQL they go in as one
    ``INSERT … SELECT FROM unnest(column arrays)``; on other databases (the embedded SQLite) through
    ``bulk_create``, with the same result.
    """
    if not rows:
        return {}
    meta = model._meta
    if connection.vendor != "postgresql":
        objs = [model(**row) for row in rows]
        model._default_manager.bulk_create(objs)
        return (
            {getattr(obj, meta.get_field(key).attname if key != "pk" else "pk"): obj.pk for obj in objs} if key else {}
        )
    now = timezone.now()
    # A field with a database default that the rows leave out is left to the database (Customer.tag_ids).
    fields = [
        field
        for field in meta.concrete_fields
        if not field.primary_key and not (field.has_db_default() and field.attname not in rows[0])
    ]
    columns = []
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values = [row.get(field.attname, now) for row in rows]
        else:
            values = [row[field.attname] if field.attname in row else field.get_default() for row in rows]
        columns.append(_plain(field, values))
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    arrays = ", ".join(_array_param(field) for field in fields)
    table = connection.ops.quote_name(meta.db_table)
    sql = f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608 - names from the model
    with connection.cursor() as cursor:
        if not key:
            cursor.execute(sql, columns)
            return {}
        key_column = meta.pk.column if key == "pk" else meta.get_field(key).column
        returning = ", ".join(connection.ops.quote_name(name) for name in (meta.pk.column, key_column))
        cursor.execute(f"{sql} RETURNING {returning}", columns)
        return {row_key: pk for pk, row_key in cursor.fetchall()}


def update_rows(model: type[models.Model], rows: dict[int, dict[str, Any]]) -> None:
    """Set validated values on rows by primary key (``{pk: {attname: value}}``, every row the same fields) in
    one statement. ``bulk_update`` builds a ``CASE WHEN`` per row and field, which costs milliseconds per row in
    Python and plans badly; on PostgreSQL this is one ``UPDATE … FROM unnest(arrays)``. Plain values as in
    ``insert_rows``; ``auto_now`` fields are not touched unless given."""
    if not rows:
        return
    meta = model._meta
    names = list(next(iter(rows.values())))
    fields = [meta.get_field(name) for name in names]
    if connection.vendor != "postgresql":
        objs = [model(pk=pk, **values) for pk, values in rows.items()]
        model._default_manager.bulk_update(objs, [field.name for field in fields])
        return
    quote = connection.ops.quote_name
    columns = [list(rows), *(_plain(field, [values[field.attname] for values in rows.values()]) for field in fields)]
    arrays = ", ".join(_array_param(field) for field in [meta.pk, *fields])
    aliases = ", ".join(quote(f"v_{field.column}") for field in [meta.pk, *fields])
    assignments = ", ".join(f"{quote(field.column)} = v.{quote('v_' + field.column)}" for field in fields)
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({aliases}) "  # noqa: S608 - names from the model
        f"WHERE {table}.{pk} = v.{quote('v_' + meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, columns)


def _plain(field: models.Field, values: list[Any]) -> list[Any]:
    """A column's values as psycopg2 sends them: JSON as its text, the rest as they are."""
    if isinstance(field, models.JSONField):
        return [None if value is None else json.dumps(value, ensure_ascii=False) for value in values]
    return values


def _array_param(field: models.Field) -> str:
    # varchar[] rather than varchar(64)[]: a cast to the sized type would silently truncate instead of failing.
    return f"%s::{field.db_type(connection).split('(')[0]}[]"
