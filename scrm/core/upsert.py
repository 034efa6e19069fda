"""The small upsert toolkit the WeCom-fed apps (customers, groups, tagging) share for idempotent writes.

Rows are keyed by WeCom's ids, so applying the same news twice must change nothing: ``lock_or_create`` finds or
makes the row by its unique key, ``update_changed`` writes only the fields that differ (``updated_at`` moves only
on a real change), and the parsers turn WeCom's loosely typed JSON into clean values or a ``ValidationError``
that names the field. Nothing here imports ``scrm.wecom``: ``wecom_time`` only converts unix seconds.
"""

from __future__ import annotations

import functools
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


def insert_rows(
    model: type[models.Model], rows: list[dict[str, Any]], *, key: str = "", ignore_conflicts: bool = False
) -> dict[Any, int]:
    """Insert validated rows (attname → plain value; other fields take their defaults, ``auto_now`` fields now)
    in one statement; with ``key``, returns ``{row[key]: pk}`` (``key="pk"``:
    the new pks, in the rows' order). A conflict fails the caller's transaction, as a plain INSERT would, unless
    ``ignore_conflicts`` (then the row is skipped, and ``key`` cannot be asked for).

    ``bulk_create`` prepares every value through its field, and at a page of contacts with their relations that
    per-value work (not PostgreSQL) was what limited the full WeCom sync. Here the values are plain Python that
    the caller has validated (``full_clean`` or ``Field.clean``): on PostgreSQL they go in through
    ``insert_select``; on other databases (the embedded SQLite) through ``bulk_create``, with the same result.
    """
    if not rows:
        return {}
    if key and ignore_conflicts:
        raise ValueError("insert_rows cannot return the keys of rows it may skip")
    meta = model._meta
    if connection.vendor != "postgresql":
        objs = [model(**row) for row in rows]
        model._default_manager.bulk_create(objs, ignore_conflicts=ignore_conflicts)
        return (
            {getattr(obj, meta.get_field(key).attname if key != "pk" else "pk"): obj.pk for obj in objs} if key else {}
        )
    now = timezone.now()
    arrays = {}
    for name in dict.fromkeys(name for row in rows for name in row):  # a row may leave out what another gives
        field = meta.get_field(name)
        auto_now = getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        default = now if auto_now else field.get_default()
        arrays[name] = [row.get(name, default) for row in rows]
    key_name = meta.pk.attname if key == "pk" else key
    _count, returned = insert_select(
        model,
        arrays=arrays,
        conflict="" if ignore_conflicts else None,
        returning=(meta.pk.attname, key_name) if key else (),
    )
    return {row_key: pk for pk, row_key in returned}


def insert_select(
    model: type[models.Model],
    *,
    arrays: dict[str, list[Any] | str],
    values: dict[str, Any] | None = None,
    conflict: str | None = None,
    returning: tuple[str, ...] = (),
) -> tuple[int, list[tuple]]:
    """PostgreSQL: ``INSERT … SELECT … FROM unnest(arrays) [ON CONFLICT <conflict> DO NOTHING] RETURNING …``.

    ``arrays`` are the columns that vary (attname → one validated value per row, or those values already as an
    array literal, see ``array_literal``), ``values`` the ones every row shares (they travel once, not once per
    row); other fields take their default, ``auto_now`` fields the time now, and a field with a database default
    that is given neither way is left to the database. ``conflict=""`` ignores any conflict, ``None`` fails on
    one. Returns the number of rows inserted and their ``returning`` columns (attnames), in insertion order.
    """
    values = values or {}
    quote = connection.ops.quote_name
    now = timezone.now()
    names, exprs, params = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key and field.attname not in arrays:
            continue
        if field.attname in arrays:
            # JSON travels as text[] and is cast row by row: PostgreSQL parses a jsonb[] literal four times slower
            cast = "::jsonb" if isinstance(field, models.JSONField) else ""
            exprs.append(f"t.{quote(field.column)}{cast}")
        elif field.attname in values or not field.has_db_default():
            if field.attname in values:
                value = values[field.attname]
            elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
                value = now
            else:
                value = field.get_default()
            if isinstance(field, models.JSONField):
                value = json.dumps(value, ensure_ascii=False)
            exprs.append(f"%s::{_base_type(field)}")
            params.append(value)
        else:
            continue
        names.append(quote(field.column))
    columns = [model._meta.get_field(name) for name in arrays]
    unnest = ", ".join(f"%s::{_array_type(field)}[]" for field in columns)
    aliases = ", ".join(quote(field.column) for field in columns)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(names)}) SELECT {', '.join(exprs)}"  # noqa: S608
        f" FROM unnest({unnest}) AS t({aliases})"
    )
    if conflict is not None:
        sql += f" ON CONFLICT {conflict} DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(quote(model._meta.get_field(name).column) for name in returning)}"
    literals = [
        column if isinstance(column := arrays[field.attname], str) else array_literal(field, column)
        for field in columns
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params + literals)
        return cursor.rowcount, cursor.fetchall() if returning else []


def update_rows(model: type[models.Model], rows: dict[int, dict[str, Any]]) -> None:
    """Set validated values on rows by primary key (``{pk: {attname: value}}``, every row the same fields) in
    one statement. ``bulk_update`` builds a ``CASE WHEN`` per row and field, which costs milliseconds per row in
    Python and plans badly; on PostgreSQL this is one ``UPDATE … FROM unnest(array literals)``. Plain values as
    in ``insert_rows``; ``auto_now`` fields are not touched unless given."""
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
    literals = [
        array_literal(meta.pk, list(rows)),
        *(array_literal(field, [values[field.attname] for values in rows.values()]) for field in fields),
    ]
    arrays = ", ".join(f"%s::{_array_type(field)}[]" for field in [meta.pk, *fields])
    aliases = ", ".join(quote(f"v_{field.column}") for field in [meta.pk, *fields])
    assignments = ", ".join(
        f"{quote(field.column)} = v.{quote('v_' + field.column)}"
        + ("::jsonb" if isinstance(field, models.JSONField) else "")
        for field in fields
    )
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    sql = (
        f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({aliases}) "  # noqa: S608 - names from the model
        f"WHERE {table}.{pk} = v.{quote('v_' + meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, literals)


# ---- array literals: one string per column -------------------------------------------------------------------
# psycopg2 sends a Python list as ARRAY[v1, v2, …], one expression per value, which PostgreSQL parses and plans
# about five times slower than one '{…}' literal; at tens of thousands of rows that was a third of an import.


def array_literal(field: models.Field, values: list[Any]) -> str:
    """A PostgreSQL array literal of this field's values (JSON fields: their JSON text, cast per row)."""
    if isinstance(field, models.JSONField):
        return texts_literal(None if value is None else json.dumps(value, ensure_ascii=False) for value in values)
    if isinstance(field, models.BooleanField):
        return "{" + ",".join("NULL" if value is None else ("t" if value else "f") for value in values) + "}"
    if isinstance(field, models.ForeignKey | models.IntegerField | models.AutoField):
        return "{" + ",".join("NULL" if value is None else str(int(value)) for value in values) + "}"
    if isinstance(field, models.DateTimeField | models.DateField):
        return "{" + ",".join("NULL" if value is None else f'"{value.isoformat()}"' for value in values) + "}"
    if isinstance(field, models.CharField | models.TextField | models.DecimalField):
        return texts_literal(None if value is None else str(value) for value in values)
    raise TypeError(f"{field} cannot travel as an array literal")


def texts_literal(values) -> str:
    """A text[] literal: every element quoted, so commas, braces and spaces stay inside."""
    return "{" + ",".join("NULL" if v is None else _quoted(v) for v in values) + "}"


def _quoted(text: str) -> str:
    if "\\" in text or '"' in text:  # rare: most values need no escaping, and the checks are cheaper than replace
        text = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


@functools.cache
def _base_type(field: models.Field) -> str:
    # varchar rather than varchar(64): a cast to the sized type would silently truncate instead of failing.
    # Cached: Field.db_type costs tens of microseconds, and a sync page asks it for every column of every insert.
    return field.db_type(connection).split("(")[0]


def _array_type(field: models.Field) -> str:
    return "text" if isinstance(field, models.JSONField) else _base_type(field)
