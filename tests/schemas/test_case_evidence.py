"""The evidence bundle: every file, the raw frames byte for byte, hashes that verify."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from ingest.hj212.build import build_packet
from schemas.cases.errors import CaseNotFound
from schemas.cases.evidence import build_evidence, mask_pw
from schemas.cases.workflow import acknowledge, record_reply
from tests.fixtures.processes import run_guarded
from tests.fixtures.registry import add_outlet

MN = "88888880000001"
HOUR = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
OPENED = HOUR + timedelta(minutes=65)
REVISED = OPENED + timedelta(minutes=30)  # a correction sent after the case was opened
FILES = [
    "case.json",
    "history.json",
    "limit.json",
    "means.csv",
    "values.csv",
    "revisions.csv",
    "frames.csv",
]


@dataclass
class Scenario:
    outlet_id: int
    case_id: int
    frames: dict[int, bytes]
    first_sent: int  # the frame of the minute value before it was revised


def _frame(db: psycopg.Connection, outlet_id: int, at: datetime, cp: str) -> tuple[int, bytes]:
    local = at.astimezone(UTC) + timedelta(hours=8)
    raw = build_packet(
        f"QN={local:%Y%m%d%H%M%S}000;ST=31;CN=2051;PW=123456;MN={MN};Flag=4;"
        f"CP=&&DataTime={local:%Y%m%d%H%M%S};{cp}&&"
    )
    received = at + timedelta(minutes=1, seconds=3)
    row = db.execute(
        "INSERT INTO frames (received_at, transport, topic, outlet_id, mn, st, cn, qn, data_time, "
        "digest, raw, crc_received, crc_computed, crc_algorithm, crc_ok, length_ok, verdict, "
        "values_count) VALUES (%s, 'mqtt', %s, %s, %s, '31', '2051', %s, %s, %s, %s, %s, %s, "
        "'crc16-hj212', true, true, 'stored', 1) RETURNING id",
        (
            received,
            f"hj212/{MN}",
            outlet_id,
            MN,
            f"{local:%Y%m%d%H%M%S}000",
            at,
            hashlib.sha256(raw).digest(),
            raw,
            raw[-6:-2].decode(),
            raw[-6:-2].decode(),
        ),
    ).fetchone()
    assert row is not None
    return int(row[0]), raw


def _measurement(
    db: psycopg.Connection,
    outlet_id: int,
    pollutant: str,
    at: datetime,
    value: str,
    flag: str,
    frame_id: int,
    *,
    revision: int = 0,
    received: datetime | None = None,
) -> None:
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, frame_id, "
        "received_at, revision) VALUES (%s, %s, 'min', %s, %s, %s, %s, %s, %s)",
        (
            outlet_id,
            pollutant,
            at,
            value,
            flag,
            frame_id,
            received or at + timedelta(minutes=1),
            revision,
        ),
    )


def make_case(db: psycopg.Connection, *, limit_source: str = "outlet") -> Scenario:
    """An hourly SO2 exceedance: three minute values (one revised after the decision, flag
    N → D), O2 alongside, the hourly mean, the case, its period and its 'opened' event."""
    outlet_id = add_outlet(db, MN)
    frames: dict[int, bytes] = {}
    for minute, value in enumerate(("148.0", "151.5", "152.25")):
        at = HOUR + timedelta(minutes=minute)
        fid, raw = _frame(db, outlet_id, at, f"a21026-Avg={value},a21026-Flag=N;a19001-Avg=9.8")
        frames[fid] = raw
        if minute != 1:
            _measurement(db, outlet_id, "a21026", at, value, "N", fid)
        _measurement(db, outlet_id, "a19001", at, "9.8", "N", fid)
    at = HOUR + timedelta(minutes=1)
    first_id = sorted(frames)[1]
    fid, raw = _frame(db, outlet_id, at, "a21026-Avg=151.5,a21026-Flag=D")
    frames[fid] = raw
    _measurement(db, outlet_id, "a21026", at, "151.5", "D", fid, revision=1, received=REVISED)
    db.execute(
        "INSERT INTO measurement_revisions (outlet_id, pollutant, kind, ts, revision, old, new, "
        "old_frame_id, new_frame_id, revised_at) VALUES (%s, 'a21026', 'min', %s, 1, %s, %s, "
        "%s, %s, %s)",
        (
            outlet_id,
            at,
            Jsonb({"value": 151.5, "flag": "N"}),
            Jsonb({"value": 151.5, "flag": "D"}),
            first_id,
            fid,
            REVISED,
        ),
    )
    db.execute(
        "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, converted, "
        "o2_mean, valid_count, expected_count, valid, reason, flags) VALUES "
        "(%s, 'a21026', %s, 'min', 150.58, 160.2, 9.8, 45, 60, true, NULL, %s)",
        (outlet_id, HOUR, Jsonb({"N": 45, "D": 1})),
    )
    limit_id = _limit(db, outlet_id, limit_source)
    row = db.execute(
        "INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, severity, opened_at, "
        "first_at, last_at, max_multiple, details) VALUES ('exceedance', %s, 'a21026', 'hour', "
        "%s, 'warning', %s, %s, %s, 0.602, %s) RETURNING id",
        (outlet_id, limit_id, OPENED, HOUR, HOUR, Jsonb({"limit_source": limit_source})),
    ).fetchone()
    assert row is not None
    case_id = int(row[0])
    db.execute(
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, "
        "compliant) VALUES (%s, %s, 160.2, 100, 0.602, false)",
        (case_id, HOUR),
    )
    db.execute(
        "INSERT INTO case_events (case_id, at, actor, action, severity) "
        "VALUES (%s, %s, 'evaluator', 'opened', 'warning')",
        (case_id, OPENED),
    )
    return Scenario(outlet_id, case_id, frames, first_id)


def _limit(db: psycopg.Connection, outlet_id: int, source: str) -> int:
    """A limit row when migration 0003 is there; 0 (no limit) otherwise."""
    table = "outlet_limits" if source == "outlet" else "limits"
    if db.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
        return 0
    if source == "outlet":
        row = db.execute(
            "INSERT INTO outlet_limits (outlet_id, pollutant, value, unit, period, "
            "source_document, clause, valid_from, created_by) VALUES (%s, 'a21026', 100, "
            "'mg/m³', 'hour', '排污许可证 91330000000000000X001P', '表 3', '2023-01-01', "
            "'test') RETURNING id",
            (outlet_id,),
        ).fetchone()
    else:
        row = db.execute("SELECT id FROM limits ORDER BY id LIMIT 1").fetchone()
    return int(row[0]) if row else 0


def read_bundle(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


def rows(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[name].decode())))


@pytest.fixture
def scenario(db: psycopg.Connection) -> Scenario:
    return make_case(db)


def test_every_file_in_order(db: psycopg.Connection, scenario: Scenario, tmp_path: Path) -> None:
    manifest = build_evidence(db, scenario.case_id, tmp_path / "case.zip")
    with zipfile.ZipFile(tmp_path / "case.zip") as zf:
        names = zf.namelist()
    frames = [f"frames/{fid}.hj212" for fid in sorted(scenario.frames)]
    assert names == [*FILES, *frames, "manifest.json", "SHA256SUMS"]
    assert [f.name for f in manifest.files] == [*FILES, *frames]
    assert manifest.counts == {
        "periods": 1,
        "events": 1,
        "means": 1,
        "values": 6,
        "revisions": 1,
        "frames": 4,
    }
    assert manifest.warnings == ()
    assert not list(tmp_path.glob(".*partial"))


def test_raw_frames_are_as_received_but_the_pw(db: psycopg.Connection, scenario: Scenario) -> None:
    """Issue 15: the bundle, handed to reviewers and enterprises, carried each logger's PW in
    clear. The PW is masked; put back, it gives the SHA-256 of the frame as received."""
    out = io.BytesIO()
    build_evidence(db, scenario.case_id, out)
    files = read_bundle(out.getvalue())
    assert not any(b"123456" in data for data in files.values())
    for fid, raw in scenario.frames.items():
        masked = files[f"frames/{fid}.hj212"]
        assert masked == raw.replace(b"PW=123456;", b"PW=******;") and masked != raw
        assert masked.endswith(b"\r\n")
    note = json.loads(files["manifest.json"])["raw_frames"]
    assert note["pw_masked"] is True and "SHA-256" in note["note"]
    listed = {int(r["id"]): r for r in rows(files, "frames.csv")}
    assert set(listed) == set(scenario.frames)
    for fid, r in listed.items():
        assert r["sha256"] == hashlib.sha256(scenario.frames[fid]).hexdigest()
        assert (r["crc_ok"], r["verdict"], r["digest_ok"], r["transport"]) == (
            "true",
            "stored",
            "true",
            "mqtt",
        )
        assert r["received_at_utc"].endswith("Z") and r["received_at_local"].endswith("+08:00")


def test_hashes_verify(db: psycopg.Connection, scenario: Scenario, tmp_path: Path) -> None:
    out = io.BytesIO()
    result = build_evidence(db, scenario.case_id, out)
    files = read_bundle(out.getvalue())
    manifest = json.loads(files["manifest.json"])
    assert manifest["case_id"] == scenario.case_id
    assert manifest["sourcewatch_version"] == result.sourcewatch_version
    assert manifest["generated_at"].endswith("Z")
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json", "SHA256SUMS"}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(files[name]).hexdigest()
        assert entry["size"] == len(files[name])
    sums: dict[str, str] = {}
    for line in files["SHA256SUMS"].decode().splitlines():
        digest, name = line.split("  ", 1)
        sums[name] = digest
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert digest == hashlib.sha256(files[name]).hexdigest()
    assert result.manifest_sha256 == sums["manifest.json"]
    if shutil.which("sha256sum"):
        with zipfile.ZipFile(out) as zf:
            zf.extractall(tmp_path)
        check = subprocess.run(
            ["sha256sum", "-c", "--strict", "SHA256SUMS"],
            check=False,
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_values_carry_flags_revisions_frames_and_the_marks_at_decision(
    db: psycopg.Connection, scenario: Scenario
) -> None:
    out = io.BytesIO()
    build_evidence(db, scenario.case_id, out)
    files = read_bundle(out.getvalue())
    so2 = [r for r in rows(files, "values.csv") if r["pollutant"] == "a21026"]
    assert [(r["value"], r["flag"], r["revision"]) for r in so2] == [
        ("148.0", "N", "0"),
        ("151.5", "D", "1"),
        ("152.25", "N", "0"),
    ]
    assert so2[0]["ts_utc"] == "2024-05-01T02:00:00Z"
    assert so2[0]["ts_local"] == "2024-05-01T10:00:00+08:00"
    assert so2[0]["at_decision"] == "unchanged" and so2[0]["at_decision_flag"] == "N"
    revised = so2[1]
    assert int(revised["frame_id"]) == max(scenario.frames)
    assert (
        revised["at_decision"],
        revised["at_decision_flag"],
        revised["at_decision_revision"],
        revised["at_decision_frame_id"],
    ) == ("revised since", "N", "0", str(scenario.first_sent))
    o2 = [r for r in rows(files, "values.csv") if r["pollutant"] == "a19001"]
    assert len(o2) == 3
    [rev] = rows(files, "revisions.csv")
    assert (rev["old_flag"], rev["new_flag"], rev["after_decision"]) == ("N", "D", "true")
    assert json.loads(rev["old"]) == {"value": 151.5, "flag": "N"}
    [mean] = rows(files, "means.csv")
    assert (mean["mean"], mean["valid_count"], mean["expected_count"], mean["coverage"]) == (
        "150.58",
        "45",
        "60",
        "0.7500",
    )
    assert mean["hour_start_local"] == "2024-05-01T10:00:00+08:00"
    assert json.loads(mean["flags"]) == {"N": 45, "D": 1}
    assert mean["in_progress"] == "false"


def test_case_history_and_limit(db: psycopg.Connection, scenario: Scenario) -> None:
    acknowledge(db, scenario.case_id, "zhang.wei", note="已通知企业")
    record_reply(db, scenario.case_id, "li.na", "企业说明：分析仪校准")
    out = io.BytesIO()
    build_evidence(db, scenario.case_id, out)
    files = read_bundle(out.getvalue())
    case = json.loads(files["case.json"])
    assert case["case"]["id"] == scenario.case_id
    assert case["case"]["acknowledged_by"] == "zhang.wei"
    assert case["case"]["max_multiple"] == "0.602"  # decimals as stored, as strings
    assert case["case"]["details"]["replies"][0]["text"] == "企业说明：分析仪校准"
    assert case["periods"][0]["limit_value"] == "100"
    assert case["outlet"]["mn"] == MN and "password" not in case["outlet"]
    history = json.loads(files["history.json"])
    assert [(e["actor"], e["action"]) for e in history] == [
        ("evaluator", "opened"),
        ("zhang.wei", "acknowledged"),
        ("li.na", "replied"),
    ]
    limit = json.loads(files["limit.json"])
    assert (limit["limit_source"], limit["table"]) == ("outlet", "outlet_limits")
    if limit["limit_id"] == 0:
        pytest.skip("migration 0003 (limits) is not there")
    assert limit["found"] is True
    assert limit["limit"]["source_document"] == "排污许可证 91330000000000000X001P"
    assert (limit["limit"]["clause"], limit["limit"]["value"]) == ("表 3", "100")


def test_standard_limit(db: psycopg.Connection) -> None:
    scenario = make_case(db, limit_source="standard")
    out = io.BytesIO()
    manifest = build_evidence(db, scenario.case_id, out)
    limit = json.loads(read_bundle(out.getvalue())["limit.json"])
    if limit["limit_id"] == 0:
        assert manifest.warnings == ("limit: this case is not judged against a limit",)
        pytest.skip("no limits rows in this database")
    assert limit["found"] is True and limit["table"] == "limits"
    row = db.execute(
        "SELECT source_document, clause, confirmed FROM limits WHERE id = %s", (limit["limit_id"],)
    ).fetchone()
    assert row is not None
    assert (limit["limit"]["source_document"], limit["limit"]["clause"]) == row[:2]
    assert limit["limit"]["confirmed"] is row[2]


def test_a_missing_limit_is_a_warning_not_a_failure(
    db: psycopg.Connection, scenario: Scenario
) -> None:
    db.execute("UPDATE cases SET limit_id = 987654 WHERE id = %s", (scenario.case_id,))
    manifest = build_evidence(db, scenario.case_id, io.BytesIO())
    assert len(manifest.warnings) == 1 and "987654" in manifest.warnings[0]


def test_daily_case(db: psycopg.Connection, scenario: Scenario) -> None:
    db.execute(
        "INSERT INTO daily_means (outlet_id, pollutant, day, source, mean, valid_count, "
        "expected_count, valid) VALUES (%s, 'a21026', '2024-05-01', 'hour', 120.5, 20, 24, true)",
        (scenario.outlet_id,),
    )
    day_start = datetime(2024, 4, 30, 16, tzinfo=UTC)  # 2024-05-01 00:00 in Beijing
    db.execute(
        "UPDATE cases SET period = 'day', first_at = %s, last_at = %s WHERE id = %s",
        (day_start, day_start, scenario.case_id),
    )
    out = io.BytesIO()
    manifest = build_evidence(db, scenario.case_id, out)
    files = read_bundle(out.getvalue())
    [mean] = rows(files, "means.csv")
    assert (mean["day"], mean["coverage"], mean["in_progress"]) == ("2024-05-01", "0.8333", "false")
    span = json.loads(files["manifest.json"])["span"]
    assert span == {
        "means": "daily_means",
        "start": "2024-04-29T16:00:00Z",
        "end": "2024-05-02T16:00:00Z",
    }
    assert manifest.counts["values"] == 6


def _utc(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_an_hour_not_ended_is_in_progress(db: psycopg.Connection, scenario: Scenario) -> None:
    """As in the API and the console (schemas/core/periods.py): a judged period and a mean
    whose hour had not ended when the bundle was generated are in progress — 26 valid minutes
    of 60 is where the hour stands, not a final judgement; the hour before is not."""
    running = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    before = running - timedelta(hours=1)
    db.execute(
        "UPDATE cases SET first_at = %s, last_at = %s WHERE id = %s",
        (before, running, scenario.case_id),
    )
    db.execute(
        "UPDATE case_periods SET period_start = %s WHERE case_id = %s", (before, scenario.case_id)
    )
    db.execute(
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, "
        "compliant) VALUES (%s, %s, 130, 100, 0.3, false)",
        (scenario.case_id, running),
    )
    for hour, valid_count, valid, reason in (
        (before, 58, True, None),
        (running, 26, False, "26 valid minutes < 45"),
    ):
        db.execute(
            "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, "
            "valid_count, expected_count, valid, reason) "
            "VALUES (%s, 'a21026', %s, 'min', 140, %s, 60, %s, %s)",
            (scenario.outlet_id, hour, valid_count, valid, reason),
        )
    out = io.BytesIO()
    manifest = build_evidence(db, scenario.case_id, out)
    files = read_bundle(out.getvalue())
    # the running hour is in progress unless the clock passed its end before the bundle's time
    ended = running + timedelta(hours=1) <= manifest.generated_at
    expected = {_utc(before): "false", _utc(running): "false" if ended else "true"}
    means = rows(files, "means.csv")
    assert {m["hour_start_utc"]: m["in_progress"] for m in means} == expected
    assert [m["valid"] for m in means] == ["true", "false"]  # as stored, beside in_progress
    periods = json.loads(files["case.json"])["periods"]
    assert {p["period_start"]: p["in_progress"] for p in periods} == {
        k: v == "true" for k, v in expected.items()
    }


def test_a_local_day_not_ended_is_in_progress(db: psycopg.Connection, scenario: Scenario) -> None:
    """A daily case: the outlet's local day of the bundle's generation is in progress (its mean
    and its judged period), the day before is not."""
    tz = ZoneInfo("Asia/Shanghai")  # the outlet's: outlets.timezone's default
    today = datetime.now(tz).date()
    yesterday = today - timedelta(days=1)
    start = datetime.combine(yesterday, time(), tz).astimezone(UTC)
    db.execute(
        "UPDATE cases SET period = 'day', first_at = %s, last_at = %s WHERE id = %s",
        (start, start + timedelta(days=1), scenario.case_id),
    )
    db.execute(
        "UPDATE case_periods SET period_start = %s WHERE case_id = %s", (start, scenario.case_id)
    )
    db.execute(
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, "
        "compliant) VALUES (%s, %s, 130, 100, 0.3, false)",
        (scenario.case_id, start + timedelta(days=1)),
    )
    for day in (yesterday, today):
        db.execute(
            "INSERT INTO daily_means (outlet_id, pollutant, day, source, mean, valid_count, "
            "expected_count, valid) VALUES (%s, 'a21026', %s, 'hour', 120.5, 20, 24, true)",
            (scenario.outlet_id, day),
        )
    out = io.BytesIO()
    manifest = build_evidence(db, scenario.case_id, out)
    files = read_bundle(out.getvalue())
    ended = manifest.generated_at.astimezone(tz).date() > today  # midnight passed meanwhile
    assert {m["day"]: m["in_progress"] for m in rows(files, "means.csv")} == {
        str(yesterday): "false",
        str(today): "false" if ended else "true",
    }
    periods = json.loads(files["case.json"])["periods"]
    assert [p["in_progress"] for p in periods] == [False, not ended]


def test_outlet_case_without_pollutant_or_limit(db: psycopg.Connection) -> None:
    outlet_id = add_outlet(db, MN)
    row = db.execute(
        "INSERT INTO cases (kind, outlet_id, subject, severity, first_at, last_at) "
        "VALUES ('outage', %s, 'no-data', 'major', %s, %s) RETURNING id",
        (outlet_id, HOUR, HOUR),
    ).fetchone()
    assert row is not None
    out = io.BytesIO()
    manifest = build_evidence(db, int(row[0]), out)
    assert manifest.warnings == ()
    files = read_bundle(out.getvalue())
    assert json.loads(files["limit.json"])["found"] is False
    assert rows(files, "values.csv") == [] and "frames/" not in "".join(files)
    assert files["values.csv"].decode().startswith("outlet_id,pollutant,kind,ts_utc,ts_local,")


def test_unknown_case_writes_nothing(db: psycopg.Connection, tmp_path: Path) -> None:
    target = tmp_path / "none.zip"
    with pytest.raises(CaseNotFound, match="case 31337 does not exist"):
        build_evidence(db, 31337, target)
    assert list(tmp_path.iterdir()) == []


def test_inside_the_callers_transaction(database_url: str, db: psycopg.Connection) -> None:
    scenario = make_case(db)
    with psycopg.connect(database_url) as conn:
        conn.execute("SELECT 1")
        manifest = build_evidence(conn, scenario.case_id, io.BytesIO())
        assert manifest.counts["frames"] == 4


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCEWATCH_")}
    env["SOURCEWATCH_DATABASE_URL"] = database_url
    # a Python process's start: minutes of imports when starved, so a hang guard, not 60 s
    return run_guarded([sys.executable, "-m", "sourcewatch.cli", "evidence", *args], env=env)


def test_cli_writes_the_zip(
    database_url: str, db: psycopg.Connection, scenario: Scenario, tmp_path: Path
) -> None:
    target = tmp_path / f"case-{scenario.case_id}.zip"
    done = _cli(database_url, str(scenario.case_id), "-o", str(target))
    assert done.returncode == 0, done.stderr
    files = read_bundle(target.read_bytes())
    assert files[f"frames/{max(scenario.frames)}.hj212"] == mask_pw(
        scenario.frames[max(scenario.frames)]
    )
    sha = hashlib.sha256(files["manifest.json"]).hexdigest()
    assert f"evidence bundle of case {scenario.case_id}" in done.stdout
    assert f"manifest.json sha256 {sha}" in done.stdout


def test_cli_unknown_case(database_url: str, db: psycopg.Connection, tmp_path: Path) -> None:
    done = _cli(database_url, "31337", "-o", str(tmp_path / "x.zip"))
    assert done.returncode == 1
    assert done.stderr.strip().endswith("error: case 31337 does not exist")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        (
            b"##0101QN=1;ST=31;CN=2051;PW=123456;MN=88;Flag=4;CP=&&&&ABCD\r\n",
            b"##0101QN=1;ST=31;CN=2051;PW=******;MN=88;Flag=4;CP=&&&&ABCD\r\n",
        ),
        (b"QN=1;PW=;MN=88", b"QN=1;PW=;MN=88"),  # an empty PW stays empty
        (b"QN=1;ST=31;CP=&&XPW=5;a01-Rtd=1&&", b"QN=1;ST=31;CP=&&XPW=5;a01-Rtd=1&&"),
        (
            b'{"mn": "88", "pw": "s3\\"cret", "cn": "2011"}',
            b'{"mn": "88", "pw": "********", "cn": "2011"}',
        ),
    ],
)
def test_mask_pw(raw: bytes, masked: bytes) -> None:
    assert mask_pw(raw) == masked and len(masked) == len(raw)


def test_values_csv_never_carries_a_formula(db: psycopg.Connection, scenario: Scenario) -> None:
    """Issue 15: staff open values.csv in a spreadsheet; a logger's text must not run there."""
    evil = '=HYPERLINK("http://evil.example","open")'
    db.execute(
        "UPDATE measurements SET flag = %s, value = -2.5"
        " WHERE outlet_id = %s AND pollutant = 'a19001'",
        (evil, scenario.outlet_id),
    )
    out = io.BytesIO()
    build_evidence(db, scenario.case_id, out)
    o2 = [r for r in rows(read_bundle(out.getvalue()), "values.csv") if r["pollutant"] == "a19001"]
    assert o2 and all(r["flag"] == "'" + evil for r in o2)
    assert {r["value"] for r in o2} == {"-2.5"}  # a negative number stays a number
