"""Segment expressions: ``(奶粉 OR 辅食) AND NOT 已流失 AND stage:谈判 AND spend>=500``.

Parsed by hand (``parser``) into a small tree (``nodes``), then compiled (``compiler``) into a ``Q`` over
``Customer`` or ``CustomerGroup`` whose tag terms hit the indexed ``tag_ids`` arrays. Every problem is a
``SegmentError`` naming the 0-based character position it found it at.

Importing this package registers the customer list's ``?segment=`` filter (customers cannot import tagging).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from customers.selectors import customers_visible_to, register_customer_filter
from groups.models import CustomerGroup
from tagging.models import TagTarget
from tagging.segments.compiler import compile_node
from tagging.segments.errors import SegmentError
from tagging.segments.nodes import And, FieldTerm, Node, Not, Or, TagTerm
from tagging.segments.parser import MAX_DEPTH, MAX_LENGTH, MAX_TERMS, parse


def segment_q(expression: str, *, target: str) -> Q:
    """The ``Q`` for ``expression`` over customers (``target="customer"``) or customer groups (``"group"``):
    parsing, then one query per kind of name it uses (tags, stages, tiers, employees, groups)."""
    if target not in TagTarget.values:
        raise ValueError(f"unknown segment target {target!r}")
    return compile_node(parse(expression), target=target, expression=expression)


def validate(expression: str, *, target: str) -> None:
    """Raise SegmentError if ``expression`` does not parse or names something that does not exist."""
    segment_q(expression, target=target)


def customers_in_segment(expression: str, *, user=None) -> QuerySet[Customer]:
    """The customers in the segment, newest first; with ``user``, only those that user may see."""
    customers = Customer.objects.all() if user is None else customers_visible_to(user=user)
    return customers.filter(segment_q(expression, target=TagTarget.CUSTOMER))


def groups_in_segment(expression: str) -> QuerySet[CustomerGroup]:
    """The customer groups in the segment (tags of group-target tag groups, and the group fields)."""
    return CustomerGroup.objects.filter(segment_q(expression, target=TagTarget.GROUP))


def _segment_filter(customers: QuerySet[Customer], value: str, *, user) -> QuerySet[Customer]:
    # ``customers`` is already what the user may see
    return customers.filter(segment_q(value, target=TagTarget.CUSTOMER))


register_customer_filter(
    "segment",
    _segment_filter,
    description=_("A segment expression, such as (奶粉 OR 辅食) AND NOT 已流失 AND spend>=500."),
)

__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_TERMS",
    "And",
    "FieldTerm",
    "Node",
    "Not",
    "Or",
    "SegmentError",
    "TagTerm",
    "customers_in_segment",
    "groups_in_segment",
    "parse",
    "segment_q",
    "validate",
]
