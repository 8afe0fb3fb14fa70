"""The case engine against the real database: open, escalate, close, replays, late data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from schemas.cases.policy import CasePolicy, severity_for
from schemas.cases.transitions import (
    PendingPeriods,
    Transition,
    judge_period,
    open_case,
    open_exceedances,
    open_read_case,
    try_lock_outlet,
    try_lock_outlets,
)
from schemas.limits import judgement
from tests.fixtures.registry import add_outlet
from tests.fixtures.statements import CountingCursor

pytestmark = pytest.mark.integration

H0 = datetime(2026, 11, 28, 0, tzinfo=UTC)
LIMIT = Decimal(35)
POLICY = CasePolicy(
    close_after=3,
    major_multiple=Decimal("0.5"),
    critical_multiple=Decimal(1),
    major_periods=4,
    critical_periods=12,
)


def judge(conn: psycopg.Connection, oid: int, hour: int, value: str) -> list[Transition]:
    with conn.transaction():
        return judge_period(
            conn,
            outlet_id=oid,
            pollutant="a21026",
            period="hour",
            limit_id=7,
            limit_source="standard",
            limit_value=LIMIT,
            period_start=H0 + timedelta(hours=hour),
            verdict=judgement.judge(Decimal(value), judgement.LimitBounds(LIMIT)),
            policy=POLICY,
            details={"v": value},
        )


def actions(ts: list[Transition]) -> list[str]:
    return [t.action for t in ts]


def case(conn: psycopg.Connection) -> dict[str, Any]:
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    rows = cur.execute("SELECT * FROM cases").fetchall()
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize(
    ("periods", "multiple", "expected"),
    [
        (1, "0.1", "warning"),
        (4, "0.1", "major"),
        (1, "0.5", "major"),
        (12, "0", "critical"),
        (1, "1.0", "critical"),
        (3, "0.49", "warning"),
    ],
)
def test_severity_by_duration_and_multiple(periods: int, multiple: str, expected: str) -> None:
    assert severity_for(periods, Decimal(multiple), POLICY) == expected


def test_open_escalate_and_close_after_a_compliant_run(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    assert actions(judge(db, oid, 0, "30")) == []  # compliant, no case
    assert actions(judge(db, oid, 1, "40")) == ["opened"]
    assert actions(judge(db, oid, 2, "41")) == []
    assert actions(judge(db, oid, 3, "60")) == ["escalated"]  # multiple 0.71 → major
    assert case(db)["severity"] == "major"
    assert actions(judge(db, oid, 4, "20")) == []
    assert actions(judge(db, oid, 5, "20")) == []
    assert actions(judge(db, oid, 6, "20")) == ["closed"]
    c = case(db)
    assert (c["state"], c["first_at"], c["last_at"]) == (
        "closed",
        H0 + timedelta(hours=1),
        H0 + timedelta(hours=3),
    )
    assert c["max_multiple"] == (Decimal(60) - LIMIT) / LIMIT
    events = db.execute("SELECT action FROM case_events ORDER BY id").fetchall()
    assert [e[0] for e in events] == ["opened", "escalated", "closed"]


def test_an_exceedance_after_a_compliant_mean_resets_the_run(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    for hour, value in enumerate(["40", "20", "20", "50", "20", "20"]):
        judge(db, oid, hour, value)
    c = case(db)
    assert (c["state"], c["compliant_run"]) == ("open", 2)


def test_replaying_the_same_means_changes_nothing(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    series = ["40", "60", "20"]
    for hour, value in enumerate(series):
        judge(db, oid, hour, value)
    before = db.execute("SELECT count(*) FROM case_events").fetchone()
    for hour, value in enumerate(series):
        assert judge(db, oid, hour, value) == []
    assert db.execute("SELECT count(*) FROM case_events").fetchone() == before
    assert db.execute("SELECT count(*) FROM case_periods").fetchone() == (3,)


def test_a_revised_mean_that_removes_the_only_exceedance_closes_the_case(
    db: psycopg.Connection,
) -> None:
    oid = add_outlet(db, "MN1")
    judge(db, oid, 0, "40")
    assert actions(judge(db, oid, 0, "30")) == ["closed"]
    assert "revised" in case(db)["close_reason"]


def test_late_data_that_breaks_the_closing_run_reopens_the_case(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    for hour, value in enumerate(["40", "30", "40", "20", "20", "20"]):
        judge(db, oid, hour, value)
    assert case(db)["state"] == "closed"
    assert actions(judge(db, oid, 1, "45")) == []  # inside the span, the run still holds
    assert case(db)["state"] == "closed"
    # a closing mean revised upwards: reopened, and 4 exceeding means make it major
    assert actions(judge(db, oid, 4, "45")) == ["reopened", "escalated"]
    c = case(db)
    assert (c["state"], c["last_at"], c["compliant_run"]) == ("open", H0 + timedelta(hours=4), 1)


def test_late_data_undoing_a_closed_cases_run_leaves_it_closed_while_a_later_one_is_open(
    db: psycopg.Connection,
) -> None:
    """A key has at most one open case: a revision that would reopen a closed case while a later
    case of the same key is open leaves the closed one closed (its aggregates updated), and the
    open one carries on; nothing fails."""
    oid = add_outlet(db, "MN1")
    for hour, value in enumerate(["40", "20", "20", "20", "20", "40"]):
        judge(db, oid, hour, value)
    cur = db.cursor(row_factory=psycopg.rows.dict_row)
    first, later = cur.execute("SELECT * FROM cases ORDER BY id").fetchall()
    assert (first["state"], later["state"]) == ("closed", "open")
    assert actions(judge(db, oid, 2, "45")) == []  # the first case's closing run broken
    first, later = cur.execute("SELECT * FROM cases ORDER BY id").fetchall()
    assert (first["state"], first["last_at"], first["compliant_run"]) == (
        "closed",
        H0 + timedelta(hours=2),
        1,
    )
    assert (later["state"], later["first_at"]) == ("open", H0 + timedelta(hours=5))
    # with no later case open, the same revision reopens it (as before)
    assert actions(judge(db, oid, 5, "20")) == ["closed"]
    assert actions(judge(db, oid, 3, "45")) == ["reopened"]


def test_other_kinds_open_once_per_key(db: psycopg.Connection) -> None:
    oid = add_outlet(db, "MN1")
    first, events = open_case(
        db,
        kind="outage",
        outlet_id=oid,
        subject="silent",
        severity="major",
        first_at=H0,
        last_at=H0,
        details={},
    )
    again, more = open_case(
        db,
        kind="outage",
        outlet_id=oid,
        subject="silent",
        severity="major",
        first_at=H0,
        last_at=H0 + timedelta(hours=1),
        details={},
    )
    assert first == again
    assert actions(events) == ["opened"] and more == []


def test_a_case_of_another_kind_opens_with_its_event_in_one_statement(
    db: psycopg.Connection,
) -> None:
    """The case and its "opened" event (by the evaluator, its detail the case's details, its
    severity the case's) in one statement; the transition names that event."""
    oid = add_outlet(db, "MN1")
    details = {"pattern": "flat-line", "spread": Decimal("0.0"), "day": "2026-11-28"}
    db.cursor_factory = CountingCursor
    CountingCursor.sent = []
    case_id, events = open_case(
        db,
        kind="pattern",
        outlet_id=oid,
        pollutant="a21026",
        subject="flat-line",
        severity="info",
        first_at=H0,
        last_at=H0,
        details=details,
    )
    assert len(CountingCursor.sent) == 1
    [opened] = events
    row = db.execute(
        "SELECT e.id, e.case_id, e.actor, e.action, e.severity, e.detail, c.details "
        "FROM case_events e JOIN cases c ON c.id = e.case_id WHERE e.case_id = %s",
        (case_id,),
    ).fetchone()
    stored = {"pattern": "flat-line", "spread": "0.0", "day": "2026-11-28"}
    assert row == (opened.event_id, case_id, "evaluator", "opened", "info", stored, stored)
    assert (opened.case_id, opened.action, opened.severity) == (case_id, "opened", "info")


def test_open_read_case_extends_the_case_read_open_or_opens_one(db: psycopg.Connection) -> None:
    """open_read_case gives what open_case gives, told whether a case of the key is open: the
    open case extended, or (none open: never opened, or closed before it was read) a new one
    opened, its ids read when asked for."""
    oid = add_outlet(db, "MN1")

    def pattern(hour: int, is_open: bool) -> list[Transition]:
        return open_read_case(
            db,
            kind="pattern",
            outlet_id=oid,
            pollutant="a19001",
            subject="flat-line",
            severity="info",
            first_at=H0 + timedelta(hours=hour),
            last_at=H0 + timedelta(hours=hour),
            details={"hour": hour},
            is_open=is_open,
        )

    events = pattern(0, is_open=False)  # none open: opened
    assert actions(events) == ["opened"]
    first = events[0].case_id
    assert pattern(2, is_open=True) == []
    row = db.execute("SELECT last_at, details FROM cases WHERE id = %s", (first,)).fetchone()
    assert row == (H0 + timedelta(hours=2), {"hour": 2})
    db.execute("UPDATE cases SET state = 'closed' WHERE id = %s", (first,))
    events = pattern(3, is_open=False)  # closed before it was read: a new case
    assert actions(events) == ["opened"] and events[0].case_id != first
    assert db.execute(
        "SELECT count(*) FROM cases WHERE outlet_id = %s AND state = 'open'", (oid,)
    ).fetchone() == (1,)


def test_periods_kept_pending_are_written_as_judged_one_by_one(db: psycopg.Connection) -> None:
    """The same verdicts judged with the evaluator's caches and PendingPeriods (flushed at the
    end, as a step ends) leave the same case, periods and events as judged one at a time."""
    values = ["30", "40", "41", "38", "20", "39", "60", "20", "21", "22", "50", "36", "37"]
    one, batched = add_outlet(db, "MN1"), add_outlet(db, "MN2")
    for hour, value in enumerate(values):
        judge(db, one, hour, value)
    pending, open_cases, actions_seen = PendingPeriods(), {}, []
    with db.transaction():
        for hour, value in enumerate(values):
            seen = actions(
                judge_period(
                    db,
                    outlet_id=batched,
                    pollutant="a21026",
                    period="hour",
                    limit_id=7,
                    limit_source="standard",
                    limit_value=LIMIT,
                    period_start=H0 + timedelta(hours=hour),
                    verdict=judgement.judge(Decimal(value), judgement.LimitBounds(LIMIT)),
                    policy=POLICY,
                    details={"v": value},
                    no_case_has_period=True,
                    open_cases=open_cases,
                    pending=pending,
                )
            )
            if "closed" in seen:  # a closing period is written, after those kept before it
                assert not pending.periods and not pending.cases
            actions_seen += seen
        kept = len(pending.periods)
        pending.flush(db)
    assert kept > 0 and not pending.periods and not pending.cases

    def state(oid: int) -> tuple[Any, ...]:
        cases = db.execute(
            "SELECT state, severity, first_at, last_at, compliant_run, max_multiple, close_reason "
            "FROM cases WHERE outlet_id = %s ORDER BY id",
            (oid,),
        ).fetchall()
        periods = db.execute(
            "SELECT p.period_start, p.value, p.limit_value, p.multiple, p.compliant, p.details "
            "FROM case_periods p JOIN cases c ON c.id = p.case_id WHERE c.outlet_id = %s "
            "ORDER BY c.id, p.period_start",
            (oid,),
        ).fetchall()
        events = db.execute(
            "SELECT e.action, e.severity FROM case_events e JOIN cases c ON c.id = e.case_id "
            "WHERE c.outlet_id = %s ORDER BY e.id",
            (oid,),
        ).fetchall()
        return cases, periods, events

    assert state(batched) == state(one)
    assert [a for a, _ in state(one)[2]] == actions_seen
    assert len(state(one)[0]) == 2  # closed after a compliant run, then a second case


def test_try_lock_outlets_gets_the_free_ones_in_order_without_waiting(database_url: str) -> None:
    """One statement for many outlets does what :func:`try_lock_outlet` does for each: it
    takes the free locks (held until the transaction ends), skips those another transaction
    holds without waiting for them, and keeps the order it was given."""
    with (
        psycopg.connect(database_url) as holder,
        psycopg.connect(database_url) as other,
    ):
        other.execute("SET lock_timeout = '5s'")  # were it to wait, it fails instead of hanging
        assert try_lock_outlet(holder, 900002) and try_lock_outlet(holder, 900005)
        assert try_lock_outlets(other, [900003, 900002, 900001, 900005, 900004]) == [
            900003,
            900001,
            900004,
        ]
        assert try_lock_outlets(holder, [900001, 900002]) == [900002]  # its own: held again
        other.rollback()  # its locks end with its transaction
        assert try_lock_outlets(holder, [900001, 900003]) == [900001, 900003]


def test_the_open_cases_aggregates_read_the_periods_key_alone(db: psycopg.Connection) -> None:
    """open_exceedances aggregates each open case's periods from case_periods' primary key,
    which carries compliant and multiple (migration 0031): an index-only scan, no period's row
    read, however many periods; and the aggregates are those of the periods."""
    from schemas.cases.transitions import _OPEN_EXCEEDANCES

    oid = add_outlet(db, "0100000000000000000000C9")
    db.execute(  # 30 closed cases of the outlet before, to be told apart by the key
        "INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, state, "
        "severity, first_at, last_at, closed_at) SELECT 'exceedance', %s, 'a21026', 'hour', 7, "
        "'standard', 'closed', 'warning', %s, %s, now() FROM generate_series(1, 30)",
        (oid, H0 - timedelta(days=30), H0 - timedelta(days=5)),
    )
    judge(db, oid, 0, "50")
    db.execute(  # 600 periods of each case, every third compliant, each with its details
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, "
        "compliant, details) SELECT c.id, c.first_at + make_interval(hours => h), 50, 35, "
        "CASE WHEN h % 3 = 0 THEN 0 ELSE h / 1000.0 END, h % 3 = 0, "
        "jsonb_build_object('v', repeat('x', 200)) FROM cases c, generate_series(1, 600) AS h"
    )
    db.execute("VACUUM ANALYZE case_periods")
    row = db.execute(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _OPEN_EXCEEDANCES, ([oid],)
    ).fetchone()
    assert row is not None

    def scans(plan: dict[str, Any]) -> list[dict[str, Any]]:
        found = [plan] if plan.get("Relation Name") == "case_periods" else []
        return found + [s for p in plan.get("Plans", []) for s in scans(p)]

    periods = scans(row[0][0]["Plan"])
    assert periods, row
    for scan in periods:
        assert scan["Node Type"] == "Index Only Scan", scan
        assert scan["Heap Fetches"] == 0, scan
    stats = open_exceedances(db, [oid])[oid]
    (case_row,) = stats.values()
    assert case_row["_periods"] == (
        401, Decimal("0.599"), H0, H0 + timedelta(hours=599), 1, H0 + timedelta(hours=600)
    )  # fmt: skip
