"""The code tables of disclosure on request: the statutory clocks and the outcomes.

Both ship as CSV in ``schemas/codes/data/`` with the clause and source of each value:

* ``disclosure_request_clocks.csv`` — working days to answer (20), the longest extension (20)
  and the time to ask for a supplement (7), 《中华人民共和国政府信息公开条例》 (2019) articles 33
  and 30;
* ``disclosure_request_outcomes.csv`` — the answers the Regulation provides (article 36 and
  its neighbours, kind ``answer``) and the outcomes of reconsiderations and lawsuits as the
  annual-report format counts them (kind ``challenge``).

:func:`load_request_tables` upserts them (called by
:func:`schemas.reference.load_reference_data`); :func:`clocks` and :func:`outcomes` read
them back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import psycopg

from schemas.codes.tables import REFERENCE_PARSERS, read_reference_csv, upsert_reference_rows

__all__ = [
    "CLOCKS",
    "Clock",
    "Outcome",
    "clocks",
    "load_request_tables",
    "outcomes",
]

#: The clocks the code relies on (their values are in the CSV).
CLOCKS = ("answer", "extension", "supplement_notice")

_PARSERS: dict[str, Callable[[str], Any]] = {
    **REFERENCE_PARSERS,
    "working_days": int,
    "ordinal": int,
}


@dataclass(frozen=True, slots=True)
class Clock:
    code: str
    working_days: int
    name_zh: str
    name_en: str
    clause: str | None
    source_document: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    code: str
    kind: Literal["answer", "challenge"]
    ordinal: int
    clause: str | None
    name_zh: str
    name_en: str
    source_document: str
    confirmed: bool


def load_request_tables(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Upsert both CSVs in one transaction; return the rows loaded per table."""
    clock_rows = read_reference_csv("disclosure_request_clocks.csv", ("code",), _PARSERS)
    outcome_rows = read_reference_csv("disclosure_request_outcomes.csv", ("code",), _PARSERS)
    if sorted(c["code"] for c in clock_rows) != sorted(CLOCKS):
        raise ValueError(f"disclosure_request_clocks.csv must hold exactly {', '.join(CLOCKS)}")
    if bad := [o["code"] for o in outcome_rows if o["kind"] not in ("answer", "challenge")]:
        raise ValueError(f"disclosure_request_outcomes.csv: bad kind in {', '.join(bad)}")
    with conn.transaction(), conn.cursor() as cur:
        upsert_reference_rows(cur, "disclosure_request_clocks", ("code",), clock_rows)
        upsert_reference_rows(cur, "disclosure_request_outcomes", ("code",), outcome_rows)
    return {
        "disclosure_request_clocks": len(clock_rows),
        "disclosure_request_outcomes": len(outcome_rows),
    }


def clocks(conn: psycopg.Connection[Any]) -> dict[str, Clock]:
    rows = conn.execute(
        "SELECT code, working_days, name_zh, name_en, clause, source_document, confirmed"
        " FROM disclosure_request_clocks"
    ).fetchall()
    return {row[0]: Clock(*row) for row in rows}


def outcomes(conn: psycopg.Connection[Any], kind: str | None = None) -> list[Outcome]:
    """The outcomes in their order, of one ``kind`` (``answer`` or ``challenge``) or all."""
    rows = conn.execute(
        "SELECT code, kind, ordinal, clause, name_zh, name_en, source_document, confirmed"
        " FROM disclosure_request_outcomes WHERE %(kind)s::text IS NULL OR kind = %(kind)s"
        " ORDER BY ordinal",
        {"kind": kind},
    ).fetchall()
    return [Outcome(*row) for row in rows]
