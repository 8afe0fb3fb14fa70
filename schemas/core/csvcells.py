"""CSV that is safe to open in a spreadsheet: every CSV the service writes goes through
:func:`writer` (public and staff CSV answers, the dumps, evidence bundles, import templates).

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and a
leading tab or carriage return can hide one (OWASP, "CSV Injection"). Data loggers and staff
write free text that ends up in CSV cells (a value's flag, a case subject, a file name), so a
text cell starting with one of these characters gets a leading apostrophe, which spreadsheets
show as text and do not evaluate. Plain numbers (``-1.5``, ``+3e2``) are left as they are: a
spreadsheet reads them as the numbers they are, and downstream parsers keep working.

An XLSX cell is typed: a text cell is never evaluated, whatever it starts with, but openpyxl
makes a formula of any ``str`` that starts with ``=``. :func:`xlsx_text` turns such cells of a
row back into text cells, unchanged (docs/security.md, "Spreadsheet formulas").
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["TRIGGERS", "CsvWriter", "safe_cell", "text_cell", "writer", "xlsx_text"]

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class _Text(Protocol):
    def write(self, s: str, /) -> Any: ...


def safe_cell(value: Any) -> Any:
    """``value``, with an apostrophe before a text that a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(TRIGGERS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class CsvWriter:
    """:func:`csv.writer` whose every cell goes through :func:`safe_cell`."""

    def __init__(self, out: _Text, **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([safe_cell(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(out: _Text, *, lineterminator: str = "\r\n") -> CsvWriter:
    """A CSV writer on ``out`` (RFC 4180 line ends by default) that neutralises formulas."""
    return CsvWriter(out, lineterminator=lineterminator)


def text_cell(value: str) -> str:
    """One text cell as :func:`writer` writes it among others in a row: checked by
    :func:`safe_cell`, then quoted where CSV needs it — for a specialised writer that joins
    the cells of a row itself (``api.series.hour_csv_lines``, which keeps these per text)."""
    if value == "":
        return ""  # csv.writer quotes a row's only cell when it is empty; not one of several
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([safe_cell(value)])
    return out.getvalue()[:-2]


class _XlsxCell(Protocol):
    data_type: str


def xlsx_text(cells: Iterable[_XlsxCell]) -> None:
    """Make every formula cell among ``cells`` (openpyxl cells, e.g. a row just appended) a text
    cell with the same value: what a ``str`` starting with ``=`` is, never a formula."""
    for cell in cells:
        if cell.data_type == "f":
            cell.data_type = "s"
