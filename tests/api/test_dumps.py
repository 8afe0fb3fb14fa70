"""Daily bulk dumps (api/dumps.py, ``sourcewatch dump``, ``/v1/dumps``) against the real database.

The ``world`` fixture's gas outlet (enterprise ``hangzhou``) has three hourly means and six
raw values on 2026-11-27 between 08:00 and 11:00 Asia/Shanghai; the water outlet (``ningbo``)
has none, so the day has one partition.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import math
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api import dumps as daily_dumps
from api.app import create_app
from api.settings import ApiSettings
from schemas.completeness.rates import rates
from schemas.disclosure import ledger
from schemas.disclosure.pins import PinnedRoot, parse_pins
from schemas.disclosure.signing import sign_roots
from sourcewatch import cli
from tests.api.conftest import World, error_of, utc
from tests.api.test_completeness import upload
from tests.api.test_publication import publish

DAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "dumps"


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """The dump's own connection (not autocommit, as the CLI's)."""
    with psycopg.connect(database_url) as c:
        yield c


@pytest.fixture
def dump_client(database_url: str, out: Path) -> Iterator[TestClient]:
    settings = ApiSettings(
        database_url=database_url, api_rate_limit_per_minute=10_000, dump_dir=out
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _edges(db: psycopg.Connection, world: World) -> None:
    """Hourly means on both sides of the local midnight that starts the day (16:00 UTC)."""
    for hour_start in (utc(15, day=26), utc(16, day=26), utc(16, day=27)):
        db.execute(
            "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, "
            "valid_count, expected_count, valid, flags) VALUES (%s, 'a21026', %s, 'min', 1.5, "
            "60, 60, true, %s)",
            (world.gas, hour_start, Jsonb({"N": 60})),
        )


def _count(db: psycopg.Connection, table: str, column: str, enterprise: int) -> int:
    start, end = daily_dumps.day_bounds(DAY)
    queries = {
        "hourly_means": "SELECT count(*) FROM hourly_means t JOIN outlets o ON o.id = t.outlet_id "
        "WHERE o.enterprise_id = %s AND t.hour_start >= %s AND t.hour_start < %s",
        "measurements": "SELECT count(*) FROM measurements t JOIN outlets o ON o.id = t.outlet_id "
        "WHERE o.enterprise_id = %s AND t.ts >= %s AND t.ts < %s",
    }
    row = db.execute(queries[table], (enterprise, start, end)).fetchone()
    assert row is not None
    return int(row[0])


def _header(path: Path) -> list[str]:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return data.decode("utf-8").split("\r\n", 1)[0].split(",")


def _csv(path: Path) -> list[dict[str, str]]:
    data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def _manifest(folder: Path) -> dict[str, Any]:
    data = json.loads((folder / "manifest.json").read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def test_a_day_is_dumped_per_enterprise_with_the_rows_of_the_local_day(
    db: psycopg.Connection, world: World, conn: psycopg.Connection, out: Path
) -> None:
    _edges(db, world)
    manifest = daily_dumps.dump_day(conn, DAY, out, now=NOW)

    folder = out / "2026-11-27"
    assert manifest.path == folder
    part = folder / f"enterprise={world.hangzhou}"
    assert sorted(p.name for p in folder.iterdir()) == [
        "SHA256SUMS",
        f"enterprise={world.hangzhou}",
        "manifest.json",
        "publication-roots.json",
    ]
    assert sorted(p.name for p in part.iterdir()) == [
        "completeness.csv",
        "completeness.parquet",
        "hourly.csv",
        "hourly.parquet",
        "raw.csv.gz",
        "raw.parquet",
    ]
    hourly, raw = _csv(part / "hourly.csv"), _csv(part / "raw.csv.gz")
    # 3 fixture hours + 16:00 UTC on the 26th (local midnight); not 15:00 (the day before)
    # nor 16:00 UTC on the 27th (the next local day)
    assert len(hourly) == _count(db, "hourly_means", "hour_start", world.hangzhou) == 4
    assert len(raw) == _count(db, "measurements", "ts", world.hangzhou) == 6
    assert hourly[0]["hour_start_utc"] == "2026-11-26T16:00:00Z"
    assert hourly[0]["hour_start_local"] == "2026-11-27T00:00:00+08:00"

    invalid = next(r for r in hourly if r["hour_start_utc"] == "2026-11-27T02:00:00Z")
    assert invalid | {"computed_at_utc": "", "computed_at_local": ""} == {
        "enterprise_id": str(world.hangzhou),
        "enterprise_uscc": "91330100000000001A",
        "enterprise_name_zh": "杭州热电有限公司",
        "enterprise_name_en": "Hangzhou Thermal Power Co.",
        "outlet_id": str(world.gas),
        "outlet_code": "DA001",
        "outlet_name_zh": "1号排口",
        "outlet_name_en": "Stack 1",
        "outlet_kind": "gas",
        "pollutant": "a21026",
        "pollutant_name_zh": "二氧化硫",
        "pollutant_name_en": "sulfur dioxide (SO2)",
        "unit": "mg/m³",
        "hour_start_utc": "2026-11-27T02:00:00Z",
        "hour_start_local": "2026-11-27T10:00:00+08:00",
        "hour_end_utc": "2026-11-27T03:00:00Z",
        "hour_end_local": "2026-11-27T11:00:00+08:00",
        "source": "min",
        "mean": "90",
        "converted": "",
        "zs_reported": "",
        "o2_mean": "",
        "valid_count": "20",
        "expected_count": "60",
        "coverage": "0.3333",
        "valid": "false",
        "reason": "20 valid minutes < 45",
        "flags": '{"D":40,"N":20}',
        "computed_at_utc": "",
        "computed_at_local": "",
    }
    flagged = [(r["pollutant"], r["kind"], r["ts_utc"], r["flag"], r["flag_valid"]) for r in raw]
    assert ("a21026", "rtd", "2026-11-27T01:01:00Z", "D", "false") in flagged
    assert ("a21026", "rtd", "2026-11-27T01:00:00Z", "N", "true") in flagged
    assert ("a19001", "rtd", "2026-11-27T02:30:00Z", "C", "false") in flagged

    rows = {(f.path, f.rows) for f in manifest.files}
    assert rows == {
        (f"enterprise={world.hangzhou}/hourly.csv", 4),
        (f"enterprise={world.hangzhou}/hourly.parquet", 4),
        (f"enterprise={world.hangzhou}/raw.csv.gz", 6),
        (f"enterprise={world.hangzhou}/raw.parquet", 6),
        # the fixture's values were inserted around ingest: no completeness record, nothing due
        (f"enterprise={world.hangzhou}/completeness.csv", 0),
        (f"enterprise={world.hangzhou}/completeness.parquet", 0),
    }
    assert "1 enterprise(s), 4 hourly mean(s), 6 measurement(s)" in manifest.summary()


def test_manifest_sizes_and_checksums_recompute_and_sha256sum_accepts_them(
    world: World, conn: psycopg.Connection, out: Path
) -> None:
    daily_dumps.dump_day(conn, DAY, out, now=NOW)
    folder = out / "2026-11-27"
    manifest = _manifest(folder)

    assert manifest["format"] == "sourcewatch-dump/1"
    assert manifest["day"] == "2026-11-27"
    assert manifest["period"] == {"start": "2026-11-26T16:00:00Z", "end": "2026-11-27T16:00:00Z"}
    assert manifest["generated_at"] == "2026-11-28T01:00:00Z"
    assert "attribution" in manifest["licence"]
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        assert entry["bytes"] == len(data)
        assert entry["sha256"] == hashlib.sha256(data).hexdigest()
        columns = [c["name"] for c in manifest["tables"][entry["table"]]["columns"]]
        if entry["format"] == "parquet":
            assert pq.read_schema(folder / entry["path"]).names == columns
        else:
            assert _header(folder / entry["path"]) == columns
    units = {c["name"]: c["unit"] for c in manifest["tables"]["hourly"]["columns"]}
    assert units["o2_mean"] == "%" and "unit" in units["mean"]
    types = {c["name"]: c["parquet_type"] for c in manifest["tables"]["raw"]["columns"]}
    assert types["ts_utc"] == "timestamp[us, tz=UTC]" and types["value"] == "double"

    sums = (folder / "SHA256SUMS").read_text().splitlines()
    listed = sorted(line.split("  ", 1)[1] for line in sums)
    roots = manifest["publication_roots"]
    assert listed == sorted(
        [*(f["path"] for f in manifest["files"]), roots["path"], "manifest.json"]
    )
    data = (folder / roots["path"]).read_bytes()
    assert (roots["bytes"], roots["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    checked = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count(": OK") == len(sums)

    (folder / f"enterprise={world.hangzhou}" / "hourly.csv").write_text("tampered\r\n")
    tampered = subprocess.run(
        ["sha256sum", "-c", "--quiet", "SHA256SUMS"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert tampered.returncode != 0 and "hourly.csv: FAILED" in tampered.stdout


def _same(column: daily_dumps.Column, text: str, value: Any) -> bool:
    """A CSV cell and its Parquet value hold the same datum."""
    if text == "":
        return value is None
    if column.type in ("timestamp_utc", "timestamp_local"):
        return bool(datetime.fromisoformat(text) == value and value.tzinfo is not None)
    if column.type == "decimal":
        return math.isclose(float(text), value, rel_tol=0, abs_tol=0)
    if column.type == "integer":
        return int(text) == value
    if column.type == "boolean":
        return text == ("true" if value else "false")
    return text == value


def test_parquet_reads_back_equal_to_the_csv_in_row_groups_of_a_batch(
    db: psycopg.Connection, world: World, conn: psycopg.Connection, out: Path
) -> None:
    _edges(db, world)
    daily_dumps.dump_day(conn, DAY, out, batch=2)
    part = out / "2026-11-27" / f"enterprise={world.hangzhou}"
    for table, csv_name in (("hourly", "hourly.csv"), ("raw", "raw.csv.gz")):
        columns = daily_dumps.TABLES[table]
        csv_rows = _csv(part / csv_name)
        parquet = pq.ParquetFile(part / f"{table}.parquet")
        assert parquet.metadata.num_row_groups == math.ceil(len(csv_rows) / 2)  # streamed
        parquet_rows = parquet.read().to_pylist()
        assert len(parquet_rows) == len(csv_rows) > 0
        for text_row, value_row in zip(csv_rows, parquet_rows, strict=True):
            for column in columns:
                cell, value = text_row[column.name], value_row[column.name]
                assert _same(column, cell, value), (table, column.name, cell, value)


def test_rerun_replaces_the_day_whole_and_a_failed_run_leaves_it_untouched(
    db: psycopg.Connection, world: World, conn: psycopg.Connection, out: Path
) -> None:
    first = daily_dumps.dump_day(conn, DAY, out, now=NOW)
    sums = (out / "2026-11-27" / "SHA256SUMS").read_bytes()
    again = daily_dumps.dump_day(conn, DAY, out, now=NOW)
    assert (out / "2026-11-27" / "SHA256SUMS").read_bytes() == sums  # same data, same bytes
    assert again.files == first.files

    db.execute(
        "DELETE FROM hourly_means WHERE outlet_id = %s AND hour_start = %s", (world.gas, utc(2))
    )
    db.execute("DELETE FROM measurements WHERE outlet_id = %s", (world.gas,))
    later = datetime(2026, 11, 29, tzinfo=UTC)
    daily_dumps.dump_day(conn, DAY, out, now=later)
    folder = out / "2026-11-27"
    manifest = _manifest(folder)
    assert manifest["generated_at"] == "2026-11-29T00:00:00Z"
    assert {f["path"].rsplit("/", 1)[1]: f["rows"] for f in manifest["files"]} == {
        "hourly.csv": 2,
        "hourly.parquet": 2,
        "raw.csv.gz": 0,
        "raw.parquet": 0,
        "completeness.csv": 0,
        "completeness.parquet": 0,
    }
    assert len(_csv(folder / f"enterprise={world.hangzhou}" / "hourly.csv")) == 2
    assert pq.read_table(folder / f"enterprise={world.hangzhou}" / "raw.parquet").num_rows == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["2026-11-27"]  # no leftovers

    published = (folder / "SHA256SUMS").read_bytes()
    conn.execute("SELECT 1")  # a transaction is open: the dump cannot take its snapshot
    with pytest.raises(daily_dumps.DumpError):
        daily_dumps.dump_day(conn, DAY, out, now=NOW)
    conn.rollback()
    assert (folder / "SHA256SUMS").read_bytes() == published
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["2026-11-27"]


def test_api_lists_days_and_serves_exactly_the_files_of_the_manifest(
    world: World, conn: psycopg.Connection, out: Path, dump_client: TestClient
) -> None:
    assert dump_client.get("/v1/dumps").json()["results"] == []
    daily_dumps.dump_day(conn, DAY, out, now=NOW)
    daily_dumps.dump_day(conn, date(2026, 11, 26), out, now=NOW)

    listing = dump_client.get("/v1/dumps")
    assert listing.status_code == 200, listing.text
    body = listing.json()
    assert body["meta"] == {"page": 1, "limit": 100, "found": 2, "next": None}
    newest = body["results"][0]
    assert [r["day"] for r in body["results"]] == ["2026-11-27", "2026-11-26"]
    assert newest["manifest"] == "http://testserver/v1/dumps/2026-11-27/manifest.json"
    assert newest["checksums"] == "http://testserver/v1/dumps/2026-11-27/SHA256SUMS"
    assert (newest["enterprises"], newest["files"], newest["hourly_rows"], newest["raw_rows"]) == (
        1,
        6,
        3,
        6,
    )
    assert body["results"][1]["files"] == 0  # a day without data: manifest and checksums only
    paged = dump_client.get("/v1/dumps", params={"limit": 1})
    assert paged.json()["meta"]["next"] is not None and len(paged.json()["results"]) == 1
    assert "2026-11-26" in dump_client.get("/v1/dumps", params={"format": "csv"}).text

    manifest = dump_client.get(newest["manifest"])
    assert manifest.status_code == 200
    assert manifest.headers["content-type"].startswith("application/json")
    folder = out / "2026-11-27"
    assert manifest.content == (folder / "manifest.json").read_bytes()
    for entry in manifest.json()["files"]:
        got = dump_client.get(f"/v1/dumps/2026-11-27/{entry['path']}")
        assert got.status_code == 200, entry["path"]
        assert hashlib.sha256(got.content).hexdigest() == entry["sha256"]
        assert got.headers["etag"] == f'"{entry["sha256"]}"'
        kind = got.headers["content-type"].split(";")[0]
        expected = {
            "csv": "text/csv",
            "csv.gz": "application/gzip",
            "parquet": "application/vnd.apache.parquet",
        }
        assert kind == expected[entry["format"]]
        cached = dump_client.get(
            f"/v1/dumps/2026-11-27/{entry['path']}", headers={"If-None-Match": got.headers["etag"]}
        )
        assert cached.status_code == 304
    sums = dump_client.get(newest["checksums"])
    assert sums.status_code == 200 and sums.content == (folder / "SHA256SUMS").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
        "..%2F.2026-11-27.lock",
        "enterprise=1%2F..%2F..%2F2026-11-26%2Fmanifest.json",
        "%2Fetc%2Fpasswd",
        "secret.txt",
        "enterprise=999/hourly.csv",
        "manifest.json%00",
    ],
)
def test_api_refuses_any_path_the_manifest_does_not_list(
    world: World, conn: psycopg.Connection, out: Path, dump_client: TestClient, path: str
) -> None:
    daily_dumps.dump_day(conn, DAY, out, now=NOW)
    (out / "2026-11-27" / "secret.txt").write_text("not published")
    response = dump_client.get(f"/v1/dumps/2026-11-27/{path}")
    if path.endswith("%00"):
        error_of(response, 422, "path")
    else:
        error_of(response, 404, "path")
    assert b"not published" not in response.content


def test_api_unknown_and_malformed_days(dump_client: TestClient, out: Path) -> None:
    error_of(dump_client.get("/v1/dumps/2026-11-27/manifest.json"), 404, "day")
    error_of(dump_client.get("/v1/dumps/2026-13-01/manifest.json"), 422, "day")
    error_of(dump_client.get("/v1/dumps/..%2F..%2Fetc/passwd"), 422, "day")


def test_cli_dumps_a_run_of_days(
    world: World,
    database_url: str,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    argv = ["dump", "--day", "2026-11-27", "--days", "2", "--out", str(out)]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "2026-11-26: 0 enterprise(s)" in printed
    assert "2026-11-27: 1 enterprise(s), 3 hourly mean(s), 6 measurement(s)" in printed
    assert daily_dumps.available_days(out) == [date(2026, 11, 27), date(2026, 11, 26)]
    checked = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=out / "2026-11-27",
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout

    monkeypatch.setenv("SOURCEWATCH_DUMP_DIR", str(out / "from-setting"))
    assert cli.main(["dump", "--day", "2026-11-27"]) == 0
    assert (out / "from-setting" / "2026-11-27" / "manifest.json").is_file()
    assert cli.main(["dump", "--day", "2026-11-27", "--days", "0"]) == 2


def test_the_days_completeness_is_the_rates_of_each_outlet(
    world: World, db: psycopg.Connection, conn: psycopg.Connection, out: Path
) -> None:
    upload(db, world.gas, daily_dumps.day_bounds(DAY)[0])
    daily_dumps.dump_day(conn, DAY, out, now=NOW)
    part = out / "2026-11-27" / f"enterprise={world.hangzhou}"
    table = _csv(part / "completeness.csv")
    assert pq.read_table(part / "completeness.parquet").num_rows == len(table) == 6
    expected = rates(db, world.gas, "day", DAY, DAY, now=NOW)
    assert [
        (r["pollutant"] or None, r["data_kind"], int(r["expected"]), int(r["received"]))
        for r in table
    ] == [(r.pollutant, r.kind, r.expected, r.received) for r in expected]
    (headline,) = [r for r in table if r["headline"] == "true"]
    assert headline["outlet_id"] == str(world.gas) and headline["pollutant"] == ""
    assert (headline["data_kind"], headline["expected"], headline["received"]) == (
        "hour",
        "48",
        "46",
    )
    assert headline["transmission_validity_rate"] == "0.9583"
    assert (headline["target"], headline["meets_target"]) == ("0.9000", "true")
    assert headline["rules_confirmed"] == "false"
    so2 = next(r for r in table if r["pollutant"] == "a21026" and r["data_kind"] == "min")
    assert so2["pollutant_name_zh"] == "二氧化硫"


def test_dump_reports_each_file_written(world: World, conn: psycopg.Connection, out: Path) -> None:
    calls: list[int] = []
    manifest = daily_dumps.dump_day(conn, DAY, out, now=NOW, progress=calls.append)
    assert calls == [1] * len(manifest.files) == [1] * 6  # one enterprise: 3 CSV, 3 Parquet
    calls.clear()
    daily_dumps.dump_day(conn, date(2026, 11, 26), out, now=NOW, progress=calls.append)
    assert calls == []  # a day without data has no enterprise partition


def test_cli_progress_bar_goes_to_stderr_only_when_asked(
    world: World,
    database_url: str,
    out: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    argv = ["dump", "--day", "2026-11-27", "--days", "2", "--out", str(out)]
    assert cli.main([*argv, "--progress"]) == 0
    captured = capsys.readouterr()
    assert "2/2" in captured.err and "files=4" in captured.err
    assert "files=" not in captured.out and "2026-11-27: 1 enterprise(s)" in captured.out
    assert cli.main(argv) == 0  # stderr is not a terminal here: no bar
    assert cli.main([*argv, "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.count("2026-11-26: 0 enterprise(s)") == 2


def test_the_signed_roots_are_in_every_dump_to_mirror(
    db: psycopg.Connection,
    world: World,
    conn: psycopg.Connection,
    out: Path,
    dump_client: TestClient,
) -> None:
    """Issue 15: the public roots were only on one paged endpoint; a mirror keeps this file
    and verifies against it (sourcewatch verify --pinned)."""
    key = Ed25519PrivateKey.generate()
    ids = [publish(db, "K-1", datetime(2026, 11, 26, 3, tzinfo=UTC))]
    ids.append(publish(db, "K-2", datetime(2026, 11, 27, 3, tzinfo=UTC)))
    ids.append(publish(db, "K-3", datetime(2026, 11, 28, 3, tzinfo=UTC)))
    sign_roots(db, key, through=date(2026, 11, 28))
    daily_dumps.dump_day(conn, DAY, out, now=NOW)
    served = dump_client.get("/v1/dumps/2026-11-27/publication-roots.json")
    assert served.status_code == 200
    document = served.json()
    assert document["format"] == "sourcewatch-publication-roots/1"
    assert document["through"] == "2026-11-27"
    assert [r["day"] for r in document["roots"]] == ["2026-11-26", "2026-11-27"]  # not the 28th
    [public] = document["keys"]
    verifier = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public["public_key"]))
    for r in document["roots"]:
        verifier.verify(bytes.fromhex(r["signature"]), r["signed_message"].encode())
    assert parse_pins(served.text) == [
        PinnedRoot(r.day, r.last_seq, r.root_hash) for r in ledger.roots(db)[:2]
    ]
    before = (out / "2026-11-27" / "publication-roots.json").read_bytes()
    daily_dumps.dump_day(conn, DAY, out, now=NOW.replace(hour=5))
    assert (out / "2026-11-27" / "publication-roots.json").read_bytes() == before  # stable


def test_dumped_csv_never_carries_a_formula_but_parquet_keeps_the_value(
    db: psycopg.Connection, world: World, conn: psycopg.Connection, out: Path
) -> None:
    """Issue 15: a stored flag like ``=HYPERLINK(…)`` is neutralised in the CSV of the dump."""
    evil = '=HYPERLINK("http://evil.example","x")'
    db.execute(
        "UPDATE measurements SET flag = %s WHERE outlet_id = %s AND ts = %s",
        (evil, world.gas, utc(1, 1)),
    )
    daily_dumps.dump_day(conn, DAY, out, now=NOW)
    part = out / "2026-11-27" / f"enterprise={world.hangzhou}"
    flags = [r["flag"] for r in _csv(part / "raw.csv.gz")]
    assert "'" + evil in flags and evil not in flags
    assert evil in pq.read_table(part / "raw.parquet").column("flag").to_pylist()


def test_a_dump_leaves_out_the_hour_that_has_not_ended(
    world: World, conn: psycopg.Connection, out: Path
) -> None:
    """A dump is a published snapshot: an hour still running when it is written (a day dumped
    before it ended) is left out, not published with the validity of its data so far; the
    dump of the day once it has ended has it."""
    hourly = out / "2026-11-27" / f"enterprise={world.hangzhou}" / "hourly.csv"
    daily_dumps.dump_day(conn, DAY, out, now=utc(2, 30))  # 10:30 local, during 10:00–11:00
    assert [r["hour_start_utc"] for r in _csv(hourly)] == [
        "2026-11-27T00:00:00Z",
        "2026-11-27T01:00:00Z",
    ]
    daily_dumps.dump_day(conn, DAY, out, now=utc(3))  # that hour ended at 03:00 UTC
    hours = _csv(hourly)
    assert hours[-1]["hour_start_utc"] == "2026-11-27T02:00:00Z" and hours[-1]["valid"] == "false"
    assert len(hours) == 3
