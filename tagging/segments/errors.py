"""The one error a segment expression can raise: what is wrong and where, as a character offset."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError


class SegmentError(ValidationError):
    """A bad expression. ``message`` already names the position (“Expected “)” at position 20”); ``position``
    is the 0-based character offset it points at and ``pointer`` the expression with a caret under it.

    A plain (non-dict) ``ValidationError``, so a form field's ``clean`` or a serializer field may raise it as it
    is; ``as_validation_error`` names the field for services and filters (``{"expression": [...]}``).
    """

    def __init__(self, message: str, position: int, *, expression: str = "") -> None:
        super().__init__(message, code="segment")
        self.position = position
        self.expression = expression

    def __str__(self) -> str:
        return str(self.message)

    @property
    def pointer(self) -> str:
        """Two lines: the expression (its first 2,000 characters, one line) and a caret under ``position``,
        indented by display width so it stays under the character when CJK characters take two columns."""
        line = self.expression.replace("\n", " ").replace("\r", " ").replace("\t", " ")
        before = line[: self.position]
        width = sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in before)
        return f"{line}\n{' ' * width}^"

    def as_validation_error(self, field: str = "expression") -> ValidationError:
        return ValidationError({field: [ValidationError(self.message, code="segment")]})
