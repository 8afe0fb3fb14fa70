"""Issue 15, CSV formula injection: one writer for every CSV the service writes, which keeps a
spreadsheet from running a cell as a formula."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import openpyxl
import pytest

from schemas.core import csvcells

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
        ("@SUM(1+1)", "'@SUM(1+1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("-", "'-"),
        ("-1.5", "-1.5"),  # numbers stay numbers
        ("+3e2", "+3e2"),
        ("N", "N"),
        ("a=b", "a=b"),
        ("", ""),
        (-2, -2),
        (None, None),
    ],
)
def test_safe_cell(cell: object, written: object) -> None:
    assert csvcells.safe_cell(cell) == written


def test_the_writer_neutralises_every_cell_and_reads_back() -> None:
    out = io.StringIO(newline="")
    w = csvcells.writer(out)
    w.writerow(["flag", "value"])
    w.writerows([["=1+1", "-1.5"], ["@x", 3]])
    assert out.getvalue() == "flag,value\r\n'=1+1,-1.5\r\n'@x,3\r\n"
    assert list(csv.reader(io.StringIO(out.getvalue(), newline="")))[1] == ["'=1+1", "-1.5"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "N",
        "a,b",
        'say "x"',
        "two\nlines",
        "cr\r",
        "=1+1",
        '=HYPERLINK("x")',
        "-5 m",
        " x",
        "注意",
    ],
)
def test_a_text_cell_is_the_writers_cell_among_others(text: str) -> None:
    """``text_cell`` (a specialised writer joins the cells itself) writes what ``writer`` does."""
    out = io.StringIO(newline="")
    csvcells.writer(out).writerow(["a", text, "b"])
    assert out.getvalue() == f"a,{csvcells.text_cell(text)},b\r\n"


def test_no_csv_is_written_but_through_csvcells() -> None:
    """One home: a new ``csv.writer`` anywhere in the service would skip the neutralising."""
    pattern = re.compile(r"csv\.(writer|DictWriter)\(|COPY\b.*\bCSV\b", re.IGNORECASE)
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("api", "alerts", "ingest", "schemas", "sourcewatch")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "csvcells.py"
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


def test_an_xlsx_text_is_never_a_formula() -> None:
    """openpyxl makes a formula of a str starting with ``=``; :func:`csvcells.xlsx_text` keeps
    it a text cell with the same value, and numbers numbers."""
    texts = ['=HYPERLINK("http://x","y")', "@SUM(1)", "+1", "-2+3", "\t=1"]
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append([*texts, -5, -2.5])
    assert sheet["A1"].data_type == "f"  # what openpyxl would write
    csvcells.xlsx_text(sheet[1])
    out = io.BytesIO()
    book.save(out)
    loaded = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    row = next(iter(loaded.worksheets[0].iter_rows()))
    assert [(c.data_type, c.value) for c in row] == [
        *(("s", text) for text in texts),
        ("n", -5),
        ("n", -2.5),
    ]
