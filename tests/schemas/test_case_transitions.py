"""The case engine against the real database: open, escalate, close, replays, late data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from schemas.cases.policy import CasePolicy, severity_for
from schemas.cases.transitions import Transition, judge_period, open_case
from schemas.limits import judgement
from tests.fixtures.registry import add_outlet

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
