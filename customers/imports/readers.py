"""Stream the rows of an uploaded CSV or XLSX file, without ever holding the whole file.

Rows come out numbered as a spreadsheet shows them (the header is row 1, blank rows keep their number), each as a
list of cell values: ``str`` from CSV; ``str``, numbers, ``datetime`` or ``None`` from XLSX.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext_lazy as _

from scrm.core.errors import DomainError

CSV_SUFFIXES = (".csv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
# Excel in Chinese Windows saves "CSV" in the ANSI code page (GBK); GB18030 is its superset.
CSV_ENCODINGS = ("utf-8-sig", "gb18030")
_BLOCK = 1 << 20


class ImportFileError(DomainError):
    """The file as a whole cannot be imported (format, encoding, header): the job fails and writes nothing."""

    code = "import_file"


@dataclass
class Table:
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]  # (row number in the file, cells), data rows only, header excluded
    estimated_rows: int | None  # data rows, for a progress bar; CSV fields with line breaks make it a guess


@contextmanager
def open_table(path: str | Path) -> Iterator[Table]:
    """The file's header and a stream of its data rows; the file is closed when the block ends."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        opener = _open_csv
    elif suffix in XLSX_SUFFIXES:
        opener = _open_xlsx
    else:
        raise ImportFileError(
            _("“%(name)s” is neither a CSV nor an XLSX file (.csv, .xlsx).") % {"name": path.name}, field="file"
        )
    with opener(path) as (rows, estimate):
        numbered = enumerate(rows, start=1)
        first = next(numbered, None)
        if first is None:
            raise ImportFileError(_("The file is empty: row 1 must name the columns."), field="file")
        header = [_text(cell) for cell in first[1]]
        yield Table(header=header, rows=numbered, estimated_rows=estimate)


@contextmanager
def _open_csv(path: Path):
    encoding, lines = _csv_encoding(path)
    with path.open(encoding=encoding, newline="") as stream:
        yield _csv_rows(csv.reader(stream)), max(lines - 1, 0)


def _csv_rows(reader) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:  # a cell over csv's size limit, say: the rest of the file cannot be trusted
        raise ImportFileError(
            _("Line %(line)s cannot be read as CSV: %(error)s.") % {"line": reader.line_num, "error": exc},
            field="file",
        ) from exc


def _csv_encoding(path: Path) -> tuple[str, int]:
    """The first of ``CSV_ENCODINGS`` that decodes the whole file, and its number of line breaks.

    Decoding everything up front (about 0.1 s for 100 MB) means a bad byte near the end fails the job before
    any row is written, instead of half-way through.
    """
    for encoding in CSV_ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        lines = 0
        try:
            with path.open("rb") as stream:
                while block := stream.read(_BLOCK):
                    decoder.decode(block)
                    lines += block.count(b"\n")
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding, lines
    raise ImportFileError(
        _("The file's text is neither UTF-8 nor GB18030: save it from Excel as “CSV UTF-8”."), field="file"
    )


@contextmanager
def _open_xlsx(path: Path):
    import zipfile

    from openpyxl import load_workbook

    try:
        # read_only streams the sheet's XML; data_only gives a formula's cached value rather than its text
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise ImportFileError(
            _("“%(name)s” cannot be read as an XLSX workbook (%(error)s).") % {"name": path.name, "error": exc},
            field="file",
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        estimate = sheet.max_row - 1 if sheet.max_row else None
        yield (list(row) for row in sheet.iter_rows(values_only=True)), estimate
    finally:
        workbook.close()


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()
