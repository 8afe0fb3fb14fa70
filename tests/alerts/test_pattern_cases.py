"""The pattern screening's read of an outlet's pattern cases: one statement for several
outlet-days, the same answers as a day read alone, the open cases' rows locked (so that its
openings, extensions and closings need not wait for their results), and a batch screening two
days of one outlet."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from alerts.patterns import PatternCases, PatternCasesRead
from schemas.cases.transitions import close_case, open_case
from schemas.limits.rules import bind_outlet
from tests.alerts.test_patterns import D0, MN, ULTRA_LOW, gas, judge, store
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration


@pytest.fixture
def outlet_id(db: psycopg.Connection) -> int:
    oid = add_outlet(db, MN)
    bind_outlet(db, MN, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit 91330000-001")
    return oid


def _case(db: psycopg.Connection, outlet_id: int, pollutant: str, day: int) -> int:
    at = D0 + timedelta(days=day)
    case_id, _ = open_case(
        db,
        kind="pattern",
        outlet_id=outlet_id,
        pollutant=pollutant,
        subject="flat-line",
        severity="info",
        first_at=at,
        last_at=at,
        details={},
    )
    return case_id


def test_several_outlet_days_read_as_each_alone(db: psycopg.Connection, outlet_id: int) -> None:
    """A case closed and a newer one open on the same day: the open one covers it; an open
    case that ended before a day is listed for it, by id; a day given twice counts once."""
    closed = _case(db, outlet_id, "a21026", 0)
    close_case(db, closed, "by hand")
    reopened = _case(db, outlet_id, "a21026", 0)
    older = _case(db, outlet_id, "a19001", 1)
    days = [(outlet_id, D0), (outlet_id, D0 + timedelta(days=2)), (outlet_id, D0)]
    together = PatternCasesRead(db, days)
    for day in days:
        assert together.of(*day) == PatternCasesRead(db, [day]).of(*day)
    assert together.of(outlet_id, D0) == PatternCases(
        covering={("flat-line", "a21026"): (True, reopened)},
        open_now={("flat-line", "a21026"), ("flat-line", "a19001")},
        ended=[],
    )
    assert together.of(outlet_id, D0 + timedelta(days=2)) == PatternCases(
        covering={},
        open_now={("flat-line", "a21026"), ("flat-line", "a19001")},
        ended=[(reopened, "flat-line", "a21026", "info"), (older, "flat-line", "a19001", "info")],
    )


def test_the_read_locks_the_cases_it_read(
    db: psycopg.Connection, outlet_id: int, database_url: str
) -> None:
    """Staff cannot close an open pattern case the screening read until its transaction ends
    (so its extension or closing finds the case as read)."""
    case_id = _case(db, outlet_id, "a21026", 0)
    with psycopg.connect(database_url) as evaluator, evaluator.transaction():
        read = PatternCasesRead(evaluator, [(outlet_id, D0 + timedelta(days=1))])
        assert read.of(outlet_id, D0 + timedelta(days=1)).open_now == {("flat-line", "a21026")}
        with pytest.raises(psycopg.errors.LockNotAvailable):
            db.execute("SELECT FROM cases WHERE id = %s FOR UPDATE NOWAIT", (case_id,))
    db.execute("SELECT FROM cases WHERE id = %s FOR UPDATE NOWAIT", (case_id,))


def test_two_days_of_an_outlet_screened_in_one_batch(
    db: psycopg.Connection, outlet_id: int, database_url: str
) -> None:
    """Both days judged by one drain: the first day's screening opens the cases (read ahead
    for the batch), the second's, read when screened, extends them; one event each."""
    flat = [gas(24.0, 11.0) for _ in range(1440)]
    store(db, outlet_id, 0, flat)
    store(db, outlet_id, 1, flat)
    assert judge(db, database_url, 1).transitions == 2
    cases = db.execute(
        "SELECT pollutant, state, first_at, last_at FROM cases WHERE kind = 'pattern' "
        "ORDER BY pollutant"
    ).fetchall()
    end = D0 + timedelta(days=1)
    assert cases == [("a19001", "open", D0, end), ("a21026", "open", D0, end)]
    events = db.execute(
        "SELECT e.action FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE c.kind = 'pattern'"
    ).fetchall()
    assert events == [("opened",), ("opened",)]


def test_the_read_does_not_walk_the_outlets_case_history(
    db: psycopg.Connection, outlet_id: int
) -> None:
    """The read finds the open cases by their key and the closed ones by their last_at (migration
    0031): it touches about as many pages whatever cases the outlet had before the day, and
    reads the same. (Until the eighteenth round it read every case of the outlet: here some
    20 times the pages, with 3,000 exceedance and 300 pattern cases closed before the day.)"""
    from alerts.patterns import _PATTERN_CASES

    open_case_id = _case(db, outlet_id, "a21026", 0)
    covering = _case(db, outlet_id, "a19001", 1)
    db.execute("UPDATE cases SET last_at = %s WHERE id = %s", (D0 + timedelta(days=3), covering))
    close_case(db, covering, "by hand")
    days = [(outlet_id, D0 + timedelta(days=2)), (outlet_id, D0 + timedelta(days=4))]
    args = ([o for o, _ in days], [start for _, start in days])

    def read() -> tuple[int, list[PatternCases]]:
        row = db.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _PATTERN_CASES, args)
        top = row.fetchone()[0][0]["Plan"]  # type: ignore[index]
        pages = int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])
        read = PatternCasesRead(db, days)
        return pages, [read.of(*day) for day in days]

    alone, before = read()
    ended = [(open_case_id, "flat-line", "a21026", "info")]
    assert before == [
        PatternCases(
            {("flat-line", "a19001"): (False, covering)}, {("flat-line", "a21026")}, ended
        ),
        PatternCases({}, {("flat-line", "a21026")}, ended),
    ]
    db.execute(  # the outlet's history: closed exceedance and pattern cases before the days
        "INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, state, "
        "severity, first_at, last_at, closed_at) SELECT k, %s, 'a21026', p, l, s, 'closed', "
        "'info', t, t + interval '2 hours', now() FROM (VALUES ('exceedance', 'hour', 1, "
        "'standard', 3000), ('pattern', '', 0, 'flat-line', 300)) AS v(k, p, l, s, n), "
        "generate_series(1, v.n) AS g, LATERAL (SELECT %s - make_interval(hours => 3 * g)) AS a(t)",
        (outlet_id, D0),
    )
    db.execute("ANALYZE cases")
    pages, after = read()
    assert after == before
    assert pages <= 2 * alone + 10, (alone, pages)
