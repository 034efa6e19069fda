"""A recursive-descent parser for segment expressions (no eval, no parser generator).

Grammar (keywords case-insensitive; 且/或/非 and & | ! are synonyms of AND/OR/NOT)::

    expr     := and_expr (OR and_expr)*
    and_expr := unary ((AND)? unary)*          -- writing two terms side by side means AND
    unary    := NOT unary | primary
    primary  := "(" expr ")" | field_term | tag_term
    field    := NAME (":" | "=" | "!=" | ">=" | ">" | "<=" | "<") VALUE
    tag_term := WORD | "quoted \\" string" | group/tag | tag:NAME

So NOT binds tightest, then AND, then OR: ``a OR b c`` is ``a OR (b AND c)``.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from tagging.segments import lexer as t
from tagging.segments.errors import SegmentError
from tagging.segments.fields import FIELDS, read_value
from tagging.segments.nodes import And, FieldTerm, Node, Not, Or, TagTerm

MAX_LENGTH = 2000
MAX_DEPTH = 20
MAX_TERMS = 100

_STARTS_UNARY = {t.WORD, t.STRING, t.LPAREN, t.NOT}


def parse(expression: str) -> Node:
    """The tree of ``expression``; a SegmentError naming the position of the first problem otherwise."""
    if len(expression) > MAX_LENGTH:
        raise SegmentError(
            _("The expression is longer than %(limit)s characters (position %(position)s)")
            % {"limit": MAX_LENGTH, "position": MAX_LENGTH},
            MAX_LENGTH,
            expression=expression,
        )
    return _Parser(expression).parse()


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = t.tokenize(expression)
        self.index = 0
        self.terms = 0

    # ---- helpers ----------------------------------------------------------------------------------------------

    @property
    def peek(self) -> t.Token:
        return self.tokens[self.index]

    def take(self) -> t.Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, message: str, position: int) -> SegmentError:
        return SegmentError(message, position, expression=self.expression)

    def expected_term(self, token: t.Token) -> SegmentError:
        if token.kind == t.END:
            message = _("Expected a tag or a condition at position %(position)s, but the expression ends there")
        else:
            message = _("Expected a tag or a condition at position %(position)s, found “%(found)s”")
        return self.error(message % {"position": token.position, "found": token.shown()}, token.position)

    def count_term(self, position: int) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(
                _("More than %(limit)s terms: the one at position %(position)s is one too many")
                % {"limit": MAX_TERMS, "position": position},
                position,
            )

    # ---- grammar ----------------------------------------------------------------------------------------------

    def parse(self) -> Node:
        if self.peek.kind == t.END:
            raise self.error(_("The expression is empty (position 0)"), 0)
        node = self.expr(0)
        token = self.peek
        if token.kind == t.RPAREN:
            raise self.error(
                _("Unexpected “)” at position %(position)s: no “(” is open") % {"position": token.position},
                token.position,
            )
        if token.kind != t.END:
            raise self.error(
                _("Unexpected “%(found)s” at position %(position)s")
                % {"found": token.text, "position": token.position},
                token.position,
            )
        return node

    def expr(self, depth: int) -> Node:
        operands = [self.and_expr(depth)]
        while self.peek.kind == t.OR:
            self.take()
            operands.append(self.and_expr(depth))
        return _flat(Or, operands)

    def and_expr(self, depth: int) -> Node:
        operands = [self.unary(depth)]
        while self.peek.kind == t.AND or self.peek.kind in _STARTS_UNARY:
            if self.peek.kind == t.AND:
                self.take()
            operands.append(self.unary(depth))
        return _flat(And, operands)

    def unary(self, depth: int) -> Node:
        # a loop, not recursion: "!!!!…a" at the length limit must not exhaust Python's stack
        negations = []
        while self.peek.kind == t.NOT:
            negations.append(self.take())
        node = self.primary(depth)
        if len(negations) % 2:
            return node.operand if isinstance(node, Not) else Not(node, negations[0].position)
        return node

    def primary(self, depth: int) -> Node:
        token = self.peek
        if token.kind == t.LPAREN:
            if depth >= MAX_DEPTH:
                raise self.error(
                    _("Parentheses nested more than %(limit)s deep at position %(position)s")
                    % {"limit": MAX_DEPTH, "position": token.position},
                    token.position,
                )
            self.take()
            node = self.expr(depth + 1)
            closing = self.peek
            if closing.kind != t.RPAREN:
                raise self.error(
                    _("Expected “)” at position %(position)s to close the “(” at position %(opening)s")
                    % {"position": closing.position, "opening": token.position},
                    closing.position,
                )
            self.take()
            return node
        if token.kind == t.WORD:
            self.take()
            if self.peek.kind in (t.COLON, t.COMPARE):
                return self.field(token)
            return self.tag(token.text, token.position)
        if token.kind == t.STRING:
            self.take()
            return self.tag(token.text, token.position)
        raise self.expected_term(token)

    def tag(self, name: str, position: int) -> TagTerm:
        self.count_term(position)
        if not name.strip():
            raise self.error(_("Empty tag name at position %(position)s") % {"position": position}, position)
        return TagTerm(name.strip(), position)

    def field(self, name_token: t.Token) -> Node:
        name = name_token.text.casefold()
        operator = self.take()
        value = self.peek
        if name == "tag":
            if operator.kind != t.COLON:
                raise self.wrong_operator("tag", operator, "tag:…")
            if value.kind not in (t.WORD, t.STRING):
                raise self.missing_value("tag", value)
            self.take()
            return self.tag(value.text, value.position)
        spec = FIELDS.get(name)
        if spec is None:
            raise self.error(
                _(
                    "Unknown field “%(name)s” at position %(position)s (fields: %(fields)s; put a tag name that "
                    "holds “%(operator)s” in double quotes)"
                )
                % {
                    "name": name_token.text,
                    "position": name_token.position,
                    "fields": ", ".join(["tag", *FIELDS]),
                    "operator": operator.text,
                },
                name_token.position,
            )
        if operator.text not in spec.operators:
            raise self.wrong_operator(spec.name, operator, spec.example)
        if value.kind not in (t.WORD, t.STRING):
            raise self.missing_value(spec.name, value)
        self.take()
        self.count_term(name_token.position)
        typed = read_value(spec, value.text, value.position, self.expression)
        return FieldTerm(spec.name, operator.text, typed, name_token.position, value.position)

    def wrong_operator(self, field: str, operator: t.Token, example: str) -> SegmentError:
        return self.error(
            _("“%(field)s” does not take “%(operator)s” (position %(position)s): write it as %(example)s")
            % {"field": field, "operator": operator.text, "position": operator.position, "example": example},
            operator.position,
        )

    def missing_value(self, field: str, token: t.Token) -> SegmentError:
        return self.error(
            _("Expected a value for “%(field)s” at position %(position)s")
            % {"field": field, "position": token.position},
            token.position,
        )


def _flat(kind: type[And] | type[Or], operands: list[Node]) -> Node:
    """One operand as itself; nested nodes of the same kind merged into this one."""
    if len(operands) == 1:
        return operands[0]
    flat: list[Node] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, kind) else [operand])
    return kind(tuple(flat))
