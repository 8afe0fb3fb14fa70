"""Bulk downloads: one local calendar day of data as files, partitioned by enterprise.

For a day (Asia/Shanghai) :func:`dump_day` writes::

    <out>/<YYYY-MM-DD>/enterprise=<id>/hourly.csv       hourly means, valid and invalid
    <out>/<YYYY-MM-DD>/enterprise=<id>/hourly.parquet   the same rows
    <out>/<YYYY-MM-DD>/enterprise=<id>/raw.csv.gz       the measurements as sent, with flags
    <out>/<YYYY-MM-DD>/enterprise=<id>/raw.parquet      the same rows
    <out>/<YYYY-MM-DD>/manifest.json                    files, sizes, rows, SHA-256, schemas
    <out>/<YYYY-MM-DD>/SHA256SUMS                       ``sha256sum -c`` format, every file

An enterprise gets a partition when one of its outlets has an hourly mean or a measurement that
starts in the day. Everything is read in one REPEATABLE READ snapshot, so the files agree with
each other and with the manifest. Rows stream from a server-side cursor: the CSV is written as
they arrive, the Parquet file one row group per batch, so a big day never sits in memory.

Cells: times in UTC (``…Z``) and local (``…+08:00``) side by side; decimals as stored in the
CSV (exact) and as float64 in Parquet; booleans ``true``/``false``; jsonb cells as compact
JSON; NULL as an empty cell.

Publication is atomic and idempotent: the day is written into a temporary folder next to it,
then swapped in with one ``renameat2(RENAME_EXCHANGE)`` (two renames where the system has no
such call); re-running a day replaces it whole. :func:`dump_file` is the only way the API maps
a request onto a file: a path must be listed in the day's manifest.
"""

from __future__ import annotations

import csv
import ctypes
import errno
import fcntl
import gzip
import hashlib
import importlib.metadata
import io
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg import sql
from psycopg.pq import TransactionStatus

from api.db import Statement
from api.queries.outlets import flag_standard

__all__ = [
    "CHECKSUMS",
    "FORMAT",
    "LICENCE",
    "LOCAL_TZ",
    "MANIFEST",
    "TABLES",
    "Column",
    "DumpError",
    "DumpManifest",
    "DumpedFile",
    "ServedFile",
    "available_days",
    "day_bounds",
    "dump_day",
    "dump_file",
    "read_manifest",
]

FORMAT = "sourcewatch-dump/1"
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
BATCH_ROWS = 10_000  # rows per cursor fetch and per Parquet row group
MANIFEST = "manifest.json"
CHECKSUMS = "SHA256SUMS"
LICENCE = (
    "Public environmental information on key monitored enterprises, published under the "
    "Environmental Protection Law of the PRC (art. 55) and the Measures for the Disclosure of "
    "Environmental Information by Enterprises (企业环境信息依法披露管理办法). Values are as "
    "reported by the enterprises' automatic monitoring equipment (HJ 212), with their data "
    "flags; validity and means are sourcewatch's evaluation, not an official determination. "
    "Free to copy, redistribute and reuse, including commercially, with attribution: "
    "'Source: sourcewatch bulk dump <day>'. Check the SHA-256 of each file in SHA256SUMS."
)
_DAY_NAME = re.compile(r"\d{4}-\d{2}-\d{2}")


# --- Schemas ------------------------------------------------------------------------------------

# logical type → (Parquet type, description of the CSV form)
_TYPES: dict[str, tuple[pa.DataType, str]] = {
    "integer": (pa.int64(), "integer"),
    "text": (pa.string(), "UTF-8 text"),
    "decimal": (pa.float64(), "decimal as stored (exact in CSV, float64 in Parquet)"),
    "boolean": (pa.bool_(), "true or false"),
    "timestamp_utc": (pa.timestamp("us", tz="UTC"), "ISO 8601, UTC (Z)"),
    "timestamp_local": (pa.timestamp("us", tz="Asia/Shanghai"), "ISO 8601, +08:00"),
    "json": (pa.string(), "compact JSON"),
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a dumped table: ``source`` is the SQL output column it comes from (a
    local-time column shares its UTC column's source)."""

    name: str
    type: str
    description: str
    unit: str | None = None
    source: str | None = None

    @property
    def arrow_type(self) -> pa.DataType:
        return _TYPES[self.type][0]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "csv": _TYPES[self.type][1],
            "parquet_type": str(self.arrow_type),
            "unit": self.unit,
            "description": self.description,
        }


def _c(name: str, type_: str, description: str, unit: str | None = None) -> Column:
    return Column(name, type_, description, unit, name)


def _times(name: str, what: str) -> list[Column]:
    return [
        Column(f"{name}_utc", "timestamp_utc", f"{what}, UTC", None, name),
        Column(f"{name}_local", "timestamp_local", f"{what}, Asia/Shanghai", None, name),
    ]


_CONCENTRATION = "the pollutant's unit (column `unit`)"

_ENTERPRISE = [
    _c("enterprise_id", "integer", "sourcewatch enterprise id"),
    _c("enterprise_uscc", "text", "unified social credit code (统一社会信用代码)"),
    _c("enterprise_name_zh", "text", "enterprise name, Chinese"),
    _c("enterprise_name_en", "text", "enterprise name, English"),
    _c("outlet_id", "integer", "sourcewatch outlet id"),
    _c("outlet_code", "text", "outlet number in the permit (e.g. DA001)"),
    _c("outlet_name_zh", "text", "outlet name, Chinese"),
    _c("outlet_name_en", "text", "outlet name, English"),
    _c("outlet_kind", "text", "gas or water"),
    _c("pollutant", "text", "HJ 212-2017 factor code"),
    _c("pollutant_name_zh", "text", "pollutant name, Chinese"),
    _c("pollutant_name_en", "text", "pollutant name, English"),
    _c("unit", "text", "unit of the concentrations in this row"),
]

HOURLY: tuple[Column, ...] = (
    *_ENTERPRISE,
    *_times("hour_start", "start of the hour (the mean covers [start, end))"),
    *_times("hour_end", "end of the hour (means are period-ending)"),
    _c("source", "text", "data the mean was computed from: min, rtd or hour (as sent)"),
    _c("mean", "decimal", "measured concentration, valid data only", _CONCENTRATION),
    _c("converted", "decimal", "concentration at the limit's reference O2", _CONCENTRATION),
    _c("zs_reported", "decimal", "mean of the logger's own converted (Zs) values", _CONCENTRATION),
    _c("o2_mean", "decimal", "mean oxygen content", "%"),
    _c("valid_count", "integer", "valid minutes (or samples) in the hour", "count"),
    _c("expected_count", "integer", "minutes (or samples) expected in the hour", "count"),
    _c("coverage", "decimal", "valid_count / expected_count, 4 decimals", "ratio"),
    _c("valid", "boolean", "enough valid data for a regulatory mean"),
    _c("reason", "text", "why the mean is not valid"),
    _c("flags", "json", 'samples per HJ 212 data flag, e.g. {"N":58,"D":2}', "count"),
    *_times("computed_at", "when sourcewatch computed the mean"),
)

RAW: tuple[Column, ...] = (
    *_ENTERPRISE,
    _c("kind", "text", "data kind as sent: rtd (real time), min, hour or day"),
    *_times("ts", "DataTime: sampling instant (rtd) or interval start"),
    _c("value", "decimal", "Rtd (rtd) or Avg (min/hour/day)", _CONCENTRATION),
    _c("min", "decimal", "Min as sent", _CONCENTRATION),
    _c("max", "decimal", "Max as sent", _CONCENTRATION),
    _c("cou", "decimal", "Cou (emission amount) as sent", "column `cou_unit`"),
    _c("cou_unit", "text", "unit of `cou`"),
    _c("zs_value", "decimal", "converted (折算, Zs) value as sent", _CONCENTRATION),
    _c("zs_min", "decimal", "converted minimum as sent", _CONCENTRATION),
    _c("zs_max", "decimal", "converted maximum as sent", _CONCENTRATION),
    _c("flag", "text", "HJ 212 data flag as sent (N valid; F, M, S, D, C, T, B …)"),
    _c("flag_valid", "boolean", "the flag counts as valid data and a value is present"),
    _c("eflag", "text", "equipment flag (EFlag) as sent"),
    *_times("sample_time", "SampleTime as sent"),
    _c("extra", "json", "other field suffixes as sent, verbatim"),
    _c("revision", "integer", "0 as first received; bumped by every changed re-send"),
    _c("frame_id", "integer", "the frame that carried the value (evidence bundles cite it)"),
    *_times("received_at", "when sourcewatch received the value"),
)

TABLES: dict[str, tuple[Column, ...]] = {"hourly": HOURLY, "raw": RAW}

# --- Queries ------------------------------------------------------------------------------------

_PARTY = sql.SQL(
    """e.id AS enterprise_id, e.uscc AS enterprise_uscc, e.name_zh AS enterprise_name_zh,
       e.name_en AS enterprise_name_en, o.id AS outlet_id, o.code AS outlet_code,
       o.name_zh AS outlet_name_zh, o.name_en AS outlet_name_en, o.kind AS outlet_kind,
       {a}.pollutant, p.name_zh AS pollutant_name_zh, p.name_en AS pollutant_name_en,
       p.unit_en AS unit"""
)

_HOURLY = sql.SQL(
    """SELECT {party}, h.hour_start, h.hour_start + interval '1 hour' AS hour_end, h.source,
       h.mean, h.converted, h.zs_reported, h.o2_mean, h.valid_count, h.expected_count,
       round(h.valid_count::numeric / nullif(h.expected_count, 0), 4) AS coverage, h.valid,
       h.reason, h.flags, h.computed_at
FROM hourly_means h
JOIN outlets o ON o.id = h.outlet_id
JOIN enterprises e ON e.id = o.enterprise_id
LEFT JOIN pollutants p ON p.code = h.pollutant
WHERE o.enterprise_id = %(enterprise)s AND h.hour_start >= %(start)s AND h.hour_start < %(end)s
ORDER BY o.id, h.pollutant, h.hour_start"""
)

_RAW = sql.SQL(
    """SELECT {party}, m.kind, m.ts, m.value, m.min, m.max, m.cou, p.cou_unit_en AS cou_unit,
       m.zs_value, m.zs_min, m.zs_max, m.flag,
       (coalesce(f.valid, false) AND m.value IS NOT NULL) AS flag_valid, m.eflag,
       m.sample_time, m.extra, m.revision, m.frame_id, m.received_at
FROM measurements m
JOIN outlets o ON o.id = m.outlet_id
JOIN enterprises e ON e.id = o.enterprise_id
LEFT JOIN pollutants p ON p.code = m.pollutant
LEFT JOIN data_flags f ON f.code = m.flag AND f.standard =
     CASE WHEN o.protocol_profile = 'hj212-2005' THEN %(standard_2005)s ELSE %(standard)s END
WHERE o.enterprise_id = %(enterprise)s AND m.ts >= %(start)s AND m.ts < %(end)s
ORDER BY o.id, m.ts, m.pollutant, m.kind"""
)

_ENTERPRISES = sql.SQL(
    """SELECT o.enterprise_id FROM outlets o
WHERE EXISTS (SELECT 1 FROM hourly_means h WHERE h.outlet_id = o.id
                AND h.hour_start >= %(start)s AND h.hour_start < %(end)s)
   OR EXISTS (SELECT 1 FROM measurements m WHERE m.outlet_id = o.id
                AND m.ts >= %(start)s AND m.ts < %(end)s)
GROUP BY o.enterprise_id ORDER BY o.enterprise_id"""
)


def _table_query(table: str, enterprise_id: int, start: datetime, end: datetime) -> Statement:
    template, alias = (_HOURLY, "h") if table == "hourly" else (_RAW, "m")
    query = template.format(party=_PARTY.format(a=sql.Identifier(alias)))
    params = {
        "enterprise": enterprise_id,
        "start": start,
        "end": end,
        "standard": flag_standard("hj212-2017"),
        "standard_2005": flag_standard("hj212-2005"),
    }
    return Statement(query, params)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of the local calendar day, in UTC."""
    start = datetime.combine(day, time(), LOCAL_TZ)
    end = datetime.combine(day + timedelta(days=1), time(), LOCAL_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


# --- Cells --------------------------------------------------------------------------------------


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _csv_cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.type == "boolean":
        return "true" if value else "false"
    if column.type == "timestamp_utc":
        return str(value.astimezone(UTC).isoformat()).replace("+00:00", "Z")
    if column.type == "timestamp_local":
        return str(value.astimezone(LOCAL_TZ).isoformat())
    if column.type == "json":
        return _json_text(value)
    return str(value)


def _arrow_value(column: Column, value: Any) -> Any:
    if value is None:
        return None
    if column.type == "decimal":
        return float(value) if isinstance(value, Decimal) else value
    if column.type == "json":
        return _json_text(value)
    return value


# --- Writing ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DumpedFile:
    path: str  # relative to the day's folder, with "/"
    table: str
    format: str
    enterprise_id: int
    rows: int
    bytes: int
    sha256: str

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "table": self.table,
            "format": self.format,
            "enterprise_id": self.enterprise_id,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


@dataclass(frozen=True, slots=True)
class DumpManifest:
    day: date
    path: Path  # the day's folder
    generated_at: datetime
    files: tuple[DumpedFile, ...]

    def summary(self) -> str:
        rows = {t: sum(f.rows for f in self.files if f.table == t and f.format != "parquet")
                for t in TABLES}  # fmt: skip
        enterprises = len({f.enterprise_id for f in self.files})
        return (
            f"{self.day}: {enterprises} enterprise(s), {rows['hourly']} hourly mean(s), "
            f"{rows['raw']} measurement(s), {len(self.files)} file(s) in {self.path}"
        )


class DumpError(Exception):
    """A dump cannot be written as asked (the cause is in the message)."""


@contextmanager
def _snapshot(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """One REPEATABLE READ, READ ONLY transaction: every file sees the same data."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise DumpError("the connection is inside a transaction; a dump needs its own")
    with conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _stream(
    conn: psycopg.Connection[Any], statement: Statement, batch: int
) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """(column names, rows) a batch at a time, through a server-side cursor."""
    with conn.cursor(name="sourcewatch_bulk", row_factory=psycopg.rows.tuple_row) as cur:
        cur.itersize = batch
        cur.execute(statement.query, statement.params)
        names = [d.name for d in cur.description or ()]
        while rows := cur.fetchmany(batch):
            yield names, rows


def _write_table(
    conn: psycopg.Connection[Any],
    statement: Statement,
    columns: Sequence[Column],
    csv_path: Path,
    parquet_path: Path,
    *,
    batch: int,
) -> int:
    """Stream the statement's rows into a CSV file and a Parquet file; the row count."""
    schema = pa.schema([pa.field(c.name, c.arrow_type) for c in columns])
    count = 0
    with (
        _open_text(csv_path, compressed=csv_path.name.endswith(".gz")) as text,
        pq.ParquetWriter(parquet_path, schema, compression="zstd") as parquet,
    ):
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(c.name for c in columns)
        for names, rows in _stream(conn, statement, batch):
            pairs = [(c, names.index(c.source or c.name)) for c in columns]
            writer.writerows([_csv_cell(c, row[i]) for c, i in pairs] for row in rows)
            arrays = [
                pa.array([_arrow_value(c, row[i]) for row in rows], type=c.arrow_type)
                for c, i in pairs
            ]
            parquet.write_batch(pa.record_batch(arrays, schema=schema))  # one row group
            count += len(rows)
    return count


def _open_text(path: Path, *, compressed: bool) -> IO[str]:
    if not compressed:
        return open(path, "w", encoding="utf-8", newline="")
    # mtime 0 and no name in the header: the same rows give the same bytes, the same SHA-256
    raw = open(path, "wb")  # noqa: SIM115 (closed by _ClosingText)
    zipped = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    return _ClosingText(zipped, raw)


class _ClosingText(io.TextIOWrapper):
    """UTF-8 text into a gzip stream, closing the file beneath the stream too."""

    def __init__(self, zipped: gzip.GzipFile, raw: IO[bytes]) -> None:
        super().__init__(zipped, encoding="utf-8", newline="")
        self._raw = raw

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _digest(path: Path) -> str:
    """SHA-256 of the file, flushed to disk on the way (it is about to be published)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
        os.fsync(f.fileno())
    return h.hexdigest()


def _write_day(
    conn: psycopg.Connection[Any],
    folder: Path,
    start: datetime,
    end: datetime,
    batch: int,
    progress: Callable[[int], None] | None = None,
) -> list[DumpedFile]:
    files: list[DumpedFile] = []
    with _snapshot(conn):
        with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
            cur.execute(_ENTERPRISES, {"start": start, "end": end})
            enterprises = [int(row[0]) for row in cur.fetchall()]
        for enterprise_id in enterprises:
            part = folder / f"enterprise={enterprise_id}"
            part.mkdir()
            for table, csv_name, csv_format in (
                ("hourly", "hourly.csv", "csv"),
                ("raw", "raw.csv.gz", "csv.gz"),
            ):
                csv_path, parquet_path = part / csv_name, part / f"{table}.parquet"
                statement = _table_query(table, enterprise_id, start, end)
                rows = _write_table(
                    conn, statement, TABLES[table], csv_path, parquet_path, batch=batch
                )
                for path, fmt in ((csv_path, csv_format), (parquet_path, "parquet")):
                    files.append(
                        DumpedFile(
                            path=path.relative_to(folder).as_posix(),
                            table=table,
                            format=fmt,
                            enterprise_id=enterprise_id,
                            rows=rows,
                            bytes=path.stat().st_size,
                            sha256=_digest(path),
                        )
                    )
                    if progress is not None:
                        progress(1)
    return files


def _generator() -> str:
    try:
        return f"sourcewatch {importlib.metadata.version('sourcewatch')}"
    except importlib.metadata.PackageNotFoundError:
        return "sourcewatch"


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _manifest(
    day: date, start: datetime, end: datetime, generated: datetime, files: Sequence[DumpedFile]
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "day": day.isoformat(),
        "timezone": "Asia/Shanghai",
        "period": {"start": _utc_text(start), "end": _utc_text(end)},
        "generated_at": _utc_text(generated),
        "generator": _generator(),
        "licence": LICENCE,
        "checksums": CHECKSUMS,
        "tables": {
            "hourly": {
                "description": "hourly means (valid and invalid) whose hour starts in the day",
                "files": ["hourly.csv", "hourly.parquet"],
                "columns": [c.describe() for c in HOURLY],
            },
            "raw": {
                "description": "measurements as sent (every data kind) timed in the day",
                "files": ["raw.csv.gz", "raw.parquet"],
                "columns": [c.describe() for c in RAW],
            },
        },
        "files": [f.describe() for f in files],
    }


# --- Publishing ---------------------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux renameat2); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    done = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if done == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _swap_in(new: Path, final: Path) -> None:
    """Put ``new`` where ``final`` is; the previous version (if any) is deleted."""
    if not final.exists():
        os.rename(new, final)
        return
    if _exchange(new, final):
        shutil.rmtree(new)  # now the previous version
        return
    old = final.with_name(f".old-{final.name}-{os.getpid()}")
    os.rename(final, old)
    os.rename(new, final)
    shutil.rmtree(old)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One writer per day at a time (concurrent dumps of a day would swap each other out)."""
    with open(path, "a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def dump_day(
    conn: psycopg.Connection[Any],
    day: date,
    out: Path,
    *,
    now: datetime | None = None,
    batch: int = BATCH_ROWS,
    progress: Callable[[int], None] | None = None,
) -> DumpManifest:
    """Write (or rewrite) the dump of the local calendar ``day`` under ``out``.

    ``conn`` must not be inside a transaction: the dump reads in its own snapshot.
    ``progress``, when given, is called with 1 after each data file is written (4 per
    enterprise; the manifest and SHA256SUMS are not counted)."""
    out.mkdir(parents=True, exist_ok=True)
    name = day.isoformat()
    final = out / name
    start, end = day_bounds(day)
    generated = now or datetime.now(UTC)
    with _locked(out / f".{name}.lock"):
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=out))
        try:
            files = _write_day(conn, work, start, end, batch, progress)
            text = json.dumps(_manifest(day, start, end, generated, files), ensure_ascii=False,
                              indent=2)  # fmt: skip
            (work / MANIFEST).write_text(text + "\n", encoding="utf-8")
            sums = [(f.sha256, f.path) for f in files] + [(_digest(work / MANIFEST), MANIFEST)]
            (work / CHECKSUMS).write_text("".join(f"{h}  {p}\n" for h, p in sums), "utf-8")
            _digest(work / CHECKSUMS)  # flushed to disk
            for folder in [*work.iterdir(), work]:
                if folder.is_dir():
                    _sync_dir(folder)
            os.chmod(work, 0o755)  # mkdtemp made it private
            _swap_in(work, final)
            _sync_dir(out)
        finally:
            shutil.rmtree(work, ignore_errors=True)  # left over only when something failed
    return DumpManifest(day, final, generated, tuple(files))


# --- Reading (for the API) ----------------------------------------------------------------------

MEDIA_TYPES = {
    ".csv": "text/csv; charset=utf-8",
    ".gz": "application/gzip",
    ".parquet": "application/vnd.apache.parquet",
    ".json": "application/json",
    "": "text/plain; charset=utf-8",  # SHA256SUMS
}


def available_days(out: Path) -> list[date]:
    """Days with a published dump under ``out``, newest first."""
    try:
        entries = list(out.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    days: list[date] = []
    for entry in entries:
        if _DAY_NAME.fullmatch(entry.name) and (entry / MANIFEST).is_file():
            try:
                days.append(date.fromisoformat(entry.name))
            except ValueError:
                continue
    return sorted(days, reverse=True)


def read_manifest(out: Path, day: date) -> dict[str, Any] | None:
    """The day's manifest, or None when there is no (readable) dump of that day."""
    try:
        data = json.loads((out / day.isoformat() / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True, slots=True)
class ServedFile:
    path: Path
    sha256: str
    media_type: str


def dump_file(out: Path, day: date, relative: str) -> ServedFile | None:
    """The file of the day's dump named ``relative``, when the manifest lists it (or it is the
    manifest or SHA256SUMS); None for anything else, so no request reaches another file."""
    manifest = read_manifest(out, day)
    if manifest is None:
        return None
    listed: dict[str, str | None] = {MANIFEST: None, CHECKSUMS: None}
    for entry in manifest.get("files", ()):
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            listed[entry["path"]] = str(entry.get("sha256", ""))
    if relative not in listed:
        return None
    folder = (out / day.isoformat()).resolve()
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder) or not path.is_file():
        return None
    sha256 = listed[relative] or _digest_plain(path)
    suffix = "" if relative == CHECKSUMS else path.suffix
    return ServedFile(path, sha256, MEDIA_TYPES.get(suffix, "application/octet-stream"))


def _digest_plain(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
