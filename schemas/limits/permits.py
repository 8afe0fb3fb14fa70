"""Importing outlet-specific limits (from a permit or a local standard) from CSV: every bad row
reported with its line and field, nothing written until the file is clean, and a changed value
stored as a new version that supersedes the old one (old rows are never edited)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from schemas.codes.pollutants import load_pollutants
from schemas.codes.tables import parse_row
from schemas.limits.rules import LimitsError
from schemas.registry.files import RowError

__all__ = ["LimitImport", "import_outlet_limits", "import_outlet_limits_data"]


_IMPORT_REQUIRED = ("mn", "pollutant", "value", "unit", "period", "source_document", "valid_from")
_IMPORT_COLUMNS = (*_IMPORT_REQUIRED, "value_min", "reference_o2", "clause", "valid_to")
_VERSIONED = (
    "value",
    "value_min",
    "unit",
    "reference_o2",
    "source_document",
    "clause",
    "valid_from",
    "valid_to",
)
_LATEST = sql.SQL(
    "SELECT id, version, {columns} FROM outlet_limits"
    " WHERE outlet_id = %s AND pollutant = %s AND period = %s"
    " ORDER BY version DESC LIMIT 1 FOR UPDATE"
).format(columns=sql.SQL(", ").join(map(sql.Identifier, _VERSIONED)))
_INSERT = sql.SQL(
    "INSERT INTO outlet_limits (outlet_id, pollutant, period, version, supersedes, created_by,"
    " {columns}) VALUES (%s, %s, %s, %s, %s, %s, {values})"
).format(
    columns=sql.SQL(", ").join(map(sql.Identifier, _VERSIONED)),
    values=sql.SQL(", ").join(sql.Placeholder() * len(_VERSIONED)),
)


@dataclass(frozen=True, slots=True)
class LimitImport:
    """What :func:`import_outlet_limits` did. When ``errors`` is not empty, nothing was written."""

    inserted: int = 0  # first limit for its (outlet, pollutant, period)
    superseded: int = 0  # a new version that supersedes the current one
    unchanged: int = 0  # identical to the current version
    errors: tuple[RowError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.errors:
            return "\n".join(["nothing imported:", *map(str, self.errors)])
        return (
            f"outlet limits: {self.inserted} new, {self.superseded} new versions,"
            f" {self.unchanged} unchanged"
        )


def _read_import(data: bytes, name: str) -> tuple[list[tuple[int, dict[str, Any]]], list[RowError]]:
    """The parsed data rows (with their line numbers) and every problem found in them."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LimitsError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    errors = [RowError(1, c, "is not a known column") for c in header if c not in _IMPORT_COLUMNS]
    errors += [RowError(1, c, "appears twice") for c in sorted(set(header)) if header.count(c) > 1]
    errors += [RowError(1, c, "column is missing") for c in _IMPORT_REQUIRED if c not in header]
    if errors:
        return [], errors
    rows = []
    line = reader.line_num
    for record in reader:
        row, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(header):
            message = f"has {len(record)} cells but the header has {len(header)}"
            errors.append(RowError(row, None, message))
            continue
        cells = dict.fromkeys(_IMPORT_COLUMNS, "") | dict(zip(header, record, strict=False))
        problems: list[tuple[str, str]] = []
        rows.append((row, parse_row(cells, _IMPORT_REQUIRED, problems)))
        errors += [RowError(row, field, message) for field, message in problems]
    return rows, errors


def _check_against_registry(
    conn: psycopg.Connection[Any], rows: list[tuple[int, dict[str, Any]]], errors: list[RowError]
) -> list[tuple[int, dict[str, Any]]]:
    """Outlet id and row for each row; outlets, factor codes and units checked per row."""
    pollutants = load_pollutants()
    mns = sorted({r["mn"] for _, r in rows if r["mn"]})
    query = "SELECT mn, id, kind FROM outlets WHERE mn = ANY(%s)"
    outlets = {mn: (oid, kind) for mn, oid, kind in conn.execute(query, (mns,))}
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for line, r in rows:
        mn, code = r["mn"], r["pollutant"]
        if code and code not in pollutants:
            errors.append(RowError(line, "pollutant", f"unknown factor code {code!r} (HJ 212)"))
        if mn and mn not in outlets:
            errors.append(RowError(line, "mn", f"unknown MN {mn!r}: register the outlet first"))
        if mn and code and r["period"]:
            if (key := (mn, code, r["period"])) in seen:
                message = f"{mn} / {code} / {r['period']} is already in row {seen[key]}"
                errors.append(RowError(line, None, message))
            seen.setdefault(key, line)
        if mn not in outlets:
            continue
        outlet_id, kind = outlets[mn]
        out.append((outlet_id, r))
        medium = pollutants[code].medium if code in pollutants else None
        if medium is not None and (medium == "air") != (kind == "gas"):
            errors.append(
                RowError(line, "pollutant", f"{code} is a {medium} factor, {mn} is {kind}")
            )
        units = ("mg/m³",) if kind == "gas" else ("mg/L", "dimensionless")
        if r["unit"] is not None and r["unit"] not in units:
            errors.append(
                RowError(line, "unit", f"must be {' or '.join(units)} for a {kind} outlet")
            )
        if kind == "water" and r["reference_o2"] is not None:
            errors.append(RowError(line, "reference_o2", "must be empty for a water outlet"))
    return out


def import_outlet_limits(
    conn: psycopg.Connection[Any], path: Path, *, created_by: str = "import"
) -> LimitImport:
    """Import outlet limits from a CSV file: :func:`import_outlet_limits_data` of its bytes."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LimitsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return import_outlet_limits_data(conn, data, str(path), created_by=created_by)


def import_outlet_limits_data(
    conn: psycopg.Connection[Any], data: bytes, name: str, *, created_by: str = "import"
) -> LimitImport:
    """Import outlet limits from CSV content named ``name`` (UTF-8, BOM tolerated; header
    row 1).

    Columns: mn, pollutant, value, unit, period, source_document, valid_from (required) and
    value_min, reference_o2, clause, valid_to. One row per (mn, pollutant, period). A row that
    differs from the current version of its (mn, pollutant, period) adds version n + 1 with
    ``supersedes`` = the current id; an identical row changes nothing. All rows are checked
    first: with any error nothing is written and the report lists every error."""
    try:
        rows, errors = _read_import(data, name)
    except csv.Error as exc:
        raise LimitsError(f"{name}: not valid CSV: {exc}") from exc
    targets = _check_against_registry(conn, rows, errors)
    if errors:
        return LimitImport(errors=tuple(sorted(errors, key=_line)))
    counts = {"inserted": 0, "superseded": 0, "unchanged": 0}
    try:
        with conn.transaction(), conn.cursor() as cur:
            for outlet_id, r in targets:
                key = (outlet_id, r["pollutant"], r["period"])
                latest = cur.execute(_LATEST, key).fetchone()
                new = tuple(r[c] for c in _VERSIONED)
                if latest is not None and tuple(latest[2:]) == new:
                    counts["unchanged"] += 1
                    continue
                version, supersedes = (1, None) if latest is None else (latest[1] + 1, latest[0])
                cur.execute(_INSERT, (*key, version, supersedes, created_by, *new))
                counts["inserted" if latest is None else "superseded"] += 1
    except (psycopg.IntegrityError, psycopg.DataError) as exc:
        reason = exc.diag.message_primary or str(exc)
        raise LimitsError(
            f"the database refused the import, nothing was imported: {reason}"
        ) from exc
    return LimitImport(counts["inserted"], counts["superseded"], counts["unchanged"])


def _line(error: RowError) -> int:
    return error.row if isinstance(error.row, int) else 0
