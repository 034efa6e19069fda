"""A list of integers stored as ``integer[]`` on PostgreSQL (GIN-indexable) and as JSON text on SQLite.

Segments filter customers and groups by their tags through such a column kept in the same transaction as the
assignment rows, so a segment is one indexed scan instead of a join per term. Two lookups, the same meaning on
both databases: ``has_all`` (holds every given id: ``@>``) and ``has_any`` (holds at least one: ``&&``).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Lookup
from django.utils.translation import gettext_lazy as _


class IntArrayField(models.Field):
    description = _("list of integers")
    empty_strings_allowed = False

    def db_type(self, connection) -> str:
        return "integer[]" if connection.vendor == "postgresql" else "text"

    def get_internal_type(self) -> str:
        return "IntArrayField"

    def from_db_value(self, value, expression, connection):
        if isinstance(value, str):
            return json.loads(value)
        return value

    def to_python(self, value: Any) -> list[int] | None:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError as exc:
                raise ValidationError(_("Must be a list of integers."), code="invalid") from exc
        if not isinstance(value, (list, tuple)) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise ValidationError(_("Must be a list of integers."), code="invalid")
        return list(value)

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        value = [int(v) for v in value]
        return value if connection.vendor == "postgresql" else json.dumps(value)

    def value_to_string(self, obj) -> str:
        return json.dumps(self.value_from_object(obj))


class _ArrayLookup(Lookup):
    """``column <op> ARRAY[...]`` on PostgreSQL; on SQLite one ``EXISTS (… json_each …)`` per id, joined by
    AND (has_all) or OR (has_any)."""

    pg_operator = ""
    sqlite_join = ""

    def get_prep_lookup(self):
        return [int(v) for v in self.rhs]

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} {self.pg_operator} %s::integer[]", [*lhs_params, list(self.rhs)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = list(self.rhs)
        if not ids:  # @> '{}' is true, && '{}' is false
            return ("1=1" if self.sqlite_join == "AND" else "1=0"), []
        one = f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value = %s)"  # noqa: S608 - lhs is a column
        params: list[Any] = []
        for tag_id in ids:
            params += [*lhs_params, tag_id]
        return "(" + f" {self.sqlite_join} ".join([one] * len(ids)) + ")", params


@IntArrayField.register_lookup
class HasAll(_ArrayLookup):
    lookup_name = "has_all"
    pg_operator = "@>"
    sqlite_join = "AND"


@IntArrayField.register_lookup
class HasAny(_ArrayLookup):
    lookup_name = "has_any"
    pg_operator = "&&"
    sqlite_join = "OR"
