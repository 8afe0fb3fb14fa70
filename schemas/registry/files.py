"""Reading registry files (JSON and CSV) into validated enterprises, with one clear error per
bad row or field. The formats are described in :mod:`schemas.registry.entries`."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas.registry.entries import (
    ENTERPRISE_COLUMNS,
    OUTLET_COLUMNS,
    EnterpriseIn,
    OutletIn,
    RegistryError,
)

__all__ = [
    "RegistryFile",
    "RowError",
    "field_message",
    "parse_registry_bytes",
    "parse_registry_file",
]

_PREFIX = "enterprise_"
_REQUIRED_CSV_COLUMNS = ("enterprise_uscc", "enterprise_name_zh", "mn", "name_zh", "kind")


Where = int | str  # a CSV line number, or a JSON path
M = TypeVar("M", OutletIn, EnterpriseIn)


def _label(where: Where) -> str:
    return f"row {where}" if isinstance(where, int) else where


def _order(where: Where) -> tuple[int, ...]:
    """Sort key: file order, whether ``where`` is a line number or a path like ``a[1].b[0]``."""
    return (where,) if isinstance(where, int) else tuple(map(int, re.findall(r"\d+", where)))


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem with one row (CSV line number or JSON path) and, usually, one field."""

    row: Where
    field: str | None
    message: str

    def __str__(self) -> str:
        if self.field is None:
            return f"{_label(self.row)}: {self.message}"
        return f"{_label(self.row)}, field {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class RegistryFile:
    """A parsed registry file: the valid enterprises and every error found."""

    enterprises: list[EnterpriseIn]
    errors: list[RowError]

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(slots=True)
class _Raw:
    """An enterprise as found in the file, before validation."""

    where: Where
    fields: dict[str, Any]
    outlets: list[tuple[Where, dict[str, Any]]] = dataclasses.field(default_factory=list)


def field_message(error: ErrorDetails) -> str:
    """A pydantic error in words a registry clerk can act on."""
    kind, ctx, got = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not a known field"
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "literal_error":
        return f"must be {ctx['expected']}, got {got!r}"
    if kind == "string_type":
        return f"must be text, got {got!r}"
    if kind == "string_too_long":
        return f"must be at most {ctx['max_length']} characters, got {len(got)}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number, got {got!r}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false, got {got!r}"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = ctx.get("ge", ctx.get("le"))
        return f"must be {'at least' if 'ge' in ctx else 'at most'} {bound:g}, got {got!r}"
    msg = error["msg"]
    return msg[:1].lower() + msg[1:]


def _validate(
    model: type[M], data: dict[str, Any], where: Where, prefix: str, errors: list[RowError]
) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for e in exc.errors(include_url=False):
            name = ".".join(str(part) for part in e["loc"])
            errors.append(RowError(where, prefix + name if name else None, field_message(e)))
        return None


def _build(raws: Sequence[_Raw], prefix: str, errors: list[RowError]) -> RegistryFile:
    enterprises: list[EnterpriseIn] = []
    usccs: dict[str, Where] = {}
    mns: dict[str, Where] = {}
    for raw in raws:
        outlets: list[OutletIn] = []
        for where, data in raw.outlets:
            outlet = _validate(OutletIn, data, where, "", errors)
            if outlet is None:
                continue
            if problem := outlet.binding_problem():
                errors.append(RowError(where, *problem))
                continue
            if outlet.mn in mns:
                message = f"MN {outlet.mn!r} is already used in {_label(mns[outlet.mn])}"
                errors.append(RowError(where, "mn", message))
                continue
            mns[outlet.mn] = where
            outlets.append(outlet)
        enterprise = _validate(EnterpriseIn, raw.fields, raw.where, prefix, errors)
        if enterprise is None:
            continue
        if enterprise.uscc in usccs:
            message = (
                f"USCC {enterprise.uscc!r} is already used in {_label(usccs[enterprise.uscc])}"
            )
            errors.append(RowError(raw.where, prefix + "uscc", message))
            continue
        usccs[enterprise.uscc] = raw.where
        enterprises.append(enterprise.model_copy(update={"outlets": outlets}))
    return RegistryFile(enterprises, sorted(errors, key=lambda e: _order(e.row)))


def _parse_json(text: str, path: PurePath) -> RegistryFile:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(
            f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("enterprises"), list):
        raise RegistryError(f'{path}: expected a JSON object {{"enterprises": [...]}}')
    if extra := sorted(set(doc) - {"enterprises"}):
        raise RegistryError(f"{path}: unknown top-level keys {extra}; only 'enterprises' is read")
    errors: list[RowError] = []
    raws: list[_Raw] = []
    for i, item in enumerate(doc["enterprises"]):
        where = f"enterprises[{i}]"
        if not isinstance(item, dict):
            errors.append(RowError(where, None, "must be an object"))
            continue
        fields = dict(item)
        outlets = fields.pop("outlets", [])
        if not isinstance(outlets, list):
            errors.append(RowError(where, "outlets", "must be a list"))
            continue
        raw = _Raw(where, fields)
        for j, outlet in enumerate(outlets):
            if isinstance(outlet, dict):
                raw.outlets.append((f"{where}.outlets[{j}]", outlet))
            else:
                errors.append(RowError(f"{where}.outlets[{j}]", None, "must be an object"))
        raws.append(raw)
    return _build(raws, "", errors)


def _check_header(header: list[str]) -> list[RowError]:
    known = {_PREFIX + n for n in ENTERPRISE_COLUMNS} | set(OUTLET_COLUMNS)
    errors = [RowError(1, c, "is not a known column") for c in header if c not in known]
    errors += [RowError(1, c, "appears twice") for c in sorted(set(header)) if header.count(c) > 1]
    errors += [
        RowError(1, c, "column is missing") for c in _REQUIRED_CSV_COLUMNS if c not in header
    ]
    return errors


def _parse_csv(text: str, path: PurePath) -> RegistryFile:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [cell.strip() for cell in next(reader, [])]
    if not any(header):
        raise RegistryError(f"{path}: no header row")
    if errors := _check_header(header):
        return RegistryFile([], errors)
    groups: dict[str, _Raw] = {}
    line = reader.line_num
    for record in reader:
        row, line = line + 1, reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) > len(header):
            message = f"has {len(record)} cells but the header has {len(header)}"
            errors.append(RowError(row, None, message))
            continue
        cells = {k: v.strip() for k, v in zip(header, record, strict=False)}
        company = {k[len(_PREFIX) :]: v for k, v in cells.items() if k.startswith(_PREFIX)}
        outlet = {k: v for k, v in cells.items() if not k.startswith(_PREFIX)}
        key = company.get("uscc", "").upper()
        if not key:
            errors.append(RowError(row, _PREFIX + "uscc", "is required"))
            continue
        if (group := groups.get(key)) is None:
            group = groups[key] = _Raw(row, company)
        for name, value in company.items():
            first = group.fields.get(name, "")
            if value and first and value != first and name != "uscc":
                message = f"is {value!r} here but {first!r} in row {group.where}"
                errors.append(RowError(row, _PREFIX + name, message))
            elif value and not first:
                group.fields[name] = value
        group.outlets.append((row, outlet))
    return _build(list(groups.values()), _PREFIX, errors)


def parse_registry_file(path: Path) -> RegistryFile:
    """Read and validate a registry file (``.json`` or ``.csv``)."""
    if path.suffix.lower() not in (".json", ".csv"):
        raise RegistryError(f"{path}: unsupported file type {path.suffix!r}; use .json or .csv")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RegistryError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return parse_registry_bytes(data, path)


def parse_registry_bytes(data: bytes, name: PurePath) -> RegistryFile:
    """Validate the content of a registry file (an upload) named ``name`` (.json or .csv)."""
    suffix = name.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise RegistryError(f"{name}: unsupported file type {suffix!r}; use .json or .csv")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{name}: not UTF-8 text (byte {exc.start})") from exc
    if suffix == ".json":
        return _parse_json(text, name)
    try:
        return _parse_csv(text, name)
    except csv.Error as exc:
        raise RegistryError(f"{name}: not valid CSV: {exc}") from exc
