"""CSV that is safe to open in a spreadsheet: every CSV the service writes goes through
:func:`writer` (public and staff CSV answers, the dumps, evidence bundles, import templates).

A spreadsheet reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, and a
leading tab or carriage return can hide one (OWASP, "CSV Injection"). Data loggers and staff
write free text that ends up in CSV cells (a value's flag, a case subject, a file name), so a
text cell starting with one of these characters gets a leading apostrophe, which spreadsheets
show as text and do not evaluate. Plain numbers (``-1.5``, ``+3e2``) are left as they are: a
spreadsheet reads them as the numbers they are, and downstream parsers keep working.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = ["TRIGGERS", "CsvWriter", "checked_writer", "safe_cell", "writer"]

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


def checked_writer(out: _Text, *, lineterminator: str = "\r\n") -> Any:
    """A plain CSV writer for a specialised writer that knows its columns and passes every text
    cell through :func:`safe_cell` itself, leaving the cells it formats as numbers alone
    (``api.series.hour_csv_lines``). Anything else uses :func:`writer`."""
    return csv.writer(out, lineterminator=lineterminator)
