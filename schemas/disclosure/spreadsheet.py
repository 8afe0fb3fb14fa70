"""Bulk import of staff-authored records from CSV or XLSX, and import templates.

:func:`parse_bulk` reads one file of one record type (staff types only: :data:`STAFF_MODELS`)
and returns every good row as canonical content (what
:func:`schemas.disclosure.record_types.validate_content` would store) together with one
:class:`RowError` per problem. It does not stop at the first bad row; import nothing while
``errors`` is non-empty.

Files:

* **CSV**: UTF-8 with or without BOM; a file that is not UTF-8 is read as GB18030 (what a
  Chinese Excel saves as "CSV"). Comma-separated, ``"`` quoting.
* **XLSX**: the first sheet; date cells are read as dates. (Legacy ``.xls`` is refused: save as
  ``.xlsx`` or CSV.)

Layout: the first row is the header. A header cell may be a field's name (``decision_number``),
its English label (``Decision number``) or its Chinese label (``处罚决定书文号``); case, spaces,
full-/half-width forms and a trailing ``*`` (the templates' "required" mark) do not matter. The
enterprise a row belongs to is the column ``enterprise_uscc`` (also ``统一社会信用代码``,
``Enterprise USCC``), required — unless the record type has a ``uscc`` field itself
(``penalty_decision``), which then doubles as the enterprise column. Rows right below the
header that only repeat labels (the templates' English label row) are skipped, as are blank
rows. Empty cells are unset (the field's default applies). Dates may also be written
``2026/3/1`` or ``2026年3月1日``; choices by their code or their Chinese or English label;
booleans as ``是``/``否``, ``true``/``false``, ``1``/``0``.

Line numbers are spreadsheet rows: the header is line 1. Header problems (unknown, duplicate or
missing columns) are reported once, on line 1; the rows are still checked against the columns
that are known, so one pass shows every problem, but no row is returned (its data would be
misread). Otherwise good rows are returned beside the errors of bad ones.

Limits: 10 MB and 10,000 data rows; every row counts, blank and label rows too (at most
:data:`MAX_LINES` lines). An XLSX sheet may declare at most :data:`MAX_LINES` rows and
:data:`MAX_COLUMNS` columns (its ``<dimension>``), only that many columns are read, and its
parts may unzip to at most :data:`MAX_UNZIPPED_BYTES`: a small workbook declaring ``A1:XFD2000``
would otherwise have 32 million cells read. Beyond any limit, and for a file that cannot be
read at all, :class:`BulkFileError`.

:func:`template` produces an empty import file for a record type: the Chinese labels are the
header (required columns marked ``*``), the English labels the second row (skipped on import);
the XLSX template also has drop-down lists for choices and a second sheet describing every
column.
"""

from __future__ import annotations

import csv
import io
import re
import types
import unicodedata
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import openpyxl
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from schemas.core import csvcells
from schemas.disclosure.content import RecordContent
from schemas.disclosure.staff_types import STAFF_MODELS
from schemas.registry.entries import check_uscc

__all__ = [
    "ENTERPRISE_COLUMN",
    "MAX_BYTES",
    "MAX_COLUMNS",
    "MAX_LINES",
    "MAX_ROWS",
    "MAX_UNZIPPED_BYTES",
    "BulkFileError",
    "BulkParse",
    "BulkRow",
    "RowError",
    "parse_bulk",
    "template",
]

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 10_000
MAX_LINES = MAX_ROWS + 1_000  # every row: the header, label and blank rows count too
MAX_COLUMNS = 256  # far more than any record type has fields
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # an XLSX's parts, unzipped

#: The column naming a row's enterprise, and its labels.
ENTERPRISE_COLUMN = "enterprise_uscc"
_ENTERPRISE_LABELS = ("统一社会信用代码", "Enterprise USCC")


class BulkFileError(ValueError):
    """The file as a whole cannot be read: too large, too many rows, not CSV/XLSX, no header."""


@dataclass(frozen=True, slots=True)
class BulkRow:
    """One good row: its line, its enterprise's USCC and its canonical content."""

    line: int
    enterprise_uscc: str | None
    content: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem: ``line`` (1 = header), ``field`` (a field name, or ``""`` for the file)."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field or '-'}: {self.message}"


@dataclass(slots=True)
class BulkParse:
    """The good rows and every problem found."""

    rows: list[BulkRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- Columns -----------------------------------------------------------------------------------


def _norm(text: str) -> str:
    """A header cell as compared: NFKC (full-width → half-width), case-folded, without
    whitespace and without a trailing required mark."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", "", folded).rstrip("*")


def _labels(info: FieldInfo, name: str) -> tuple[str, str]:
    extra = info.json_schema_extra
    if isinstance(extra, dict):
        zh, en = extra.get("label_zh"), extra.get("label_en")
        if isinstance(zh, str) and isinstance(en, str):
            return zh, en
    return name, info.title or name


@dataclass(frozen=True, slots=True)
class _Column:
    name: str  # field name, or ENTERPRISE_COLUMN
    label_zh: str
    label_en: str
    required: bool
    kind: str  # "date" | "datetime" | "bool" | "other"
    choices: tuple[str, ...]

    def aliases(self) -> set[str]:
        out = {_norm(self.name), _norm(self.label_zh), _norm(self.label_en)}
        if self.name in (ENTERPRISE_COLUMN, "uscc"):
            out |= {_norm(ENTERPRISE_COLUMN), *map(_norm, _ENTERPRISE_LABELS)}
        return out


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation admits (Optional and Annotated removed)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _kind(annotation: Any) -> tuple[str, tuple[str, ...]]:
    kinds = [t for t in _unwrap(annotation) if t is not type(None)]
    choices: tuple[str, ...] = ()
    for t in kinds:
        if get_origin(t) is Literal:
            choices += tuple(str(a) for a in get_args(t))
    if datetime in kinds:
        return "datetime", choices
    if date in kinds:
        return "date", choices
    if bool in kinds:
        return "bool", choices
    return "other", choices


def _columns(model: type[RecordContent]) -> list[_Column]:
    cols = []
    if "uscc" not in model.model_fields:
        cols.append(_Column(ENTERPRISE_COLUMN, *_ENTERPRISE_LABELS, True, "other", ()))
    for name, info in model.model_fields.items():
        kind, choices = _kind(info.annotation)
        cols.append(_Column(name, *_labels(info, name), info.is_required(), kind, choices))
    return cols


def _model_of(record_type: str) -> type[RecordContent]:
    model = STAFF_MODELS.get(record_type)
    if model is None:
        raise ValueError(
            f"{record_type!r} cannot be imported: only staff-authored record types can"
            f" ({', '.join(sorted(STAFF_MODELS))})"
        )
    return model


# --- Reading files -----------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise BulkFileError("the CSV file is neither UTF-8 nor GB18030 text") from None


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    text = _decode(data)
    if "\x00" in text:
        raise BulkFileError("the file is not a CSV text file (save it as .csv or .xlsx)")
    try:
        for row in csv.reader(io.StringIO(text, newline=""), strict=True):
            if len(row) > MAX_COLUMNS:
                if not all(_blank(c) for c in row[MAX_COLUMNS:]):
                    raise BulkFileError(f"a row has more than {MAX_COLUMNS} columns")
                row = row[:MAX_COLUMNS]
            yield row
    except csv.Error as exc:
        raise BulkFileError(f"the CSV file cannot be read: {exc}") from None


# What openpyxl raises on a damaged workbook: a bad zip, missing parts, malformed XML
# (ParseError is a SyntaxError), cells it cannot convert.
_XLSX_ERRORS = (
    zipfile.BadZipFile,
    InvalidFileException,
    KeyError,
    ValueError,
    TypeError,
    IndexError,
    OSError,
    SyntaxError,
)


def _unzipped_size(data: bytes) -> int:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except _XLSX_ERRORS as exc:
        raise BulkFileError(f"the XLSX file cannot be read: {exc}") from None


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    if (unzipped := _unzipped_size(data)) > MAX_UNZIPPED_BYTES:
        raise BulkFileError(
            f"the XLSX file unzips to {unzipped:,} bytes; at most {MAX_UNZIPPED_BYTES:,}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # styles openpyxl does not know
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _XLSX_ERRORS as exc:
        raise BulkFileError(f"the XLSX file cannot be read: {exc}") from None
    try:
        if not book.worksheets:
            raise BulkFileError("the XLSX file has no sheet")
        sheet = book.worksheets[0]
        _check_dimension(sheet)
        try:
            # bounded whatever the sheet declares: one row more than allowed shows the excess
            rows = sheet.iter_rows(max_row=MAX_LINES + 1, max_col=MAX_COLUMNS, values_only=True)
            for row in rows:
                yield list(row)
        except _XLSX_ERRORS as exc:
            raise BulkFileError(f"the XLSX file cannot be read: {exc}") from None
    finally:
        book.close()


def _check_dimension(sheet: Any) -> None:
    """Refuse a sheet whose ``<dimension>`` declares more rows or columns than can be read."""
    rows, columns = sheet.max_row, sheet.max_column  # None when the sheet declares none
    if rows is not None and rows > MAX_LINES:
        raise BulkFileError(
            f"the sheet declares {rows:,} rows; at most {MAX_LINES:,} can be read (delete the"
            " empty rows below the data, or save the file as CSV)"
        )
    if columns is not None and columns > MAX_COLUMNS:
        raise BulkFileError(
            f"the sheet declares {columns:,} columns; at most {MAX_COLUMNS} can be read (delete"
            " the empty columns right of the data, or save the file as CSV)"
        )


def _rows_of(data: bytes, filename: str) -> Iterator[list[Any]]:
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if suffix == "xls" or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise BulkFileError("legacy .xls workbooks are not read: save the file as .xlsx or .csv")
    if suffix in ("xlsx", "xlsm") or data.startswith(b"PK\x03\x04"):
        return _xlsx_rows(data)
    return _csv_rows(data)


# --- Cells -------------------------------------------------------------------------------------

_DATE_TEXT = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2})秒?)?分?)?$"
)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cell(value: Any, kind: str) -> Any:
    """A cell as given to the model: text stripped, numbers as text (so a text field gets
    ``"2026"``, not 2026.0), dates as dates for date fields, loose date text parsed."""
    if isinstance(value, str):
        text = value.strip()
        if kind in ("date", "datetime") and (m := _DATE_TEXT.match(text)):
            try:
                y, mo, d, h, mi, s = (int(g) if g else 0 for g in m.groups())
                if kind == "date" and m.group(4) is None:
                    return date(y, mo, d)
                if kind == "datetime":
                    return datetime(y, mo, d, h, mi, s)
            except ValueError:
                pass  # let the model say what is wrong with it
        return text
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        midnight = value.time() == time()
        if kind == "date" and midnight:
            return value.date()
        if kind in ("date", "datetime"):
            return value
        return value.date().isoformat() if midnight else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat() if kind not in ("date", "datetime") else value
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


# --- Parsing -----------------------------------------------------------------------------------


def _match_header(
    header: Sequence[Any], columns: list[_Column], errors: list[RowError]
) -> dict[int, _Column]:
    by_alias = {alias: col for col in columns for alias in col.aliases()}
    by_alias |= {_norm(col.name): col for col in columns}  # a field's own name wins
    found: dict[int, _Column] = {}
    unknown: list[str] = []
    seen: dict[str, str] = {}
    for index, cell in enumerate(header):
        if _blank(cell):
            continue
        text = str(cell).strip()
        col = by_alias.get(_norm(text))
        if col is None:
            unknown.append(text)
            continue
        if col.name in seen:
            errors.append(
                RowError(1, col.name, f"columns {seen[col.name]!r} and {text!r} are the same field")
            )
            continue
        seen[col.name] = text
        found[index] = col
    if unknown:
        names = ", ".join(repr(u) for u in unknown)
        errors.append(
            RowError(
                1, "", f"unknown column(s) {names}: use the field names or labels of the template"
            )
        )
    missing = [c for c in columns if c.required and c.name not in seen]
    if missing:
        names = ", ".join(f"{c.name} ({c.label_zh})" for c in missing)
        errors.append(RowError(1, "", f"missing required column(s): {names}"))
    return found


def _is_label_row(row: Sequence[Any], found: dict[int, _Column]) -> bool:
    """Whether a row only repeats the columns' labels (the template's English label row)."""
    cells = [(i, c) for i, c in enumerate(row) if not _blank(c)]
    return bool(cells) and all(
        i in found and isinstance(c, str) and _norm(c) in found[i].aliases() for i, c in cells
    )


def parse_bulk(data: bytes, filename: str, record_type: str) -> BulkParse:
    """The good rows of a CSV or XLSX import of ``record_type`` and every problem in it.

    ``ValueError`` for a record type that cannot be imported (automatic or unknown);
    :class:`BulkFileError` for a file over the limits or unreadable as a whole.
    """
    model = _model_of(record_type)
    if len(data) > MAX_BYTES:
        raise BulkFileError(
            f"the file has {len(data):,} bytes; at most {MAX_BYTES:,} (10 MB) can be imported"
            " at once: split it"
        )
    columns = _columns(model)
    result = BulkParse()
    rows = enumerate(_rows_of(data, filename), start=1)
    first = next(rows, None)
    if first is None:
        raise BulkFileError("the file is empty: it needs a header row and data rows")
    header = first[1]
    if all(_blank(c) for c in header):
        raise BulkFileError("the first row must be the header (field names or labels)")
    found = _match_header(header, columns, result.errors)
    header_ok = not result.errors
    missing = {c.name for c in columns if c.required} - {c.name for c in found.values()}
    has_uscc_field = "uscc" in model.model_fields

    count = 0
    labels_allowed = True
    for line, row in rows:
        if line > MAX_LINES:
            raise BulkFileError(
                f"more than {MAX_LINES:,} rows (blank rows included); at most {MAX_ROWS:,} data"
                " rows can be imported at once: split the file"
            )
        if all(_blank(c) for c in row):
            continue
        if labels_allowed and _is_label_row(row, found):
            continue
        labels_allowed = False
        count += 1
        if count > MAX_ROWS:
            raise BulkFileError(
                f"more than {MAX_ROWS:,} data rows; at most {MAX_ROWS:,} can be imported at once:"
                " split the file"
            )
        _parse_row(model, line, row, found, missing, has_uscc_field, result)
    if not header_ok:
        result.rows.clear()
    return result


def _parse_row(
    model: type[RecordContent],
    line: int,
    row: Sequence[Any],
    found: dict[int, _Column],
    missing: set[str],
    has_uscc_field: bool,
    result: BulkParse,
) -> None:
    values: dict[str, Any] = {}
    for index, col in found.items():
        if index < len(row) and not _blank(row[index]):
            values[col.name] = _cell(row[index], col.kind)
    errors: list[RowError] = []
    enterprise: str | None = None
    if not has_uscc_field:
        raw = values.pop(ENTERPRISE_COLUMN, None)
        if raw is None:
            if ENTERPRISE_COLUMN not in missing:
                errors.append(RowError(line, ENTERPRISE_COLUMN, "required (统一社会信用代码)"))
        else:
            try:
                enterprise = check_uscc(str(raw))
            except ValueError as exc:
                errors.append(RowError(line, ENTERPRISE_COLUMN, str(exc)))
    try:
        parsed = model.model_validate(values)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            name = ".".join(str(p) for p in e["loc"])
            if e["type"] == "missing" and name in missing:
                continue  # reported once, on line 1
            errors.append(RowError(line, name, _message(e["msg"])))
        result.errors.extend(errors)
        return
    if errors:
        result.errors.extend(errors)
        return
    content = parsed.model_dump(mode="json")
    if has_uscc_field:
        enterprise = content["uscc"]
    result.rows.append(BulkRow(line, enterprise, content))


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


# --- Templates ---------------------------------------------------------------------------------


def _header_rows(columns: Iterable[_Column]) -> tuple[list[str], list[str]]:
    zh, en = [], []
    for col in columns:
        mark = "*" if col.required else ""
        zh.append(col.label_zh + mark)
        en.append(col.label_en + mark)
    return zh, en


def template(record_type: str, fmt: Literal["csv", "xlsx"]) -> bytes:
    """An empty import file for ``record_type``: the Chinese labels as the header (``*`` marks
    a required column), the English labels as the second row; :func:`parse_bulk` also accepts
    English labels or field names as the header and skips the English row. ``ValueError`` for
    a record type that cannot be imported or an unknown format."""
    model = _model_of(record_type)
    columns = _columns(model)
    zh, en = _header_rows(columns)
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csvcells.writer(out)
        writer.writerow(zh)
        writer.writerow(en)
        return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read it as UTF-8
    if fmt == "xlsx":
        return _xlsx_template(model, record_type, columns, zh, en)
    raise ValueError(f"format must be 'csv' or 'xlsx', got {fmt!r}")


def _xlsx_template(
    model: type[BaseModel], record_type: str, columns: list[_Column], zh: list[str], en: list[str]
) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = record_type[:31]
    sheet.append(zh)
    sheet.append(en)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for cell in sheet[2]:
        cell.font = Font(italic=True, color="808080")
    sheet.freeze_panes = "A3"
    for index, col in enumerate(columns, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(14, len(col.label_en) + 4)
        choices = col.choices or (("是", "否") if col.kind == "bool" else ())
        if choices:
            rule = DataValidation(type="list", formula1='"' + ",".join(choices) + '"')
            rule.add(f"{letter}3:{letter}{MAX_ROWS + 2}")
            sheet.add_data_validation(rule)

    notes = book.create_sheet("说明 Notes")
    notes.append(["字段 Field", "中文列名", "English label", "必填 Required", "说明 Description"])
    for cell in notes[1]:
        cell.font = Font(bold=True)
    props = model.model_json_schema()["properties"]
    for col in columns:
        if col.name == ENTERPRISE_COLUMN:
            desc = "企业的统一社会信用代码 (the enterprise's USCC, 18 characters)"
        else:
            desc = str(props.get(col.name, {}).get("description", ""))
        if col.kind == "date":
            desc = (desc + "; " if desc else "") + "YYYY-MM-DD"
        notes.append([col.name, col.label_zh, col.label_en, "是 yes" if col.required else "", desc])
    notes.append([])
    notes.append(
        [
            "",
            "第1行为表头（中文列名）；第2行英文列名导入时跳过。表头也可用英文列名或字段名。",
            (
                "Row 1 is the header (Chinese labels); row 2 (English labels) is skipped on"
                " import. English labels or field names are accepted as the header too."
            ),
        ]
    )
    for letter, width in zip("ABCDE", (24, 24, 32, 12, 80), strict=True):
        notes.column_dimensions[letter].width = width
    for ws in (sheet, notes):  # every cell is text or a number, never a formula
        for row in ws.iter_rows():
            csvcells.xlsx_text(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
