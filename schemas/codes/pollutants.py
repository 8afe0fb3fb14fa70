"""HJ 212 code tables: factor (pollutant) codes and data flags, read from ``schemas/codes/data/*.csv``.

Factor codes — HJ 212-2017 Appendix B (normative, "可扩充"):
  Table B.1 water factors (引用 HJ 525-2009), 63 codes;
  Table B.2 air / flue-gas factors (引用 HJ 524-2009), 121 codes;
  Table B.3 noise (ST=23), 12 codes, dB, N3.1.
The "原编码" column gives the HJ/T 212-2005 code of the same factor ("legacy_code"). Old codes
collide across media (water ``023`` is total chromium; VOC analysers send ``023`` too), so they
are mapped per medium only.

Data flags — HJ 212-2017 Table 8 "数据标记表" (§6.6.4) and HJ/T 212-2005 (secondary source).
Only ``N`` counts towards means and exceedances; F, M, S, D, C, T, B (and 2005's P) do not.

The CSVs ship inside the package and are read once per process.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any, Literal, get_args

__all__ = [
    "STANDARD_2005",
    "STANDARD_2017",
    "DataFlag",
    "Medium",
    "Pollutant",
    "legacy_codes",
    "load_flags",
    "load_pollutants",
]

Medium = Literal["water", "air", "noise"]

STANDARD_2017 = "HJ 212-2017"
STANDARD_2005 = "HJ/T 212-2005"


@dataclasses.dataclass(frozen=True, slots=True)
class Pollutant:
    """One factor code. Units are the standard's defaults; ``None`` where the table is blank."""

    code: str
    medium: Medium
    name_zh: str
    name_en: str
    unit_zh: str | None  # Rtd/Min/Avg/Max: concentration or instantaneous rate
    unit_en: str | None
    cou_unit_zh: str | None  # Cou: emission amount
    cou_unit_en: str | None
    legacy_code: str | None  # HJ/T 212-2005 code (原编码)
    data_type: str | None  # default precision, e.g. N5.2
    source: str


@dataclasses.dataclass(frozen=True, slots=True)
class DataFlag:
    """One data flag (``xxxxxx-Flag``) of one standard."""

    standard: str
    code: str
    name_zh: str
    name_en: str
    valid: bool  # counts towards means and exceedances
    source: str


def _read_csv(name: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    text = (resources.files("schemas.codes") / "data" / name).read_text("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise RuntimeError(
            f"schemas/codes/data/{name}: columns {reader.fieldnames}, expected {columns}"
        )
    return list(reader)


def _columns(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@cache
def load_pollutants() -> Mapping[str, Pollutant]:
    """Code → :class:`Pollutant` for every code of Tables B.1, B.2 and B.3, in table order."""
    table: dict[str, Pollutant] = {}
    for row in _read_csv("pollutants.csv", _columns(Pollutant)):
        values: dict[str, Any] = {k: (v or None) for k, v in row.items()}
        if values["medium"] not in get_args(Medium):
            raise RuntimeError(f"pollutants.csv: {row['code']}: unknown medium {row['medium']!r}")
        table[row["code"]] = Pollutant(**values)
    return MappingProxyType(table)


@cache
def legacy_codes(medium: Medium) -> Mapping[str, str]:
    """HJ/T 212-2005 code → HJ 212-2017 code for one medium (``"011"`` → ``"w01018"``)."""
    if medium not in get_args(Medium):
        raise ValueError(f"unknown medium {medium!r}: expected one of {get_args(Medium)}")
    return MappingProxyType(
        {
            p.legacy_code: p.code
            for p in load_pollutants().values()
            if p.medium == medium and p.legacy_code is not None
        }
    )


@cache
def load_flags() -> Mapping[tuple[str, str], DataFlag]:
    """(standard, flag) → :class:`DataFlag`, e.g. ``load_flags()[(STANDARD_2017, "N")]``."""
    table: dict[tuple[str, str], DataFlag] = {}
    for row in _read_csv("flags.csv", _columns(DataFlag)):
        if row["valid"] not in ("true", "false"):
            raise RuntimeError(f"flags.csv: {row['code']}: valid must be true or false")
        flag = DataFlag(
            standard=row["standard"],
            code=row["code"],
            name_zh=row["name_zh"],
            name_en=row["name_en"],
            valid=row["valid"] == "true",
            source=row["source"],
        )
        table[(flag.standard, flag.code)] = flag
    return MappingProxyType(table)
