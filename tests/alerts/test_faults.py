"""Fault cases end to end: hours the logger flags as fault (D), calibration (C) or maintenance (M),
written by ingest's writer and judged by the evaluator on the real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.faults import fault_flag
from alerts.settings import AlertsSettings
from ingest.records import Accepted, MeasurementRow
from ingest.writer import write_batch
from schemas.codes.pattern_rules import PatternRules, load_pattern_rules
from schemas.limits.rules import bind_outlet
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "0100000000000000000000F1"
ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
H0 = datetime(2026, 11, 27, 0, tzinfo=UTC)  # 08:00 in Shanghai: days stay open all test long
NOW = H0 + timedelta(hours=7, minutes=30)


def hour_rows(hour: int, flag: str = "N", flagged: int = 60) -> list[MeasurementRow]:
    """60 minute values of SO₂ (and valid O₂) in hour ``hour``; the first ``flagged`` minutes
    of SO₂ carry ``flag``, the others N."""
    rows = []
    for m in range(60):
        ts = H0 + timedelta(hours=hour, minutes=m)
        f = flag if m < flagged else "N"
        so2 = Decimal(20) + Decimal(m % 7) / 10
        rows.append(MeasurementRow("a21026", "min", ts, value=so2, flag=f))
        rows.append(MeasurementRow("a19001", "min", ts, value=Decimal("9.1"), flag="N"))
    return rows


def water_rows(hour: int, flag: str = "N", flagged: int = 0) -> list[MeasurementRow]:
    """60 minute values of COD in hour ``hour``; the first ``flagged`` carry ``flag``."""
    return [
        MeasurementRow(
            "w01018",
            "min",
            H0 + timedelta(hours=hour, minutes=m),
            value=Decimal(40),
            flag=flag if m < flagged else "N",
        )
        for m in range(60)
    ]


def store(
    conn: psycopg.Connection,
    outlet_id: int,
    hours: dict[int, list[MeasurementRow]],
    mn: str = MN,
) -> None:
    write_batch(
        conn,
        [
            Accepted(
                transport="mqtt",
                topic=None,
                received_at=datetime.now(UTC),
                raw=f"frame-{h}-{rows[0].flag}-{rows[-2].flag}-{len(rows)}".encode(),
                outlet_id=outlet_id,
                mn=mn,
                st="31",
                cn="2051",
                qn=None,
                data_time=rows[0].ts,
                rows=tuple(rows),
            )
            for h, rows in hours.items()
        ],
        [],
    )


def requeue(conn: psycopg.Connection, outlet_id: int, hours: range) -> None:
    for h in hours:
        conn.execute(
            "INSERT INTO evaluation_queue (outlet_id, hour_start) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING",
            (outlet_id, H0 + timedelta(hours=h)),
        )


def evaluator(database_url: str, *, fault_after_hours: int = 2) -> Evaluator:
    settings = AlertsSettings(database_url=database_url, fault_after_hours=fault_after_hours)
    options = EvaluatorOptions.from_settings(settings)
    return Evaluator(options, clock=lambda: NOW)


def fault_events(conn: psycopg.Connection) -> list[tuple[str, str, str, str]]:
    return [
        (r[0], r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT c.pollutant, c.subject, e.action, e.severity FROM case_events e "
            "JOIN cases c ON c.id = e.case_id WHERE c.kind = 'fault' ORDER BY e.id"
        )
    ]


@pytest.fixture
def outlet(db: psycopg.Connection) -> int:
    oid = add_outlet(db, MN)
    bind_outlet(db, MN, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit 91330000-001")
    return oid


@pytest.fixture
def rules(db: psycopg.Connection) -> PatternRules:
    return load_pattern_rules(db, date(2026, 11, 27))


def test_gas_fault_hour_needs_more_than_a_quarter_of_fault_flags(rules: PatternRules) -> None:
    # HJ 212-2017, notes to Tables C.16–C.18: a flue-gas interval is abnormal once more than
    # 25 % of its values are abnormal.
    assert rules.fault_flags == ("D", "C", "M")
    assert rules.fault_hour_share_gas == Decimal("0.25") and "fault_hour_share_gas" not in (
        rules.unconfirmed
    )
    assert fault_flag({"D": 16, "N": 44}, rules, "gas") == "D"  # 16 of 60 minutes
    assert fault_flag({"D": 15, "N": 45}, rules, "gas") is None  # 15 of 60: exactly 25 %
    assert fault_flag({"D": 6, "C": 5, "M": 5, "N": 44}, rules, "gas") == "D"  # 16 flagged
    assert fault_flag({"C": 10, "D": 6, "N": 44}, rules, "gas") == "C"  # the most frequent
    assert fault_flag({"M": 8, "D": 8, "N": 44}, rules, "gas") == "D"  # tie: D first
    assert fault_flag({"F": 60}, rules, "gas") is None  # source stopped: not an instrument fault
    assert fault_flag({"T": 30, "D": 15, "N": 15}, rules, "gas") is None  # 15 of 60 fault flags
    assert fault_flag({"M": 1}, rules, "gas") == "M"  # the logger's own hourly value
    assert fault_flag({}, rules, "gas") is None


def test_water_fault_hour_needs_one_fault_flag(rules: PatternRules) -> None:
    # HJ 212-2017, notes to Tables C.16–C.18: a wastewater interval is abnormal with one
    # abnormal value.
    assert rules.fault_hour_values_water == 1
    assert "fault_hour_values_water" not in rules.unconfirmed
    assert fault_flag({"D": 1, "N": 59}, rules, "water") == "D"
    assert fault_flag({"C": 1}, rules, "water") == "C"
    assert fault_flag({"N": 60}, rules, "water") is None
    assert fault_flag({"F": 1, "N": 5}, rules, "water") is None
    assert fault_flag({}, rules, "water") is None
    with pytest.raises(ValueError, match="medium"):
        fault_flag({"D": 1}, rules, "noise")


def test_two_fault_hours_open_one_case_and_a_valid_hour_closes_it(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    ev = evaluator(database_url)
    store(db, outlet, {0: hour_rows(0, "D")})
    ev.drain(db)
    assert fault_events(db) == []  # one hour is not a run
    store(db, outlet, {1: hour_rows(1, "D", flagged=50)})
    ev.drain(db)
    assert fault_events(db) == [("a21026", "flag-D", "opened", "major")]
    case = db.execute(
        "SELECT state, first_at, last_at, details FROM cases WHERE kind = 'fault'"
    ).fetchone()
    assert case is not None
    state, first_at, last_at, details = case
    assert (state, first_at, last_at) == ("open", H0, H0 + timedelta(hours=1))
    assert details["flag"] == "D" and details["hours"] == 2
    assert details["meaning_en"] == "instrument fault" and "故障" in details["meaning_zh"]
    assert "not a finding" in details["note_en"] and "非违法认定" in details["note_zh"]
    share = details["rules"]["fault_hour_share_gas"]
    assert share["source"].startswith("HJ 212-2017") and share["confirmed"] is True
    assert (details["latest_share"], details["latest_samples"]) == ("0.833", {"D": 50, "N": 10})
    store(db, outlet, {2: hour_rows(2, "D")})  # the fault goes on: same case, no event
    ev.drain(db)
    assert len(fault_events(db)) == 1
    assert db.execute("SELECT last_at, details->'hours' FROM cases").fetchone() == (
        H0 + timedelta(hours=2),
        3,
    )
    store(db, outlet, {3: hour_rows(3)})
    ev.drain(db)
    assert fault_events(db) == [
        ("a21026", "flag-D", "opened", "major"),
        ("a21026", "flag-D", "closed", "major"),
    ]
    reason = db.execute("SELECT close_reason FROM cases").fetchone()
    assert reason is not None and reason[0].startswith("normal data again at 2026-11-27T03:00")
    requeue(db, outlet, range(4))  # re-evaluating every hour adds nothing
    ev.drain(db)
    assert len(fault_events(db)) == 2
    assert db.execute("SELECT count(*) FROM cases").fetchone() == (1,)


def test_runs_must_be_consecutive_hours_of_one_flag(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    store(
        db,
        outlet,
        {
            0: hour_rows(0, "D"),
            1: hour_rows(1),
            2: hour_rows(2, "D"),  # a valid hour between
            4: hour_rows(4, "D"),  # hour 3 missing: a gap
            5: hour_rows(5, "M"),  # another flag
            6: hour_rows(6, "D", flagged=15),
            7: hour_rows(7, "D", flagged=15),  # 25 %: not more than a quarter
        },
    )
    evaluator(database_url).drain(db)
    assert fault_events(db) == []
    flags = db.execute(
        "SELECT flags FROM hourly_means WHERE pollutant = 'a21026' AND hour_start = %s",
        (H0 + timedelta(hours=6),),
    ).fetchone()
    assert flags == ({"D": 15, "N": 45},)


def test_sixteen_flagged_minutes_make_fault_hours_fifteen_do_not(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    store(db, outlet, {0: hour_rows(0, "D", flagged=15), 1: hour_rows(1, "D", flagged=15)})
    ev = evaluator(database_url)
    ev.drain(db)
    assert fault_events(db) == []
    store(db, outlet, {2: hour_rows(2, "D", flagged=16), 3: hour_rows(3, "D", flagged=16)})
    ev.drain(db)
    assert fault_events(db) == [("a21026", "flag-D", "opened", "major")]
    case = db.execute("SELECT first_at, details FROM cases WHERE kind = 'fault'").fetchone()
    assert case is not None and case[0] == H0 + timedelta(hours=2)
    assert (case[1]["hours"], case[1]["latest_share"]) == (2, "0.267")
    # 44 valid minutes: the fault hour is not a valid hour either (HJ 212-2017 Appendix D)
    valid = db.execute(
        "SELECT array_agg(valid ORDER BY hour_start) FROM hourly_means WHERE pollutant = 'a21026'"
    ).fetchone()
    assert valid == ([True, True, False, False],)


def test_one_flagged_wastewater_value_makes_a_fault_hour(
    db: psycopg.Connection, database_url: str
) -> None:
    mn = "0100000000000000000000W1"
    water = add_outlet(db, mn, kind="water")
    ev = evaluator(database_url)
    store(db, water, {0: water_rows(0, "C", flagged=1), 1: water_rows(1, "C", flagged=1)}, mn)
    store(db, water, {2: water_rows(2)}, mn)
    ev.drain(db)
    assert fault_events(db) == [
        ("w01018", "flag-C", "opened", "warning"),
        ("w01018", "flag-C", "closed", "warning"),
    ]
    details = db.execute("SELECT details FROM cases WHERE kind = 'fault'").fetchone()
    assert details is not None
    rule = details[0]["rules"]["fault_hour_values_water"]
    assert (rule["value"], rule["confirmed"]) == ("1", True)
    assert details[0]["latest_samples"] == {"C": 1, "N": 59}


def test_calibration_and_maintenance_are_warnings_after_the_configured_hours(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    store(db, outlet, {0: hour_rows(0, "C"), 1: hour_rows(1, "C")})
    ev = evaluator(database_url, fault_after_hours=3)
    ev.drain(db)
    assert fault_events(db) == []
    store(db, outlet, {2: hour_rows(2, "C"), 4: hour_rows(4, "M"), 5: hour_rows(5, "M")})
    store(db, outlet, {6: hour_rows(6, "M")})
    ev.drain(db)
    assert fault_events(db) == [
        ("a21026", "flag-C", "opened", "warning"),
        ("a21026", "flag-M", "opened", "warning"),
    ]
    firsts = db.execute("SELECT subject, first_at FROM cases ORDER BY id").fetchall()
    assert firsts == [("flag-C", H0), ("flag-M", H0 + timedelta(hours=4))]


def test_a_late_valid_hour_before_the_run_does_not_close_it(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    ev = evaluator(database_url)
    store(db, outlet, {3: hour_rows(3, "D"), 4: hour_rows(4, "D")})
    ev.drain(db)
    store(db, outlet, {1: hour_rows(1)})  # hour 1 arrives late, valid
    ev.drain(db)
    assert fault_events(db) == [("a21026", "flag-D", "opened", "major")]
    assert db.execute("SELECT state FROM cases").fetchone() == ("open",)


def test_a_new_run_after_the_case_closed_opens_a_new_case(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    ev = evaluator(database_url)
    store(db, outlet, {0: hour_rows(0, "D"), 1: hour_rows(1, "D"), 2: hour_rows(2)})
    store(db, outlet, {3: hour_rows(3, "D"), 4: hour_rows(4, "D")})
    ev.drain(db)
    assert [a for _, _, a, _ in fault_events(db)] == ["opened", "closed", "opened"]
    cases = db.execute("SELECT state, first_at FROM cases ORDER BY id").fetchall()
    assert cases == [("closed", H0), ("open", H0 + timedelta(hours=3))]


def test_fault_after_hours_comes_from_the_settings() -> None:
    settings = AlertsSettings.from_environ({"SOURCEWATCH_FAULT_AFTER_HOURS": "4"})
    assert EvaluatorOptions.from_settings(settings).fault_after_hours == 4
    default = AlertsSettings.from_environ({"SOURCEWATCH_DATABASE_URL": "x"})
    assert EvaluatorOptions.from_settings(default).fault_after_hours == 2


def test_an_hours_fault_flag_is_worked_out_once_per_samples_by_flag_and_rules(
    db: psycopg.Connection, rules: PatternRules, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The evaluator asks every hour's fault flag twice (whether the hour's means are written
    hour by hour, then its fault check): it is fault_flag's answer, worked out once per samples
    by flag and rules (other rules, another answer: a share of 0.9 instead of 0.25)."""
    import dataclasses
    from zoneinfo import ZoneInfo

    from alerts import evaluation
    from alerts.evaluation import Evaluation, OutletContext
    from schemas.cases.policy import CasePolicy

    asked: list[tuple[str, ...]] = []

    def counted(flags: dict[str, int], r: PatternRules, medium: str) -> str | None:
        asked.append(tuple(flags))
        return fault_flag(flags, r, medium)

    monkeypatch.setattr(evaluation, "fault_flag", counted)
    policy = CasePolicy(timedelta(hours=3), Decimal(1), Decimal(2), 4, 12)
    outlet = OutletContext(1, "gas", ZoneInfo("Asia/Shanghai"))
    ev = Evaluation(db, outlet, policy, NOW, timedelta(hours=1), 3)
    lenient = dataclasses.replace(rules, fault_hour_share_gas=Decimal("0.9"))
    hours = [{"N": 60}, {"D": 31, "N": 29}, {"C": 10, "M": 10, "N": 40}, {"M": 60}]
    answers = {}
    for _ in range(3):
        for flags in hours:
            for r in (rules, lenient):
                answers[(tuple(flags), r is rules)] = ev._fault_flag(dict(flags), r)
    assert answers == {
        (tuple(flags), r is rules): fault_flag(flags, r, "gas")
        for flags in hours
        for r in (rules, lenient)
    }
    assert answers[(("D", "N"), True)] == "D" and answers[(("D", "N"), False)] is None
    assert len(asked) == len(hours) * 2  # once each, not at every asking
