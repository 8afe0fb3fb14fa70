"""The frozen evidence bundle of a case: one ZIP that stands on its own before a reviewer.

Files, always in this order (docs/regulations.md#evidence):

``case.json``          the case row, its periods, the outlet and enterprise (never the PW);
                       each period with ``in_progress``
``history.json``       every ``case_events`` row: who opened, acknowledged, closed, replied
``limit.json``         the limit version judged by (``limits`` or ``outlet_limits``)
``means.csv``          hourly (or daily) means over the case span ± a margin, with coverage
                       and ``in_progress``
``values.csv``         the measurements behind them (flags, revision, frame id), and the value
                       and marks they had when the case was opened (the decision)
``revisions.csv``      every revision of those measurements: values and marks before and after
``frames.csv``         the frames behind those values and revisions: CRC verdict, SHA-256
``frames/<id>.hj212``  each raw frame as received, by ascending id, but for its password: the
                       value of ``PW=`` (HJ 212) or ``"pw"`` (JSON uplink) is replaced by as
                       many ``*`` (:func:`mask_pw`); ``frames.csv`` gives the SHA-256 of the
                       frame as received, which the password put back reproduces
``manifest.json``      generation time, case id, version, SHA-256 and size of the files above
``SHA256SUMS``         ``sha256sum -c`` format, for every other file including the manifest

Everything is read in one REPEATABLE READ snapshot, so the files agree with each other. Times
are UTC ISO 8601; CSV files give the Asia/Shanghai time next to each (``*_utc``, ``*_local``).
Decimals are written as stored: strings in JSON, plain text in CSV; jsonb cells verbatim. The
span is the case's periods plus :data:`MARGIN_HOURS` (hourly) or :data:`MARGIN_DAYS` (daily);
oxygen (``a19001``) is included because converted concentrations depend on it.

A judged period or a mean whose hour (or the outlet's local day) had not ended when the bundle
was generated is ``in_progress`` (true): its value, ``valid`` and ``reason`` are the judgement of
the data so far, not final — the rule of the API and the console (:mod:`schemas.core.periods`),
with ``generated_at`` as now.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import IO, Any, BinaryIO, LiteralString
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from schemas.cases.errors import CaseNotFound, EvidenceError
from schemas.core import arrival, csvcells
from schemas.core.localtime import LOCAL_TZ
from schemas.core.periods import day_in_progress, hour_in_progress, period_in_progress

__all__ = [
    "MARGIN_DAYS",
    "MARGIN_HOURS",
    "PW_NOTE",
    "EvidenceFile",
    "EvidenceManifest",
    "build_evidence",
    "mask_pw",
]

_Query = LiteralString | sql.SQL | sql.Composed
MARGIN_HOURS = 3
MARGIN_DAYS = 1
OXYGEN = "a19001"
FORMAT = "sourcewatch-evidence/1"


# HJ 212: "PW=<password>;" in the data segment's header (a field name starts after ";" or the
# "##dddd" length); the JSON uplink: the "pw" member's string.
_HJ212_PW = re.compile(rb"(?<![A-Za-z0-9_-])PW=([^;&\r\n]*)")
_JSON_PW = re.compile(rb'"pw"\s*:\s*"((?:[^"\\]|\\.)*)"')
PW_NOTE = (
    "In frames/<id>.hj212 the logger's password is masked: the value of PW= (HJ 212) or of "
    '"pw" (JSON uplink) is replaced by as many "*"; every other byte is as received. The '
    "sha256 column of frames.csv is the SHA-256 of the frame as received (the database keeps "
    "the same digest): put the outlet's password back in place of the stars to reproduce it."
)


def mask_pw(raw: bytes) -> bytes:
    """``raw`` with every password value replaced by as many ``*`` (the length kept)."""

    def stars(match: re.Match[bytes]) -> bytes:
        start, end = match.span(1)
        whole = match.group(0)
        offset = start - match.start()
        return whole[:offset] + b"*" * (end - start) + whole[offset + end - start :]

    return _JSON_PW.sub(stars, _HJ212_PW.sub(stars, raw))


@dataclass(frozen=True, slots=True)
class EvidenceFile:
    name: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class EvidenceManifest:
    """What was written. ``files`` excludes manifest.json and SHA256SUMS themselves;
    ``manifest_sha256`` identifies the bundle (quote it wherever the bundle is handed over)."""

    case_id: int
    generated_at: datetime
    sourcewatch_version: str
    files: tuple[EvidenceFile, ...]
    manifest_sha256: str
    counts: Mapping[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        lines = [
            f"evidence bundle of case {self.case_id}, generated {_utc(self.generated_at)}",
            f"  {len(self.files) + 2} files ({sum(f.size for f in self.files)} bytes): {counts}",
            f"  manifest.json sha256 {self.manifest_sha256}",
        ]
        return "\n".join(lines + [f"  warning: {w}" for w in self.warnings])


def build_evidence(
    conn: psycopg.Connection[Any], case_id: int, out: Path | BinaryIO
) -> EvidenceManifest:
    """Write the evidence bundle of ``case_id`` to ``out``: a path (written to a temporary
    name, then renamed) or a binary file. Nothing is written for an unknown case."""
    fresh = conn.info.transaction_status == TransactionStatus.IDLE
    try:
        with conn.transaction():
            if fresh:  # our own transaction: make it one consistent snapshot
                conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            case = _one(conn, "SELECT * FROM cases WHERE id = %s", case_id)
            if case is None:
                raise CaseNotFound(case_id)
            if not isinstance(out, Path):
                return _Builder(conn, case).write(out)
            partial_path = out.with_name(f".{out.name}.partial")
            try:
                with partial_path.open("wb") as f:
                    manifest = _Builder(conn, case).write(f)
                partial_path.replace(out)
            finally:
                partial_path.unlink(missing_ok=True)
            return manifest
    except psycopg.Error as exc:
        raise EvidenceError(
            f"could not read the evidence of case {case_id}: database error ({type(exc).__name__})"
        ) from exc
    except OSError as exc:
        raise EvidenceError(f"could not write the evidence bundle to {out}: {exc}") from exc


class _Builder:
    def __init__(self, conn: psycopg.Connection[Any], case: dict[str, Any]) -> None:
        self.conn, self.case = conn, case
        self.generated_at = datetime.now(UTC).replace(microsecond=0)
        self.files: list[EvidenceFile] = []
        self.warnings: list[str] = []
        self.zip: zipfile.ZipFile

    def write(self, out: IO[bytes]) -> EvidenceManifest:
        case, cid, version = self.case, self.case["id"], importlib.metadata.version("sourcewatch")
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as self.zip:
            outlet = _one(self.conn, _OUTLET, case["outlet_id"])
            tz = ZoneInfo(outlet["timezone"] if outlet else str(LOCAL_TZ))
            periods = _all(self.conn, _PERIODS, (cid,))[1]
            for p in periods:
                p["in_progress"] = period_in_progress(
                    p["period_start"], case["period"], tz.key, self.generated_at
                )
            self._json("case.json", {"case": case, "periods": periods, "outlet": outlet})
            events = _all(self.conn, _EVENTS, (cid,))[1]
            self._json("history.json", events)
            self._json("limit.json", self._limit())
            span = _span(case, tz)
            counts = {"periods": len(periods), "events": len(events), **self._series(span, tz)}
            entries = tuple(self.files)
            manifest = self._json(
                "manifest.json",
                {
                    "format": FORMAT,
                    "case_id": cid,
                    "sourcewatch_version": version,
                    "generated_at": self.generated_at,
                    "generated_at_local": _local(self.generated_at),
                    "decision_time": case["opened_at"],
                    "local_time_zone": str(LOCAL_TZ),
                    "span": {"means": span[0], "start": span[1], "end": span[2]},
                    "counts": counts,
                    "raw_frames": {"pw_masked": True, "note": PW_NOTE},
                    "warnings": self.warnings,
                    "files": [asdict(f) for f in entries],
                },
            )
            self._add("SHA256SUMS", "".join(f"{f.sha256}  {f.name}\n" for f in self.files).encode())
        return EvidenceManifest(
            cid, self.generated_at, version, entries, manifest.sha256, counts, tuple(self.warnings)
        )

    def _series(
        self, span: tuple[str, datetime, datetime, Any, Any], tz: ZoneInfo
    ) -> dict[str, int]:
        """means.csv, values.csv, revisions.csv, frames.csv and frames/: the data of the span
        (``tz``: the outlet's, naming its local days)."""
        table, start, end, first, last = span
        q = {
            "outlet": self.case["outlet_id"],
            "all": self.case["pollutant"] == "",
            "pollutants": [self.case["pollutant"], OXYGEN],
            "start": start,
            "end": end,
            "first": first,
            "last": last,
            **arrival.window(start, end),
        }
        columns, means = _all(self.conn, _MEANS[table], q)
        now = self.generated_at
        for m in means:
            m["coverage"] = _coverage(m["valid_count"], m["expected_count"])
            m["in_progress"] = (
                hour_in_progress(m["hour_start"], now)
                if table == "hourly_means"
                else day_in_progress(m["day"], now, tz)
            )
        self._csv("means.csv", [*columns, "coverage", "in_progress"], means)
        value_columns, values = _all(self.conn, _VALUES, q)
        revision_columns, revisions = _all(self.conn, _REVISIONS, q)
        frame_ids = {v["frame_id"] for v in values}
        frame_ids |= {r[k] for r in revisions for k in ("old_frame_id", "new_frame_id")}
        frame_ids.discard(None)
        frame_columns, frames = _all(self.conn, _FRAMES, (sorted(frame_ids),))
        _at_decision(values, revisions, self.case["opened_at"], {f["id"]: f for f in frames})
        self._csv("values.csv", [*value_columns, *_DECISION], values)
        self._csv("revisions.csv", [*revision_columns, "after_decision", *_MARKS], revisions)
        self._csv("frames.csv", frame_columns, frames)
        self._frames(frames)
        if missing := sorted(frame_ids - {f["id"] for f in frames}):
            self.warnings.append(f"{len(missing)} referenced frame(s) not found: {missing}")
        return {
            "means": len(means),
            "values": len(values),
            "revisions": len(revisions),
            "frames": len(frames),
        }

    def _limit(self) -> dict[str, Any]:
        source = str(self.case["details"].get("limit_source", "standard"))
        limit_id = self.case["limit_id"]
        table = {"standard": "limits", "outlet": "outlet_limits"}.get(source)
        row = None
        if table is None:
            note = f"unknown limit source {source!r}"
        elif limit_id == 0:
            note = "this case is not judged against a limit"
        elif _one(self.conn, "SELECT to_regclass(%s) AS t", table) == {"t": None}:
            note = f"this database has no {table} table"
        else:
            query = sql.SQL("SELECT * FROM {} WHERE id = %s").format(sql.Identifier(table))
            row = _one(self.conn, query, limit_id)
            note = "" if row else f"{table} has no row {limit_id}"
        if note and self.case["kind"] == "exceedance":
            self.warnings.append(f"limit: {note}")
        return {
            "limit_source": source,
            "limit_id": limit_id,
            "table": table,
            "found": row is not None,
            "limit": row,
            "note": note,
        }

    def _frames(self, frames: Sequence[dict[str, Any]]) -> None:
        with self.conn.cursor(name="sourcewatch_evidence_frames") as cur:
            cur.itersize = 200
            cur.execute(_RAW, ([f["id"] for f in frames],))
            for frame_id, raw in cur:  # same snapshot as frames.csv: same bytes, same order
                self._add(f"frames/{frame_id}.hj212", mask_pw(bytes(raw)))

    def _add(self, name: str, data: bytes) -> EvidenceFile:
        self.zip.writestr(self._info(name), data)
        entry = EvidenceFile(name, hashlib.sha256(data).hexdigest(), len(data))
        self.files.append(entry)
        return entry

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, self.generated_at.timetuple()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        return info

    def _json(self, name: str, obj: object) -> EvidenceFile:
        text = json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=_jsonable)
        return self._add(name, (text + "\n").encode())

    def _csv(self, name: str, columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> None:
        text = io.StringIO()
        w = csvcells.writer(text)
        w.writerow([h for c in columns for h in _headers(c)])
        w.writerows([cell for c in columns for cell in _cells(c, row.get(c))] for row in rows)
        self._add(name, text.getvalue().encode())


def _at_decision(
    values: Sequence[dict[str, Any]],
    revisions: Sequence[dict[str, Any]],
    decided: datetime,
    frames: Mapping[int, dict[str, Any]],
) -> None:
    """Add to each value what it was when the case was opened: ``at_decision`` is
    ``unchanged``, ``revised since`` (the ``at_decision_*`` columns hold the earlier value and
    marks) or ``arrived later`` (nothing was known at decision time)."""
    by_key: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in revisions:
        by_key.setdefault(_key(r), []).append(r)
        r["after_decision"] = r["revised_at"] > decided
        for side in ("old", "new"):
            marks = json.loads(r[side], parse_float=Decimal)
            r.update({f"{side}_{k}": marks.get(k) for k in ("value", "flag", "eflag")})
    for v in values:
        revs = by_key.get(_key(v), [])
        later = [r for r in revs if r["after_decision"]]
        then, arrived = v, v["received_at"]
        if later:
            then = json.loads(later[0]["old"], parse_float=Decimal)
            then.update(revision=later[0]["revision"] - 1, frame_id=later[0]["old_frame_id"])
            before = [r["revised_at"] for r in revs if r["revision"] == then["revision"]]
            frame = frames.get(then["frame_id"]) or {"received_at": None}
            arrived = before[0] if before else frame["received_at"]
        if arrived is not None and arrived > decided:
            v["at_decision"], then = "arrived later", {}
        else:
            v["at_decision"] = "revised since" if later else "unchanged"
        for c in _DECISION_FIELDS:
            v[f"at_decision_{c}"] = then.get(c)


def _key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    return (row["outlet_id"], row["pollutant"], row["kind"], row["ts"])


def _span(case: Mapping[str, Any], tz: ZoneInfo) -> tuple[str, datetime, datetime, Any, Any]:
    """Means table; start and end of the measurements; the first and last mean to show."""
    if case["period"] == "day":  # local calendar days of the outlet, as daily_means.day
        first = case["first_at"].astimezone(tz).date() - timedelta(days=MARGIN_DAYS)
        last = case["last_at"].astimezone(tz).date() + timedelta(days=MARGIN_DAYS)
        start = datetime.combine(first, time(), tz).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
        return "daily_means", start, end, first, last
    start = case["first_at"] - timedelta(hours=MARGIN_HOURS)
    end = case["last_at"] + timedelta(hours=1 + MARGIN_HOURS)
    return "hourly_means", start, end, start, end


def _coverage(valid: int, expected: int) -> Decimal | None:
    return (Decimal(valid) / Decimal(expected)).quantize(Decimal("0.0001")) if expected else None


def _all(
    conn: psycopg.Connection[Any], query: _Query, params: Any
) -> tuple[list[str], list[dict[str, Any]]]:
    """(column names, rows); jsonb numbers are read as Decimal."""
    with conn.cursor(row_factory=dict_row) as cur:
        set_json_loads(partial(json.loads, parse_float=Decimal), cur)
        rows = cur.execute(query, params).fetchall()
        return [c.name for c in cur.description or ()], rows


def _one(conn: psycopg.Connection[Any], query: _Query, param: object) -> dict[str, Any] | None:
    rows = _all(conn, query, (param,))[1]
    return rows[0] if rows else None


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _local(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).isoformat()


def _jsonable(obj: object) -> object:
    if isinstance(obj, datetime):
        return _utc(obj)
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, Decimal | timedelta):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def _headers(column: str) -> tuple[str, ...]:
    return (f"{column}_utc", f"{column}_local") if column in _TIMES else (column,)


def _cells(column: str, value: object) -> Iterator[str]:
    if column in _TIMES:
        yield from (_utc(value), _local(value)) if isinstance(value, datetime) else ("", "")
    elif isinstance(value, bool):
        yield "true" if value else "false"
    else:
        yield "" if value is None else str(value)


_TIMES = {
    "hour_start",
    "computed_at",
    "ts",
    "sample_time",
    "received_at",
    "revised_at",
    "data_time",
}
_DECISION_FIELDS = ("revision", "value", "zs_value", "flag", "eflag", "frame_id")
_DECISION = ("at_decision", *(f"at_decision_{c}" for c in _DECISION_FIELDS))
_MARKS = tuple(f"{side}_{c}" for c in ("value", "flag", "eflag") for side in ("old", "new"))
# The series of the outlet (one pollutant and O2, or all) over the span. jsonb columns are read
# as text, so the CSV cells are exactly as stored.
_MEANS = {
    "hourly_means": """
SELECT hour_start, outlet_id, pollutant, source, mean, zs_reported, converted, o2_mean,
       valid_count, expected_count, valid, reason, flags::text AS flags, computed_at
FROM hourly_means
WHERE outlet_id = %(outlet)s AND (%(all)s OR pollutant = ANY(%(pollutants)s))
  AND hour_start >= %(first)s AND hour_start < %(last)s
ORDER BY pollutant, hour_start""",
    "daily_means": """
SELECT day, outlet_id, pollutant, source, mean, zs_reported, converted, o2_mean,
       valid_count, expected_count, valid, reason, computed_at
FROM daily_means
WHERE outlet_id = %(outlet)s AND (%(all)s OR pollutant = ANY(%(pollutants)s))
  AND day BETWEEN %(first)s AND %(last)s
ORDER BY pollutant, day""",
}
# A value's arrival time is its frame's (schemas/core/arrival.py).
_VALUES = (
    """
SELECT m.outlet_id, m.pollutant, m.kind, m.ts, m.value, m.min, m.max, m.cou, m.zs_value,
       m.zs_min, m.zs_max, m.flag, m.eflag, m.sample_time, m.extra::text AS extra, m.revision,
       m.frame_id, """
    + arrival.ARRIVAL
    + """ AS received_at
FROM measurements m """
    + arrival.JOIN
    + """
WHERE m.outlet_id = %(outlet)s AND (%(all)s OR m.pollutant = ANY(%(pollutants)s))
  AND m.ts >= %(start)s AND m.ts < %(end)s
ORDER BY m.pollutant, m.kind, m.ts"""
)
_REVISIONS = """
SELECT id, outlet_id, pollutant, kind, ts, revision, revised_at, old_frame_id, new_frame_id,
       old::text AS old, new::text AS new
FROM measurement_revisions
WHERE outlet_id = %(outlet)s AND (%(all)s OR pollutant = ANY(%(pollutants)s))
  AND ts >= %(start)s AND ts < %(end)s
ORDER BY pollutant, kind, ts, revision"""
_FRAMES = """
SELECT DISTINCT ON (id) id, received_at, transport, topic, mn, st, cn, qn, data_time,
       crc_received, crc_computed, crc_algorithm, crc_ok, length_ok, verdict, values_count,
       octet_length(raw) AS size, encode(sha256(raw), 'hex') AS sha256,
       digest = sha256(raw) AS digest_ok
FROM frames WHERE id = ANY(%s) ORDER BY id, received_at"""
_RAW = "SELECT DISTINCT ON (id) id, raw FROM frames WHERE id = ANY(%s) ORDER BY id, received_at"
_OUTLET = """
SELECT o.id, o.mn, o.code, o.name_zh, o.name_en, o.kind, o.timezone, o.emission_standard,
       o.permit_number, e.id AS enterprise_id, e.uscc AS enterprise_uscc,
       e.name_zh AS enterprise_name_zh, e.name_en AS enterprise_name_en, e.address
FROM outlets o JOIN enterprises e ON e.id = o.enterprise_id WHERE o.id = %s"""
_PERIODS = "SELECT * FROM case_periods WHERE case_id = %s ORDER BY period_start"
_EVENTS = "SELECT * FROM case_events WHERE case_id = %s ORDER BY id"
