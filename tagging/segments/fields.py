"""The fields an expression may test besides tags, which targets have them, and how their values are read.

Values that need no database (numbers, yes/no, lifecycle, group status) are checked and typed by the parser;
names that do (stages, tiers, employees, groups) are looked up by the compiler.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal

from django.utils import translation
from django.utils.translation import gettext as _

from customers.models import Lifecycle
from groups.models import CustomerGroup
from tagging.models import TagTarget
from tagging.segments.errors import SegmentError

COMPARISONS = (">=", ">", "<=", "<", "=", "!=")
EQUALITY = (":", "=", "!=")

AMOUNT = "amount"  # a sum of money: up to 12 digits and 2 decimals (Customer.total_spend)
COUNT = "count"  # a whole number up to ``maximum``
TEXT = "text"  # a name or id, looked up by the compiler
YES_NO = "yes_no"
CHOICE = "choice"  # one of ``choices`` by value or label
ORDERED = "ordered"  # a choice whose order also allows comparisons (the lifecycle)

CUSTOMER, GROUP = TagTarget.CUSTOMER.value, TagTarget.GROUP.value
INT_MAX = 2_147_483_647


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str
    targets: frozenset[str]
    maximum: int = INT_MAX

    @property
    def operators(self) -> tuple[str, ...]:
        if self.kind in (AMOUNT, COUNT):
            return COMPARISONS
        if self.kind == ORDERED:
            return (":", *COMPARISONS)
        return EQUALITY

    @property
    def example(self) -> str:
        return f"{self.name}>=1" if self.kind in (AMOUNT, COUNT) else f"{self.name}:…"


def _spec(name: str, kind: str, *targets: str, maximum: int = INT_MAX) -> FieldSpec:
    return FieldSpec(name, kind, frozenset(targets), maximum)


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        _spec("stage", TEXT, CUSTOMER),
        _spec("lifecycle", ORDERED, CUSTOMER),
        _spec("spend", AMOUNT, CUSTOMER),
        _spec("orders", COUNT, CUSTOMER),
        # a century: further back than any customer, and ``now - days`` stays a valid date
        _spec("idle_days", COUNT, CUSTOMER, maximum=36500),
        _spec("owner", TEXT, CUSTOMER, GROUP),
        _spec("channel", TEXT, CUSTOMER),
        _spec("group", TEXT, CUSTOMER),
        _spec("tier", TEXT, CUSTOMER),
        _spec("opt_out", YES_NO, CUSTOMER),
        _spec("phone", YES_NO, CUSTOMER),
        _spec("members", COUNT, GROUP),
        _spec("name", TEXT, GROUP),
        _spec("status", CHOICE, GROUP),
    )
}

YES = frozenset({"yes", "y", "true", "1", "是", "有"})
NO = frozenset({"no", "n", "false", "0", "否", "无", "没有"})
_AMOUNT = re.compile(r"\d{1,12}(?:\.\d{1,2})?")
_LABEL_PARTS = re.compile(r"(.+?)\s*[(（](.+?)[)）]")


@functools.cache
def _spellings(choices: tuple[tuple[str, object], ...]) -> dict[str, str]:
    """Every way to write a choice → its value: the value, and its label in English and Chinese, whole or either
    half of a two-language label such as “Trial (体验)”; compared case-insensitively."""
    names: dict[str, str] = {}
    for value, label in choices:
        spellings = {value}
        for language in ("en", "zh-hans"):
            with translation.override(language):
                text = str(label).strip()
            spellings.add(text)
            if parts := _LABEL_PARTS.fullmatch(text):
                spellings |= {parts[1], parts[2]}
        for spelling in spellings:
            names.setdefault(spelling.strip().casefold(), value)
    return names


def choice_values(spec: FieldSpec) -> list[tuple[str, object]]:
    if spec.name == "lifecycle":
        return list(Lifecycle.choices)
    return list(CustomerGroup.Status.choices)


def read_value(spec: FieldSpec, raw: str, position: int, expression: str) -> str | int | bool | Decimal:
    """``raw`` as the field's type, or a SegmentError at ``position`` saying what was expected."""

    def fail(message: str) -> SegmentError:
        return SegmentError(message, position, expression=expression)

    text = raw.strip()
    params = {"value": text, "field": spec.name, "position": position}
    if spec.kind == AMOUNT:
        if not _AMOUNT.fullmatch(text):
            raise fail(
                _(
                    "“%(value)s” at position %(position)s is not an amount: write a number of 0 or more with at "
                    "most 2 decimals, such as 500 or 99.5"
                )
                % params
            )
        return Decimal(text)
    if spec.kind == COUNT:
        if not text.isascii() or not text.isdigit():
            raise fail(_("“%(value)s” at position %(position)s is not a whole number of 0 or more") % params)
        if int(text) > spec.maximum:
            raise fail(
                _("%(value)s at position %(position)s is too large for “%(field)s” (at most %(maximum)s)")
                % {**params, "maximum": spec.maximum}
            )
        return int(text)
    if spec.kind == YES_NO:
        if text.casefold() in YES:
            return True
        if text.casefold() in NO:
            return False
        raise fail(_("“%(field)s” is yes or no, not “%(value)s” (position %(position)s)") % params)
    if spec.kind in (CHOICE, ORDERED):
        choices = choice_values(spec)
        value = _spellings(tuple(choices)).get(text.casefold())
        if value is None:
            raise fail(
                _("“%(value)s” at position %(position)s is not a %(field)s value (one of %(values)s)")
                % {**params, "values": ", ".join(str(v) for v, _label in choices)}
            )
        return value
    if not text:
        raise fail(_("“%(field)s” needs a value at position %(position)s") % params)
    return text
