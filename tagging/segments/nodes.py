"""The parsed form of a segment expression: a small immutable tree.

``And``/``Or`` are flattened (``a AND (b AND c)`` is one ``And`` of three) and double negation is dropped, so the
compiler can fold sibling tag terms into one array lookup. Every leaf keeps the 0-based offset where it starts,
for errors found later (an unknown tag, a stage that does not exist).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class TagTerm:
    """A tag by name: ``奶粉``, ``"new mum"``, ``兴趣/奶粉`` or ``tag:奶粉`` (the ``/`` is resolved against the
    taxonomy, since a tag or group name may itself contain one)."""

    name: str
    position: int


@dataclass(frozen=True)
class FieldTerm:
    """``field op value``: ``op`` is ``:``, ``=``, ``!=``, ``>=``, ``>``, ``<=`` or ``<``; ``value`` is already
    typed (``Decimal`` for spend, ``int`` for counts and days, ``bool`` for yes/no, ``str`` otherwise)."""

    field: str
    op: str
    value: str | int | bool | Decimal
    position: int
    value_position: int


@dataclass(frozen=True)
class Not:
    operand: Node
    position: int


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


Node = TagTerm | FieldTerm | Not | And | Or


def terms(node: Node):
    """The leaves (tag and field terms) in the order they were written."""
    if isinstance(node, TagTerm | FieldTerm):
        yield node
    elif isinstance(node, Not):
        yield from terms(node.operand)
    else:
        for operand in node.operands:
            yield from terms(operand)
