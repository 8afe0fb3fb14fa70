"""``sourcewatch check`` and ``sourcewatch limits``: what a bureau runs to see that every outlet
is judged and the service is sound."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from schemas.core.localtime import LOCAL_TZ
from schemas.disclosure.keys import generate_key
from sourcewatch import checks
from sourcewatch.cli import main
from tests.fixtures.registry import add_outlet

MN = "0CA065A6F43A75F68D981728"
WATER = "FF61A0C6A0B6136241A18FA2"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, database_url: str, mqtt_url: str, tmp_path: Path) -> Path:
    """The CLI's settings: the test database and broker, a signing key file (not created)."""
    key = tmp_path / "signing-key.pem"
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("SOURCEWATCH_MQTT_URL", mqtt_url)
    monkeypatch.setenv("SOURCEWATCH_SIGNING_KEY_FILE", str(key))
    return key


def report(db: psycopg.Connection, outlet: int, *codes: str) -> None:
    at = datetime.now(UTC) - timedelta(minutes=5)
    for code in codes:
        db.execute(
            "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
            " VALUES (%s, %s, 'min', %s, 1.5, 'N', %s)",
            (outlet, code, at, at),
        )
    db.execute(
        "INSERT INTO outlet_activity (outlet_id, last_frame_at, last_data_at) VALUES (%s, %s, %s)",
        (outlet, at, at),
    )


def calendar_lines() -> set[str]:
    """The calendar problems that are true today (chinesecalendar may not know this year)."""
    today = datetime.now(LOCAL_TZ).date()
    return {str(f) for f in checks.calendar(today) if f.level == "problem"}


def test_check_names_an_unbound_outlet_and_passes_once_it_is_bound(
    db: psycopg.Connection, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outlet = add_outlet(db, MN)
    report(db, outlet, "a21026", "a21002", "a34013", "a00000")
    generate_key(env)
    assert main(["check"]) == 1
    out = capsys.readouterr().out.splitlines()
    unjudged = [line for line in out if "[unjudged]" in line]
    assert len(unjudged) == 1 and unjudged[0].startswith(f"problem: [unjudged] outlet {MN}")
    assert "no limit in force on" in unjudged[0] and "a21026 (sulfur dioxide" in unjudged[0]
    assert not [line for line in out if "[silent]" in line or "[signing-key]" in line]

    args = ["limits", "bind", MN, "--standard", "GB 13223-2011", "--category"]
    args += ["coal-boiler-existing", "--from", "2020-01-01", "--source", "permit 001P"]
    assert main(args) == 0
    assert main(["check"]) == (1 if calendar_lines() else 0)
    out = capsys.readouterr().out.splitlines()
    problems = {line for line in out if line.startswith("problem:")}
    assert problems == calendar_lines()
    assert out[-1] == (f"{len(problems)} problem(s)" if problems else "no problems found")
    audit = db.execute("SELECT actor, action, after->>'category' FROM staff_audit").fetchall()
    assert [(a[1], a[2]) for a in audit] == [("limits.bind", "coal-boiler-existing")]
    assert audit[0][0].startswith("cli:")


def test_check_names_silent_outlets_and_a_missing_key(
    db: psycopg.Connection, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_outlet(db, MN)
    quiet = add_outlet(db, WATER, kind="water")
    db.execute(
        "INSERT INTO outlet_activity (outlet_id, last_frame_at, last_data_at) VALUES (%s, %s, %s)",
        (quiet, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)),
    )
    assert main(["check", "--silent-after", "2h"]) == 1
    out = capsys.readouterr().out
    assert f"problem: [silent] active outlet {MN} (1号排口) has never reported data" in out
    assert f"problem: [silent] active outlet {WATER} (1号排口) has reported no data since" in out
    assert "problem: [signing-key] the publication log cannot be signed" in out
    assert "[unjudged]" not in out  # no data in the window: silent, not unjudged


def test_broker_drops_read_from_the_broker(mqtt_url: str) -> None:
    found = checks.broker_drops(mqtt_url)
    # Mosquitto publishes its $SYS tree every sys_interval: a young broker may not have yet.
    assert found == [] or [f.level for f in found] == ["note"], found


@pytest.mark.parametrize(("dropped", "level"), [(0, None), (None, "note"), (17, "problem")])
def test_broker_drops_decision(dropped: int | None, level: str | None) -> None:
    found = checks.broker_drops("mqtt://broker", read=lambda url: dropped)
    assert [f.level for f in found] == ([level] if level else [])
    if level == "problem":
        assert "dropped 17 message(s)" in found[0].message


def test_an_unreachable_broker_is_a_problem() -> None:
    def refuse(url: str) -> int | None:
        raise ConnectionRefusedError(111, "Connection refused")

    (found,) = checks.broker_drops("mqtt://127.0.0.1:1", read=refuse)
    assert found.level == "problem" and "cannot be reached" in found.message


def test_calendar_this_year_is_a_problem_and_next_year_from_december_a_note() -> None:
    known = {2026}.__contains__
    assert checks.calendar(date(2026, 11, 30), known) == []
    (found,) = checks.calendar(date(2026, 12, 1), known)
    assert found.level == "note" and "holidays of 2027" in found.message
    (found,) = checks.calendar(date(2027, 3, 1), known)
    assert found.level == "problem" and "holidays of 2027" in found.message


def test_signing_key(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    assert [f.check for f in checks.signing_key(path)] == ["signing-key"]
    path.write_text("not a key")
    assert [f.check for f in checks.signing_key(path)] == ["signing-key"]
    path.unlink()
    generate_key(path)
    assert checks.signing_key(path) == []


# --- sourcewatch limits ---------------------------------------------------------------------------


def test_limits_import_show_and_standards(
    db: psycopg.Connection, env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_outlet(db, MN)
    permit = tmp_path / "permit.csv"
    permit.write_text(
        "mn,pollutant,value,unit,period,reference_o2,source_document,valid_from\n"
        f"{MN},a21026,25,mg/m3,hour,6,排污许可证 91330206MA2H7K3P0Q001P,2025-01-01\n",
        encoding="utf-8",
    )
    assert main(["limits", "import", str(permit)]) == 0
    assert "1 new, 0 new versions" in capsys.readouterr().out
    permit.write_text(permit.read_text().replace(",25,", ",20,"), encoding="utf-8")
    assert main(["limits", "import", str(permit)]) == 0
    assert "0 new, 1 new versions" in capsys.readouterr().out

    bad = tmp_path / "bad.csv"
    bad.write_text(permit.read_text().replace("a21026", "a2102X"), encoding="utf-8")
    assert main(["limits", "import", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "row 2, field pollutant: unknown factor code 'a2102X'" in err
    assert "nothing imported" in err

    args = ["limits", "bind", MN, "--standard", "GB 13223-2011", "--category"]
    assert main([*args, "coal-boiler-existing", "--from", "2020-01-01", "--source", "p"]) == 0
    capsys.readouterr()
    assert main(["limits", "show", MN, "--on", "2026-06-01"]) == 0
    out = capsys.readouterr().out
    assert f"{MN} (gas): limits in force on 2026-06-01" in out
    assert "a21026 二氧化硫 / sulfur dioxide (SO2): 20 mg/m³ per hour, at 6 % O₂" in out
    assert "from permit limit v2: 排污许可证 91330206MA2H7K3P0Q001P" in out
    assert "from GB 13223-2011 / coal-boiler-existing v1 (bound by p)" in out  # NOx, dust
    assert "a21026 hour v1: 25 mg/m³, 2025-01-01 – …" in out
    assert "GB 13223-2011 / coal-boiler-existing, 2020-01-01 – …, p" in out

    assert main(["limits", "show", "NOSUCHMN"]) == 1
    assert "unknown MN 'NOSUCHMN'" in capsys.readouterr().err

    assert main(["limits", "standards"]) == 0
    out = capsys.readouterr().out
    assert "GB 18918-2002 / class-1A — water — 一级标准 A 标准 / class 1, grade A —" in out
    assert "GB 13223-2011 / coal-boiler-existing — gas —" in out
    actions = [a for (a,) in db.execute("SELECT action FROM staff_audit ORDER BY id")]
    assert actions == ["limits.import", "limits.import", "limits.bind"]


def test_check_notes_outlets_without_a_pw(
    db: psycopg.Connection, env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15: the TCP gateway refuses outlets without a PW; check says which ones."""
    add_outlet(db, MN, password=None)
    add_outlet(db, WATER, kind="water")
    main(["check"])
    out = capsys.readouterr().out
    assert f"note: [without-pw] active outlet {MN} (1号排口) has no HJ 212 PW" in out
    assert WATER not in "".join(line for line in out.splitlines() if "[without-pw]" in line)


def test_queue_limit_from_the_mosquitto_file_or_the_settings(tmp_path: Path) -> None:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text("listener 1883\n# max_queued_messages 5\n")
    assert checks.queue_limit(conf, None) == (1000, str(conf))  # Mosquitto's default
    conf.write_text("max_queued_messages 100  # small\nmax_queued_messages 2000\n")
    assert checks.queue_limit(conf, None) == (2000, str(conf))  # the last line wins
    conf.write_text("max_queued_messages 0\n")
    assert checks.queue_limit(conf, None) == (None, str(conf))  # 0: no limit
    assert checks.queue_limit(conf, 50) == (50, "SOURCEWATCH_MQTT_MAX_QUEUED_MESSAGES")
    assert checks.queue_limit(None, None) == (None, "unknown")
    with pytest.raises(OSError):
        checks.queue_limit(tmp_path / "missing.conf", None)


def test_a_broker_queue_too_small_for_an_outage_is_a_problem(
    db: psycopg.Connection,
    env: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard = add_outlet(db, MN)
    add_outlet(db, WATER, kind="water")  # never heard: counted at the assumed rate
    now = datetime.now(UTC)
    for i in range(240):  # 240 frames in the last day: 10 an hour
        at = now - timedelta(minutes=6 * i + 1)
        db.execute(
            "INSERT INTO frames (received_at, transport, outlet_id, mn, cn, digest, raw, verdict)"
            " VALUES (%s, 'mqtt', %s, %s, '2051', %s, %s, 'stored')",
            (at, heard, MN, i.to_bytes(4, "big"), b"raw"),
        )
    found = checks.broker_queue(
        db, now, limit=1000, source="f", outage=timedelta(hours=24), assumed_per_hour=127
    )
    (problem,) = found  # 240 + 24 × 127 = 3288 in a day
    assert problem.level == "problem" and "about 3288 in 24 h" in problem.message
    assert "1 outlet(s) not heard" in problem.message
    assert not checks.broker_queue(
        db, now, limit=1000, source="f", outage=timedelta(hours=7), assumed_per_hour=127
    )  # 70 + 889 = 959 fit
    assert not checks.broker_queue(
        db, now, limit=None, source="f", outage=timedelta(days=9), assumed_per_hour=127
    )
    (note,) = checks.broker_queue(
        db, now, limit=None, source="unknown", outage=timedelta(1), assumed_per_hour=1
    )
    assert note.level == "note"

    conf = tmp_path / "mosquitto.conf"
    conf.write_text("max_queued_messages 1000\n")  # a distribution's default
    monkeypatch.setenv("SOURCEWATCH_MQTT_BROKER_CONFIG", str(conf))
    assert main(["check", "--outage", "1d"]) == 1
    out = capsys.readouterr().out
    said = f"problem: [broker-queue] the broker queues at most 1000 message(s) per session ({conf})"
    assert said in out


def test_overdue_requests_are_problems_and_those_due_soon_notes(db: psycopg.Connection) -> None:
    from schemas.disclosure import requests as rq

    def register(received: date) -> rq.Request:
        return rq.submit(
            db,
            requester_name="张三",
            contact="x",
            description="y",
            preferred_form="paper",
            channel="post",
            received_on=received,
            actor="li.na",
        ).request

    late = register(date(2026, 10, 28))  # due 25 November 2026
    soon = register(date(2026, 11, 2))  # due 30 November 2026
    register(date(2026, 11, 20))  # due in December
    done = register(date(2026, 10, 28))
    rq.answer(db, done.id, actor="li.na", outcome="disclosed", text="a", on=date(2026, 11, 2))
    found = checks.requests(db, date(2026, 11, 26), remind_within=3)
    assert [(f.level, late.reference in f.message) for f in found] == [
        ("problem", True),
        ("note", False),
    ]
    assert soon.reference in found[1].message and "2026-11-30" in found[1].message
    assert [f.level for f in checks.requests(db, date(2026, 11, 26), remind_within=0)] == [
        "problem"
    ]


@pytest.mark.parametrize(
    ("version", "noted"),
    [
        ("mosquitto version 2.0.11", True),
        ("mosquitto version 1.6.12", True),
        ("mosquitto version 2.0.13", False),
        ("mosquitto version 2.0.20", False),
        ("mosquitto version 2.1.0", False),
        ("VerneMQ 1.13", False),
        (None, False),
    ],
)
def test_an_old_mosquitto_is_a_note(version: str | None, noted: bool) -> None:
    found = checks.broker_version("mqtt://broker", read=lambda url: version)
    assert [f.level for f in found] == (["note"] if noted else [])
    if noted:
        assert "Receive Maximum" in found[0].message and "2.0.13" in found[0].message


def test_the_broker_version_is_read_from_the_broker(mqtt_url: str) -> None:
    # Mosquitto publishes $SYS/broker/version retained from its start.
    version = checks.read_sys_version(mqtt_url, timeout_s=15)
    assert version is not None and version.startswith("mosquitto version "), version
    old = tuple(int(n) for n in version.split()[-1].split(".")[:3]) < (2, 0, 13)
    assert [f.level for f in checks.broker_version(mqtt_url)] == (["note"] if old else [])
