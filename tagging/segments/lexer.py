"""Splitting an expression into tokens, by hand: every token keeps the offset where it starts."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from tagging.segments.errors import SegmentError

LPAREN, RPAREN, AND, OR, NOT = "(", ")", "AND", "OR", "NOT"
COLON, COMPARE, WORD, STRING, END = ":", "COMPARE", "WORD", "STRING", "END"

# Keywords are whole words only, so a tag such as 非会员 or ORANGE stays a tag.
KEYWORDS = {"and": AND, "且": AND, "or": OR, "或": OR, "not": NOT, "非": NOT}
# Characters that end a bare word (besides whitespace): a tag name holding one must be quoted.
SPECIAL = frozenset("()\"'&|!<>=:")


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # as written; for STRING the unescaped content
    position: int

    def shown(self) -> str:
        return self.text if self.kind != STRING else f'"{self.text}"'


def tokenize(expression: str) -> list[Token]:
    """The tokens of ``expression``, ending with an END token at its length."""
    tokens: list[Token] = []
    i, n = 0, len(expression)
    while i < n:
        ch = expression[i]
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(Token(ch, ch, i))
            i += 1
        elif ch == '"':
            text, end = _string(expression, i)
            tokens.append(Token(STRING, text, i))
            i = end
        elif ch in "&|":
            width = 2 if expression.startswith(ch * 2, i) else 1  # & and && alike
            tokens.append(Token(AND if ch == "&" else OR, ch * width, i))
            i += width
        elif ch == "!" and not expression.startswith("!=", i):
            tokens.append(Token(NOT, ch, i))
            i += 1
        elif ch in "<>=!":
            width = 2 if expression.startswith("=", i + 1) and ch != "=" else 1
            tokens.append(Token(COMPARE, expression[i : i + width], i))
            i += width
        elif ch == ":":
            tokens.append(Token(COLON, ch, i))
            i += 1
        elif ch == "'":
            raise SegmentError(
                _('Put names in double quotes ("…"), not single ones, at position %(position)s') % {"position": i},
                i,
                expression=expression,
            )
        else:
            start = i
            while i < n and not expression[i].isspace() and expression[i] not in SPECIAL:
                i += 1
            word = expression[start:i]
            tokens.append(Token(KEYWORDS.get(word.casefold(), WORD), word, start))
    tokens.append(Token(END, "", n))
    return tokens


def _string(expression: str, start: int) -> tuple[str, int]:
    """The content of the string opening at ``start`` (``\\"`` and ``\\\\`` unescaped) and the offset after it."""
    out: list[str] = []
    i = start + 1
    while i < len(expression):
        ch = expression[i]
        if ch == "\\" and i + 1 < len(expression) and expression[i + 1] in '"\\':
            out.append(expression[i + 1])
            i += 2
        elif ch == '"':
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    raise SegmentError(
        _("The quote at position %(position)s is never closed") % {"position": start}, start, expression=expression
    )
