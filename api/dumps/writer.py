"""Writing one day: files streamed from one snapshot, the manifest and checksums, and the
atomic swap that publishes the day."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import gzip
import hashlib
import importlib.metadata
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg.pq import TransactionStatus

from api.db import Statement
from api.dumps.columns import (
    BATCH_ROWS,
    CHECKSUMS,
    COMPLETENESS,
    ENTERPRISES,
    FORMAT,
    HOURLY,
    LICENCE,
    MANIFEST,
    OUTLETS,
    POLLUTANT_NAMES,
    RAW,
    TABLES,
    Column,
    arrow_value,
    csv_cell,
    day_bounds,
    table_query,
)
from api.dumps.roots import ROOTS, write_roots
from schemas.completeness.rates import rates
from schemas.core import csvcells
from schemas.core.localtime import LOCAL_TZ_NAME

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
        rows = {
            t: sum(f.rows for f in self.files if f.table == t and f.format != "parquet")
            for t in TABLES
        }
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


def _completeness_rows(
    conn: psycopg.Connection[Any], enterprise_id: int, day: date, now: datetime
) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    """The day's transmission and validity rates of each outlet of the enterprise
    (schemas/completeness/rates.py), one batch per outlet."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        names = {r["code"]: r for r in cur.execute(POLLUTANT_NAMES).fetchall()}
        outlets = cur.execute(OUTLETS, {"enterprise": enterprise_id}).fetchall()
    columns = [c.name for c in COMPLETENESS]
    for outlet in outlets:
        rows = []
        for rate in rates(conn, outlet["outlet_id"], "day", day, day, now=now):
            name = names.get(rate.pollutant or "", {})
            values = {
                **outlet,
                "pollutant": rate.pollutant,
                "pollutant_name_zh": name.get("name_zh"),
                "pollutant_name_en": name.get("name_en"),
                "data_kind": rate.kind,
                "headline": rate.headline,
                "expected": rate.expected,
                "received": rate.received,
                "valid": rate.valid,
                "transmission_rate": rate.transmission_rate,
                "validity_rate": rate.validity_rate,
                "transmission_validity_rate": rate.transmission_validity_rate,
                "target": rate.target,
                "meets_target": rate.meets_target,
                "rules_confirmed": rate.rules_confirmed,
            }
            rows.append(tuple(values[c] for c in columns))
        if rows:
            yield columns, rows


def _write_batches(
    batches: Iterable[tuple[list[str], list[tuple[Any, ...]]]],
    columns: Sequence[Column],
    csv_path: Path,
    parquet_path: Path,
) -> int:
    """Write (column names, rows) batches into a CSV file and a Parquet file (one row group per
    batch); the row count."""
    schema = pa.schema([pa.field(c.name, c.arrow_type) for c in columns])
    count = 0
    with (
        _open_text(csv_path, compressed=csv_path.name.endswith(".gz")) as text,
        pq.ParquetWriter(parquet_path, schema, compression="zstd") as parquet,
    ):
        writer = csvcells.writer(text)
        writer.writerow(c.name for c in columns)
        for names, rows in batches:
            pairs = [(c, names.index(c.source or c.name)) for c in columns]
            writer.writerows([csv_cell(c, row[i]) for c, i in pairs] for row in rows)
            arrays = [
                pa.array([arrow_value(c, row[i]) for row in rows], type=c.arrow_type)
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
    day: date,
    batch: int,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[DumpedFile], int]:
    """The data files, and the number of roots in publication-roots.json."""
    files: list[DumpedFile] = []
    start, end = day_bounds(day)
    with _snapshot(conn):
        roots = write_roots(conn, folder / ROOTS, day)
        with conn.cursor(row_factory=psycopg.rows.tuple_row) as cur:
            cur.execute(ENTERPRISES, {"start": start, "end": end})
            enterprises = [int(row[0]) for row in cur.fetchall()]
        for enterprise_id in enterprises:
            part = folder / f"enterprise={enterprise_id}"
            part.mkdir()
            for table, csv_name, csv_format in (
                ("hourly", "hourly.csv", "csv"),
                ("raw", "raw.csv.gz", "csv.gz"),
                ("completeness", "completeness.csv", "csv"),
            ):
                csv_path, parquet_path = part / csv_name, part / f"{table}.parquet"
                if table == "completeness":
                    batches = _completeness_rows(conn, enterprise_id, day, now)
                else:
                    batches = _stream(
                        conn, table_query(table, enterprise_id, start, end, now), batch
                    )
                rows = _write_batches(batches, TABLES[table], csv_path, parquet_path)
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
    return files, roots


def _generator() -> str:
    try:
        return f"sourcewatch {importlib.metadata.version('sourcewatch')}"
    except importlib.metadata.PackageNotFoundError:
        return "sourcewatch"


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _manifest(
    day: date,
    generated: datetime,
    files: Sequence[DumpedFile],
    roots: tuple[int, int, str],
) -> dict[str, Any]:
    start, end = day_bounds(day)
    count, size, sha256 = roots
    return {
        "format": FORMAT,
        "day": day.isoformat(),
        "timezone": LOCAL_TZ_NAME,
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
            "completeness": {
                "description": "the day's transmission and validity rates per outlet, data kind "
                "and pollutant (empty pollutant: the whole outlet)",
                "files": ["completeness.csv", "completeness.parquet"],
                "columns": [c.describe() for c in COMPLETENESS],
            },
        },
        "files": [f.describe() for f in files],
        "publication_roots": {
            "path": ROOTS,
            "description": "every signed root of the publication log up to the day, and the "
            "public keys (the same bytes until a day is signed)",
            "roots": count,
            "bytes": size,
            "sha256": sha256,
        },
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
    ``progress``, when given, is called with 1 after each data file is written (6 per
    enterprise; the manifest and SHA256SUMS are not counted)."""
    out.mkdir(parents=True, exist_ok=True)
    name = day.isoformat()
    final = out / name
    generated = now or datetime.now(UTC)
    with _locked(out / f".{name}.lock"):
        work = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-", dir=out))
        try:
            files, count = _write_day(conn, work, day, batch, generated, progress)
            roots = (count, (work / ROOTS).stat().st_size, _digest(work / ROOTS))
            text = json.dumps(_manifest(day, generated, files, roots), ensure_ascii=False, indent=2)
            (work / MANIFEST).write_text(text + "\n", encoding="utf-8")
            sums = [(f.sha256, f.path) for f in files] + [(roots[2], ROOTS)]
            sums.append((_digest(work / MANIFEST), MANIFEST))
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
