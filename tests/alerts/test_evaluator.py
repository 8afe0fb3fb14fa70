"""The evaluator against the real database: values written by ingest's writer become hourly
and daily means, cases and notifications — exactly once, whoever evaluates and how often."""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from alerts.evaluation import MinutesRead
from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from ingest.records import Accepted, MeasurementRow
from ingest.writer import write_batch
from schemas.limits.rules import bind_outlet
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "0100000000000000000000E1"
ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
DAY = date(2026, 11, 27)
H0 = datetime(2026, 11, 27, 0, tzinfo=UTC)  # 08:00 in Shanghai
O2 = Decimal(9)  # (21 − 6) / (21 − 9) = 1.25: converted = measured × 1.25


def minute_rows(hour: int, so2: str, *, flagged: int = 0, flag: str = "M") -> list[MeasurementRow]:
    """60 minute values of SO₂ and O₂ in hour ``hour``; the last ``flagged`` minutes of SO₂
    carry ``flag`` and a high value."""
    rows = []
    for m in range(60):
        ts = H0 + timedelta(hours=hour, minutes=m)
        bad = m >= 60 - flagged
        value = Decimal(400) if bad else Decimal(so2)
        rows.append(MeasurementRow("a21026", "min", ts, value=value, flag=flag if bad else "N"))
        rows.append(MeasurementRow("a19001", "min", ts, value=O2, flag="N"))
    return rows


def store(conn: psycopg.Connection, outlet_id: int, hours: dict[int, list[MeasurementRow]]) -> None:
    batch = [
        Accepted(
            transport="mqtt",
            topic=None,
            received_at=datetime.now(UTC),
            raw=f"frame-{h}-{rows[0].value}".encode(),
            outlet_id=outlet_id,
            mn=MN,
            st="31",
            cn="2051",
            qn=None,
            data_time=rows[0].ts,
            rows=tuple(rows),
        )
        for h, rows in hours.items()
    ]
    write_batch(conn, batch, [])


def evaluator(database_url: str, now: datetime) -> Evaluator:
    """An evaluator that takes batches of up to 16 outlets (as one alone on the queue)."""
    settings = AlertsSettings(database_url=database_url, evaluator_processes=1)
    return Evaluator(EvaluatorOptions.from_settings(settings), clock=lambda: now)


@pytest.fixture
def outlet(db: psycopg.Connection) -> int:
    oid = add_outlet(db, MN)
    bind_outlet(db, MN, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit 91330000-001")
    return oid


def events(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT c.pollutant, e.action, e.severity FROM case_events e JOIN cases c "
            "ON c.id = e.case_id WHERE c.kind = 'exceedance' ORDER BY e.id"
        )
    ]


SERIES = {0: "24", 1: "40", 2: "40", 3: "56", 4: "20", 5: "20", 6: "20"}
# converted:  30      50      (invalid)  70     25      25      25   against 35 mg/m³ at 6 % O₂


def test_hourly_means_judged_on_converted_concentration(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    hours = {h: minute_rows(h, v, flagged=16 if h == 2 else 0) for h, v in SERIES.items()}
    store(db, outlet, hours)
    ev = evaluator(database_url, H0 + timedelta(hours=8))
    assert ev.drain(db) == 1
    means = db.execute(
        "SELECT hour_start, mean, converted, valid, valid_count FROM hourly_means "
        "WHERE pollutant = 'a21026' ORDER BY hour_start"
    ).fetchall()
    assert [(m[2], m[3], m[4]) for m in means] == [
        (Decimal(30), True, 60),
        (Decimal(50), True, 60),
        (Decimal(50), False, 44),
        (Decimal(70), True, 60),
        (Decimal(25), True, 60),
        (Decimal(25), True, 60),
        (Decimal(25), True, 60),
    ]
    reason = db.execute(
        "SELECT reason, flags FROM hourly_means WHERE hour_start = %s AND pollutant = 'a21026'",
        (H0 + timedelta(hours=2),),
    ).fetchone()
    assert reason is not None and "44" in reason[0] and reason[1] == {"N": 44, "M": 16}
    assert events(db) == [
        ("a21026", "opened", "warning"),
        ("a21026", "escalated", "critical"),  # 70 against 35: multiple 1.0
        ("a21026", "closed", "critical"),
    ]
    case = db.execute("SELECT first_at, last_at, max_multiple, subject FROM cases").fetchone()
    assert case == (H0 + timedelta(hours=1), H0 + timedelta(hours=3), Decimal(1), "standard")
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)


def test_replays_and_revisions_do_not_duplicate(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    hours = {h: minute_rows(h, v) for h, v in SERIES.items() if h < 2}
    store(db, outlet, hours)
    ev = evaluator(database_url, H0 + timedelta(hours=8))
    ev.drain(db)
    store(db, outlet, hours)  # the same data again: nothing queued, nothing new
    assert ev.drain(db) == 0
    db.execute(
        "INSERT INTO evaluation_queue (outlet_id, hour_start) VALUES (%s, %s)",
        (outlet, H0 + timedelta(hours=1)),
    )
    ev.drain(db)  # re-evaluating the same hour changes nothing
    assert events(db) == [("a21026", "opened", "warning")]
    store(db, outlet, {1: minute_rows(1, "20")})  # hour 1 revised below the limit
    ev.drain(db)
    assert events(db)[-1] == ("a21026", "closed", "warning")


@pytest.mark.parametrize("staff_closed", [False, True])
def test_late_data_in_a_closed_cases_span_reopens_it_in_a_batch(
    db: psycopg.Connection, outlet: int, database_url: str, staff_closed: bool
) -> None:
    """A batch of several outlets reads which of their exceedance cases are closed and may span
    a period it judges, and looks up no closed case for other keys: a late exceeding hour inside
    a case the evaluator closed reopens that case (no second case), one inside a case staff
    closed opens a new one, as when each outlet is judged alone."""
    other = add_outlet(db, f"{MN[:-2]}F0", uscc="91330000000000000X")
    bind_outlet(db, f"{MN[:-2]}F0", ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")
    for oid in (outlet, other):
        store(
            db, oid, {h: minute_rows(h, v, flagged=16 if h == 2 else 0) for h, v in SERIES.items()}
        )
    ev = evaluator(database_url, H0 + timedelta(hours=8))
    assert ev.drain(db) == 2
    assert [a for _, a, _ in events(db)].count("closed") == 2  # hour 2 invalid, inside the span
    if staff_closed:
        db.execute(  # as if staff had closed it: the latest close is theirs
            "UPDATE case_events SET actor = 'staff' WHERE action = 'closed' AND case_id IN "
            "(SELECT id FROM cases WHERE outlet_id = %s)",
            (outlet,),
        )
    for oid in (outlet, other):  # hour 2 sent again, valid and exceeding; hour 6 again
        store(db, oid, {2: minute_rows(2, "40"), 6: minute_rows(6, "20")})
    assert ev.drain(db) == 2
    per_case = db.execute(
        "SELECT c.outlet_id, array_agg(e.action ORDER BY e.id) FROM cases c "
        "JOIN case_events e ON e.case_id = c.id WHERE c.kind = 'exceedance' "
        "GROUP BY c.id ORDER BY c.id"
    ).fetchall()
    reopened = ["opened", "escalated", "closed", "reopened"]
    mine = [actions[: len(reopened)] for oid, actions in per_case if oid == outlet]
    theirs = [actions[: len(reopened)] for oid, actions in per_case if oid == other]
    assert theirs == [reopened]
    assert mine == ([reopened[:3], ["opened"]] if staff_closed else [reopened])


def test_two_evaluators_at_once_judge_each_hour_once(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    for extra in range(5):  # more outlets, so both evaluators find work
        oid = add_outlet(db, f"{MN[:-2]}F{extra}", uscc="91330000000000000X")
        bind_outlet(db, f"{MN[:-2]}F{extra}", ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")
        store(db, oid, {h: minute_rows(h, v) for h, v in SERIES.items() if h != 2})
    store(db, outlet, {h: minute_rows(h, v) for h, v in SERIES.items() if h != 2})
    barrier = threading.Barrier(2)

    def run() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            evaluator(database_url, H0 + timedelta(hours=8)).drain(conn)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    per_case = db.execute(
        "SELECT case_id, array_agg(action ORDER BY id) FROM case_events GROUP BY 1"
    ).fetchall()
    assert len(per_case) == 6
    assert all(actions == ["opened", "escalated", "closed"] for _, actions in per_case)
    assert db.execute("SELECT count(*) FROM cases").fetchone() == (6,)


def test_an_hour_queued_again_while_its_batch_is_judged_is_queued_after_it(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    """The writer queues again an hour that a batch being judged has taken (a late or revised
    value of it): the writer's queueing waits for the batch's transaction, and once that
    commits the hour is queued anew, to be judged with the late value; the batch's taking
    (and deleting) of its hours does not swallow it."""
    store(db, outlet, {0: minute_rows(0, "24")})
    writer_pid: list[int] = []

    def late_value() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            writer_pid.append(conn.info.backend_pid)
            store(conn, outlet, {0: minute_rows(0, "80")})

    with psycopg.connect(database_url, autocommit=True) as conn, conn.transaction():
        assert evaluator(database_url, H0 + timedelta(hours=8)).drain(conn) == 1
        writer = threading.Thread(target=late_value)
        writer.start()
        waiting = None
        while waiting is None and writer.is_alive():  # until the writer waits for a lock
            waiting = db.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                writer_pid[:1] or [0],
            ).fetchone()
        assert waiting == (1,)
    writer.join()
    queued = db.execute(
        "SELECT hour_start FROM evaluation_queue WHERE outlet_id = %s", (outlet,)
    ).fetchall()
    assert queued == [(H0,)]


def test_an_outlet_being_evaluated_is_skipped_not_split(
    db: psycopg.Connection, outlet: int, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving behind a duplicate case, forced: evaluator A holds an outlet's lock
    but has not yet taken its queued hours when evaluator B drains. B once took one of those
    hours (queue row first, then waiting for the outlet lock), A judged the others without
    it and closed the case, and B's exceeding hour 1 then opened a second case. B must skip
    the outlet and leave all of its hours to A."""
    other_mn = f"{MN[:-2]}F0"
    other = add_outlet(db, other_mn, uscc="91330000000000000X")
    bind_outlet(db, other_mn, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")
    series = {h: minute_rows(h, v) for h, v in SERIES.items() if h != 2}
    store(db, outlet, series)
    store(db, other, series)
    import alerts.evaluator as module

    holding, resume = threading.Event(), threading.Event()
    real_try_lock = module.try_lock_outlets

    def try_lock(conn: psycopg.Connection, outlet_ids: list[int]) -> list[int]:
        got = real_try_lock(conn, outlet_ids)
        if outlet in got and threading.current_thread().name == "A":
            holding.set()  # A holds the outlet, its hours not yet taken: B runs now
            resume.wait()
        return got

    monkeypatch.setattr(module, "try_lock_outlets", try_lock)
    now = H0 + timedelta(hours=8)
    done_a: list[int] = []

    def run_a() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            a = evaluator(database_url, now)
            a.batch_outlets = 1  # A locks the outlet queued first, alone
            done_a.append(a.drain(conn))

    a = threading.Thread(target=run_a, name="A")
    a.start()
    try:
        holding.wait()
        with psycopg.connect(database_url, autocommit=True) as conn:
            # B never waits for A; were it to (the old order), it fails here instead of hanging
            conn.execute("SET lock_timeout = '30s'")
            assert evaluator(database_url, now).drain(conn) == 1  # the other outlet only
        queued = db.execute(
            "SELECT count(*) FROM evaluation_queue WHERE outlet_id = %s", (outlet,)
        ).fetchone()
        assert queued == (len(series),)  # B took none of A's outlet's hours
    finally:
        resume.set()
        a.join()
    assert done_a == [1]
    per_case = db.execute(
        "SELECT c.outlet_id, array_agg(e.action ORDER BY e.id) FROM case_events e "
        "JOIN cases c ON c.id = e.case_id GROUP BY c.id ORDER BY c.outlet_id"
    ).fetchall()
    assert per_case == [
        (outlet, ["opened", "escalated", "closed"]),
        (other, ["opened", "escalated", "closed"]),
    ]
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)


def test_outlets_of_another_evaluators_batch_are_skipped_not_split(
    db: psycopg.Connection, outlet: int, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same interleaving with several outlets per transaction: evaluator A has locked the
    two queued outlets of its batch (of two) and stops before taking their hours; B drains
    meanwhile, trying all three locks at once. B must skip both, judge the third alone, and
    leave every hour of A's outlets to A, which judges its two and then finds the third
    done."""
    others = []
    for extra in range(2):
        other_mn = f"{MN[:-2]}F{extra}"
        others.append(add_outlet(db, other_mn, uscc="91330000000000000X"))
        bind_outlet(db, other_mn, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")
    series = {h: minute_rows(h, v) for h, v in SERIES.items() if h != 2}
    for oid in (outlet, *others):  # queued in this order: A's batch starts with outlet
        store(db, oid, series)
    second = others[0]
    import alerts.evaluator as module

    holding, resume = threading.Event(), threading.Event()
    real_try_lock = module.try_lock_outlets
    locked_by_a: list[int] = []

    def try_lock(conn: psycopg.Connection, outlet_ids: list[int]) -> list[int]:
        got = real_try_lock(conn, outlet_ids)
        if threading.current_thread().name == "A":
            locked_by_a.extend(got)
            if second in got:
                holding.set()  # A holds outlet and second, their hours not yet taken
                resume.wait()
        return got

    monkeypatch.setattr(module, "try_lock_outlets", try_lock)
    now = H0 + timedelta(hours=8)
    done_a: list[int] = []

    def run_a() -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            a = evaluator(database_url, now)
            a.batch_outlets = 2  # A's batch: the two outlets queued first
            done_a.append(a.drain(conn))

    a = threading.Thread(target=run_a, name="A")
    a.start()
    try:
        assert holding.wait(60)
        assert locked_by_a == [outlet, second]
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '30s'")  # B never waits for A
            assert evaluator(database_url, now).drain(conn) == 1  # the third outlet only
        queued = db.execute(
            "SELECT outlet_id, count(*) FROM evaluation_queue GROUP BY 1 ORDER BY 1"
        ).fetchall()
        assert queued == sorted([(outlet, len(series)), (second, len(series))])
    finally:
        resume.set()
        a.join()
    assert done_a == [2]  # A's two; the third had no hours left when A got its lock
    per_case = db.execute(
        "SELECT c.outlet_id, array_agg(e.action ORDER BY e.id) FROM case_events e "
        "JOIN cases c ON c.id = e.case_id GROUP BY c.id ORDER BY c.outlet_id"
    ).fetchall()
    assert per_case == [(o, ["opened", "escalated", "closed"]) for o in sorted([outlet, *others])]
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)


def test_daily_limits_are_judged_once_the_day_is_over(
    db: psycopg.Connection, database_url: str
) -> None:
    oid = add_outlet(db, MN, kind="water")
    bind_outlet(db, MN, "GB 18918-2002", "class-1A", date(2020, 1, 1), "permit")
    rows = [
        MeasurementRow(
            "w01018",
            "rtd",
            H0 - timedelta(hours=8) + timedelta(minutes=m),
            value=Decimal(80),
            flag="N",
        )
        for m in range(24 * 60)
    ]  # a whole Shanghai day of COD at 80 mg/L against 50
    store(db, oid, {0: rows})
    during = evaluator(database_url, H0 + timedelta(hours=12))
    during.drain(db)
    assert events(db) == []  # day not over yet
    row = db.execute(
        "SELECT day, mean, valid, valid_count FROM daily_means WHERE pollutant = 'w01018'"
    ).fetchone()
    assert row == (DAY, Decimal(80), True, 24)
    after = evaluator(database_url, H0 + timedelta(hours=17, minutes=1))  # 01:01 next day + grace
    assert after.finish_days(db, H0 + timedelta(hours=17, minutes=1)) >= 1
    assert events(db) == [("w01018", "opened", "major")]  # 80 against 50: multiple 0.6
    assert after.finish_days(db, H0 + timedelta(hours=18)) == 0  # judged once


def test_wastewater_day_is_volume_weighted(db: psycopg.Connection, database_url: str) -> None:
    oid = add_outlet(db, MN, kind="water")
    bind_outlet(db, MN, "GB 18918-2002", "class-1A", date(2020, 1, 1), "permit")
    start = H0 - timedelta(hours=8)  # Shanghai midnight
    rows = []
    for m in range(24 * 60):
        ts = start + timedelta(minutes=m)
        cod, flow = (Decimal(40), Decimal(1)) if m < 12 * 60 else (Decimal(60), Decimal(3))
        rows += [
            MeasurementRow("w01018", "rtd", ts, value=cod, flag="N"),
            MeasurementRow("w00000", "rtd", ts, value=flow, flag="N"),
        ]
    store(db, oid, {0: rows})
    evaluator(database_url, H0 + timedelta(hours=12)).drain(db)
    # Arithmetic: (40 + 60) / 2 = 50, at the limit of 50 mg/L. By volume, three times as much
    # water carried 60 mg/L: (12·40·1 + 12·60·3) / (12·1 + 12·3) = 55, which exceeds.
    row = db.execute(
        "SELECT mean, valid, reason FROM daily_means WHERE pollutant = 'w01018'"
    ).fetchone()
    assert row == (Decimal(55), True, None)
    flow_day = db.execute("SELECT mean FROM daily_means WHERE pollutant = 'w00000'").fetchone()
    assert flow_day == (Decimal(2),)  # the flow itself is not weighted by itself
    after = evaluator(database_url, H0 + timedelta(hours=17, minutes=1))
    assert after.finish_days(db, H0 + timedelta(hours=17, minutes=1)) >= 1
    assert events(db) == [("w01018", "opened", "warning")]  # multiple 0.1


def test_unacknowledged_cases_escalate_once_and_acknowledged_ones_do_not(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    store(db, outlet, {1: minute_rows(1, "40")})  # converted 50 against 35: a warning case
    ev = evaluator(database_url, H0 + timedelta(hours=3))
    ev.drain(db)
    opened_at = db.execute("SELECT opened_at FROM cases").fetchone()
    assert opened_at is not None
    later = opened_at[0] + timedelta(hours=3)
    assert ev.escalate_unacknowledged(db, later) == 1
    assert ev.escalate_unacknowledged(db, later + timedelta(hours=3)) == 0
    assert events(db)[-1] == ("a21026", "unack-escalated", "major")
    queued = db.execute("SELECT count(*) FROM notification_outbox").fetchone()
    assert queued == (0,)  # nobody subscribed: nothing queued, nothing lost either


def test_acknowledged_cases_are_not_escalated(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    from schemas.cases.workflow import acknowledge

    store(db, outlet, {1: minute_rows(1, "40")})
    ev = evaluator(database_url, H0 + timedelta(hours=3))
    ev.drain(db)
    case_id = db.execute("SELECT id FROM cases").fetchone()
    assert case_id is not None
    acknowledge(db, case_id[0], "inspector.li")
    assert ev.escalate_unacknowledged(db, datetime.now(UTC) + timedelta(days=1)) == 0


def test_a_batch_is_judged_at_once_and_one_by_one_only_after_a_failure(
    db: psycopg.Connection, outlet: int, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch whose outlets all judge cleanly is judged in one savepoint, never outlet by
    outlet; one that fails anywhere is judged again outlet by outlet, from nothing: the
    attempt leaves nothing twice (case, event, period), the failure is recorded for the bad
    hour alone, and the other hours and outlets are judged."""
    others = []
    for extra in range(2):
        other_mn = f"{MN[:-2]}F{extra}"
        others.append(add_outlet(db, other_mn, uscc="91330000000000000X"))
        bind_outlet(db, other_mn, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")
    import alerts.evaluator as module
    from alerts import evaluation

    one_by_one: list[list[int]] = []
    real_one_by_one = module.Evaluator._one_by_one

    def spy(self: Evaluator, conn: psycopg.Connection, outlets: Any, *args: Any) -> Any:
        one_by_one.append(sorted(outlets))
        return real_one_by_one(self, conn, outlets, *args)

    monkeypatch.setattr(module.Evaluator, "_one_by_one", spy)
    series = {h: minute_rows(h, v) for h, v in SERIES.items() if h < 4}
    for oid in (outlet, *others):
        store(db, oid, series)
    assert evaluator(database_url, H0 + timedelta(hours=8)).drain(db) == 3
    assert one_by_one == []
    opened = [("a21026", "opened", "warning"), ("a21026", "escalated", "critical")] * 3
    assert events(db) == opened

    # Hours 4 and 5 of each outlet, compliant; hour 4 of the second outlet cannot be judged.
    real_judge_hour = evaluation.Evaluation._judge_hour
    bad = H0 + timedelta(hours=4)

    def judge_hour(self: evaluation.Evaluation, start: datetime, results: Any, *rest: Any) -> None:
        if self.outlet.id == others[0] and start == bad:
            raise RuntimeError("bad hour")
        real_judge_hour(self, start, results, *rest)

    monkeypatch.setattr(evaluation.Evaluation, "_judge_hour", judge_hour)
    for oid in (outlet, *others):
        store(db, oid, {4: minute_rows(4, "20"), 5: minute_rows(5, "20")})
    assert evaluator(database_url, H0 + timedelta(hours=8)).drain(db) == 3
    assert one_by_one == [sorted([outlet, *others])]
    errors = db.execute("SELECT outlet_id, hours, error FROM evaluation_errors").fetchall()
    assert errors == [(others[0], [bad], "RuntimeError: bad hour")]
    per_outlet = db.execute(
        "SELECT outlet_id, count(*) FROM hourly_means GROUP BY 1 ORDER BY 1"
    ).fetchall()  # SO₂ and O₂ of hours 0-5, but hour 4 of the second outlet
    assert per_outlet == sorted([(outlet, 12), (others[0], 10), (others[1], 12)])
    periods = db.execute(
        "SELECT c.outlet_id, count(*) FROM case_periods p JOIN cases c ON c.id = p.case_id "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()  # hours 1-5 of each case, but hour 4 of the second outlet's
    assert periods == sorted([(outlet, 5), (others[0], 4), (others[1], 5)])
    assert events(db) == opened  # nothing twice: each case open, 2 compliant hours of 3
    assert db.execute("SELECT count(*) FROM cases").fetchone() == (3,)
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)


def test_an_hour_that_cannot_be_judged_is_recorded_and_the_evaluator_goes_on(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    old = datetime(2015, 6, 1, tzinfo=UTC)  # before any validity rule was in force
    rows = [
        MeasurementRow("a21026", "min", old + timedelta(minutes=m), value=Decimal(1), flag="N")
        for m in range(60)
    ]
    store(db, outlet, {0: rows, 1: minute_rows(1, "40")})
    ev = evaluator(database_url, H0 + timedelta(hours=8))
    ev.drain(db)
    error = db.execute("SELECT outlet_id, hours, error FROM evaluation_errors").fetchone()
    assert error is not None and error[0] == outlet and "validity rule" in error[2]
    assert error[1] == [old]
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    assert events(db) == [("a21026", "opened", "warning")]  # the good hour was judged


def test_a_day_step_that_fails_in_its_pipeline_is_recorded_alone(
    db: psycopg.Connection, outlet: int, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two outlets in one batch; the day step of the first fails on the server (its statements
    pipelined): that failure is recorded for its hours alone, its hours' results stay, and the
    other outlet's days are judged."""
    other_mn = f"{MN[:-2]}F0"
    other = add_outlet(db, other_mn, uscc="91330000000000000X")
    bind_outlet(db, other_mn, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "p")
    for oid in (outlet, other):
        store(db, oid, {1: minute_rows(1, "40"), 2: minute_rows(2, "20")})
    import alerts.evaluation as module

    real_judge_day = module.Evaluation.judge_day

    def judge_day(self: module.Evaluation, means: module.DayMeans) -> None:
        real_judge_day(self, means)
        if self.outlet.id == outlet:
            self.conn.execute("SELECT 1 / 0")  # its result is not read: fails at the sync

    monkeypatch.setattr(module.Evaluation, "judge_day", judge_day)
    assert evaluator(database_url, H0 + timedelta(days=2)).drain(db) == 2
    errors = db.execute("SELECT outlet_id, hours, error FROM evaluation_errors").fetchall()
    assert [(o, h) for o, h, _ in errors] == [(outlet, [H0 + timedelta(hours=h) for h in (1, 2)])]
    assert "division by zero" in errors[0][2]
    days = db.execute(
        "SELECT outlet_id, count(*) FROM daily_means GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert days == [(other, 2)]  # SO₂ and O₂ of the other outlet's day; none of the first's
    hours = db.execute(
        "SELECT outlet_id, count(*) FROM hourly_means GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert hours == sorted([(outlet, 4), (other, 4)])
    assert events(db) == [("a21026", "opened", "warning")] * 2  # each outlet's hour 1
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)


# --- minutes read ahead, outlet by outlet, in the batch's pipeline ---------------------------------


def _reads_ahead(monkeypatch: pytest.MonkeyPatch, *, fail: bool = False) -> list[int]:
    """Every batch reads its minutes ahead outlet by outlet (the threshold lowered to one hour);
    returns the outlets read so, in order (each read failing when taken, if ``fail``)."""
    from alerts import evaluator

    reads: list[int] = []

    class Counted(MinutesRead):
        __slots__ = ()

        def __init__(self, conn: psycopg.Connection, hours: dict[int, list[datetime]]) -> None:
            reads.extend(hours)
            super().__init__(conn, hours)

        def result(self) -> dict[int, Any]:
            if fail:
                raise RuntimeError("the read ahead failed")
            return super().result()

    monkeypatch.setattr(evaluator, "READ_AHEAD_HOURS", 1)
    monkeypatch.setattr(evaluator, "MinutesRead", Counted)
    return reads


@pytest.mark.parametrize("read_fails", [False, True], ids=["read ahead", "read fails"])
def test_minutes_read_ahead_give_the_stored_outputs(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    read_fails: bool,
) -> None:
    """Every batch of the identity scenarios sends its outlets' reads of minutes ahead and takes
    each one's rows when it judges that outlet (the threshold lowered to one hour): the outputs
    are those stored in evaluation_identity.json; when every such read fails, the batch is
    judged again outlet by outlet, and they are the same too."""
    from tests.alerts import test_evaluation_identity as identity

    reads = _reads_ahead(monkeypatch, fail=read_fails)
    identity.run_scenarios(db, database_url)
    assert reads  # the scenarios' batches read ahead
    got = identity.outputs(db)
    expected = identity.json.loads(identity.EXPECTED.read_text(encoding="utf-8"))
    for table in expected:
        assert got[table] == expected[table], table


def test_a_drain_inside_a_transaction_of_the_callers_reads_ahead_what_it_wrote(
    db: psycopg.Connection, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reads ahead are statements of the evaluator's own connection: a drain inside the
    caller's open transaction reads ahead what that transaction wrote, and judges it."""
    reads = _reads_ahead(monkeypatch)
    outlet_id = add_outlet(db, MN)
    bind_outlet(db, MN, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit")
    with db.transaction(force_rollback=True):
        store(db, outlet_id, {h: minute_rows(h, "40") for h in range(3)})
        ev = Evaluator(EvaluatorOptions.from_settings(AlertsSettings(database_url=database_url)))
        assert ev.drain(db) == 1
        assert reads == [outlet_id]
        means = db.execute(
            "SELECT count(*) FROM hourly_means WHERE outlet_id = %s AND valid", (outlet_id,)
        ).fetchone()
        assert means == (6,)  # SO₂ and O₂ of three hours


def test_the_times_of_the_minutes_read_are_their_exact_microseconds(
    db: psycopg.Connection, outlet: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """read_minutes gives each sample's time as whole microseconds since the Unix epoch: its
    range's start plus its offset from it (read as float8 seconds), exact to the microsecond
    for every offset within an hour, in hours of 1901, 1999, 2026 and 2262, and at the end of
    a range of many days (hours 20 h apart share one); a range is cut before its offsets could
    be inexact (here, the bound lowered to a week)."""
    from alerts import evaluation
    from alerts.evaluation import read_minutes
    from alerts.rules import SampleColumns, epoch_micros

    offsets = [0, 1, 999_999, 1_000_001, 59_999_999, 123_456_789, 3_599_999_999]
    far = [
        datetime(1901, 3, 4, 5, tzinfo=UTC),
        datetime(1999, 12, 31, 23, tzinfo=UTC),
        datetime(2262, 4, 11, 0, tzinfo=UTC),
    ]
    long = [H0 + timedelta(hours=20 * k) for k in range(40)]  # one range of 33 days
    hours = far + long
    rows = [
        MeasurementRow("a21026", "rtd", h + timedelta(microseconds=us), value=Decimal(1), flag="N")
        for h in hours
        for us in (offsets if h in far or h == long[-1] else [0])
    ]
    store(db, outlet, {k: rows[k : k + 1] for k in range(len(rows))})
    for cut in (None, timedelta(days=7)):
        if cut is not None:
            monkeypatch.setattr(evaluation, "_OFFSET_EXACT", cut)
        read = read_minutes(db, {outlet: hours})[outlet]
        for h in hours:
            samples = read[h]["a21026"]["rtd"]
            assert isinstance(samples, SampleColumns)
            expected = offsets if h in far or h == long[-1] else [0]
            assert list(samples.micros) == [epoch_micros(h) + us for us in expected], h


def test_series_of_one_sample_a_minute_are_read_as_their_first_time_and_count(
    db: psycopg.Connection, outlet: int
) -> None:
    """A series with one sample on every minute from its first to its last comes without its
    times' array (its first time and count instead); any other series comes with it. Either
    way read_minutes gives every sample's exact time and its values in time order: every
    minute of three hours, one sample, two a minute apart across an hour, every minute but one
    missing, every two minutes, every minute at 30 s past it, every minute and one sample
    between."""
    from alerts.evaluation import _READ_HOURS, read_minutes
    from alerts.rules import epoch_micros

    minute = timedelta(minutes=1)
    series = {  # pollutant → offsets from H0
        "a21026": [minute * k for k in range(180)],
        "a21002": [minute * 7],
        "a34013": [minute * 59, minute * 60],
        "a21005": [minute * k for k in range(180) if k != 100],
        "a21024": [minute * 2 * k for k in range(90)],
        "a21001": [minute * k + timedelta(seconds=30) for k in range(180)],
        "a05002": sorted([minute * k for k in range(180)] + [minute * 5 + timedelta(seconds=1)]),
    }
    rows = [
        MeasurementRow(p, "min", H0 + at, value=Decimal(k), flag="N")
        for p, offsets in series.items()
        for k, at in enumerate(offsets)
    ]
    store(db, outlet, {0: rows})
    hours = [H0 + timedelta(hours=h) for h in range(3)]
    without_times = {  # (outlet, range, pollutant, kind, first time, count, times, …)
        row[2]
        for row in db.execute(_READ_HOURS, ([outlet], [H0], [H0 + timedelta(hours=3)]))
        if row[6] is None
    }
    assert without_times == {"a21026", "a21002", "a34013"}
    read = read_minutes(db, {outlet: hours})[outlet]
    for pollutant, offsets in series.items():
        got = [
            (us, value)
            for h in hours
            if pollutant in read[h]
            for us, value in zip(
                read[h][pollutant]["min"].micros, read[h][pollutant]["min"].value, strict=True
            )
        ]
        assert got == [(epoch_micros(H0 + at), Decimal(k)) for k, at in enumerate(offsets)]


def test_zs_values_are_aggregated_only_where_a_series_has_them(
    db: psycopg.Connection, outlet: int
) -> None:
    """A series without a Zs value comes with NULL Zs arrays (no aggregate called per sample),
    one with a Zs value on every sample with its full arrays, one with some: its full arrays
    again (NULL where a sample has none, a wide value as -1 and in the wide array); either way
    read_minutes gives every sample's Zs value as stored, NULL where none was sent."""
    from alerts.evaluation import _READ_HOURS, read_minutes

    minute = timedelta(minutes=1)
    zs_of = {  # pollutant → the Zs value of minute k (None: none sent)
        "a19001": lambda k: None,
        "a21026": lambda k: Decimal("30.125") + k,
        "a21002": lambda k: Decimal("1E+30") if k == 3 else Decimal("12.5"),
        "a21005": lambda k: None if k % 7 == 0 else Decimal(k) + Decimal("0.25"),
    }
    rows = [
        MeasurementRow(p, "min", H0 + minute * k, value=Decimal("1.5"), zs_value=zs(k), flag="N")
        for p, zs in zs_of.items()
        for k in range(60)
    ]
    store(db, outlet, {0: rows})
    read_row = {
        row[2]: row[10:13]
        for row in db.execute(_READ_HOURS, ([outlet], [H0], [H0 + timedelta(hours=1)]))
    }
    assert read_row["a19001"] == (None, None, None)
    assert read_row["a21026"][1] == [3] * 60 and read_row["a21026"][2] is None
    assert read_row["a21002"][1] == [1] * 3 + [-1] + [1] * 56
    assert read_row["a21002"][2] == [Decimal("1E+30")]
    assert read_row["a21005"][1] == [None if k % 7 == 0 else 2 for k in range(60)]
    series = read_minutes(db, {outlet: [H0]})[outlet][H0]
    for pollutant, zs in zs_of.items():
        assert list(series[pollutant]["min"].zs_value) == [zs(k) for k in range(60)], pollutant


def read_pages(db: psycopg.Connection, query: str, args: Any) -> int:
    """The pages (shared hits and reads) one execution of ``query`` touches."""
    row = db.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query, args).fetchone()
    assert row is not None
    top = row[0][0]["Plan"]
    return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])


def hour_samples(db: psycopg.Connection, outlet: int) -> dict[tuple[str, str], list[Any]]:
    """The samples the evaluator reads of hour 0 of ``outlet``, by series."""
    from alerts.evaluation import read_minutes

    series = read_minutes(db, {outlet: [H0]})[outlet][H0]
    return {(p, k): list(series[p][k]) for p in series for k in series[p]}


def minutes_around(db: psycopg.Connection, outlet: int, days: int) -> None:
    """``days`` days of minutes of SO₂ and O₂ before hour 0 and as many after it, and an rtd
    series of SO₂ (none in hour 0)."""
    db.execute(
        "INSERT INTO measurement_rows (outlet_id, pollutant, kind, ts, value_mantissa, "
        "value_scale, flag) SELECT %s, p, k, %s + make_interval(mins => m), 1, 0, 'N' "
        "FROM unnest(ARRAY['a21026', 'a19001', 'a21026'], ARRAY['min', 'min', 'rtd']) AS s(p, k), "
        "generate_series(-%s * 1440, %s * 1440) AS m WHERE m < 0 OR m >= 60",
        (outlet, H0, days, days),
    )


def test_the_minutes_read_of_an_hour_does_not_walk_the_outlets_history(
    db: psycopg.Connection, outlet: int
) -> None:
    """On plain PostgreSQL the minutes' read descends measurement_rows' primary key to each of
    the outlet's series' range (outlet_series, migration 0029): one hour read touches about as
    many pages of the table and its key whatever the outlet sent before and after it, and reads
    the same samples.
    (Until the seventeenth round the key was bounded by the outlet alone, and the read walked all
    of its entries: here some 25 times the pages, with 20 days of minutes around the hour.)"""
    from alerts.evaluation import _READ_HOURS

    if db.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        pytest.skip(
            "plain PostgreSQL: TimescaleDB's is tests/alerts/test_outlet_series_timescaledb.py"
        )
    store(db, outlet, {0: minute_rows(0, "30")})
    hour = ([outlet], [H0], [H0 + timedelta(hours=1)])
    alone, before = read_pages(db, _READ_HOURS, hour), hour_samples(db, outlet)
    assert set(before) == {("a21026", "min"), ("a19001", "min")}
    minutes_around(db, outlet, 10)  # 20 days of minutes of both series, and an rtd series
    db.execute("ANALYZE measurement_rows")
    assert hour_samples(db, outlet) == before
    assert read_pages(db, _READ_HOURS, hour) <= 2 * alone + 10, alone


def test_the_hourly_means_read_of_a_day_does_not_walk_the_outlets_history(
    db: psycopg.Connection, outlet: int
) -> None:
    """The day step's read of its hourly means descends hourly_means' primary key to each of
    the outlet's pollutants' day (_DAYS_HOURS): it touches about as many pages whatever hourly
    means the outlet has of other days, and reads the same rows. (Until the seventeenth round it
    walked all of the outlet's hourly means.)"""
    from alerts.evaluation import _DAYS_HOURS

    insert = (
        "INSERT INTO hourly_means (outlet_id, pollutant, hour_start, source, mean, valid_count, "
        "expected_count, valid) SELECT %s, p, %s + make_interval(hours => h), 'min', h, 60, 60, "
        "true FROM unnest(ARRAY['a21026', 'a19001', 'a34013']) AS p, generate_series(%s::int, %s::int) AS h"
    )
    db.execute(insert, (outlet, H0, 0, 23))
    day = ([outlet], [H0], [H0 + timedelta(days=1)])

    def read() -> tuple[int, list[Any]]:
        row = db.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _DAYS_HOURS, day).fetchone()
        assert row is not None
        top = row[0][0]["Plan"]
        return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"]), db.execute(
            _DAYS_HOURS, day
        ).fetchall()

    alone, rows = read()
    assert len(rows) == 72
    db.execute(insert, (outlet, H0, -24 * 200, -1))  # 200 days before it and 20 after it
    db.execute(insert, (outlet, H0, 24, 24 * 21 - 1))
    db.execute("ANALYZE hourly_means")
    pages, again = read()
    assert again == rows
    assert pages <= 2 * alone + 10, alone


def test_the_case_reads_of_an_hour_do_not_walk_the_outlets_case_history(
    db: psycopg.Connection, outlet: int
) -> None:
    """The batch's reads of an outlet's cases (read_no_periods: its hours without a case
    period; read_open_cases: its open cases and the closed ones that may span the hours judged)
    find them by data time (migration 0030): each touches about as many pages whatever closed
    cases the outlet had before, and reads the same. (Until the seventeenth round both read
    every case the outlet ever had: here some 10–30 times the pages, with 3,000 closed cases.)"""
    from alerts.evaluation import (
        _NO_PERIODS_READ,
        _OPEN_CASES_READ,
        read_no_periods,
        read_open_cases,
    )

    add_cases = (  # from the h-th to the (h + 2)-th hour of H0, three periods each
        "WITH c AS (INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, "
        "state, severity, first_at, last_at, closed_at) SELECT 'exceedance', %(o)s, %(p)s, "
        "'hour', 1, 'standard', %(state)s, 'warning', %(t)s + make_interval(hours => h), "
        "%(t)s + make_interval(hours => h + 2), CASE WHEN %(state)s = 'closed' THEN now() END "
        "FROM generate_series(%(lo)s::int, %(hi)s::int, 3) AS h RETURNING id, first_at) "
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, compliant) "
        "SELECT id, first_at + make_interval(hours => k), 2, 1, 1, true FROM c, "
        "generate_series(0, 2) AS k"
    )
    db.execute(
        add_cases, {"o": outlet, "p": "a21026", "state": "open", "t": H0, "lo": -2, "hi": -2}
    )
    db.execute(
        add_cases, {"o": outlet, "p": "a19001", "state": "closed", "t": H0, "lo": -1, "hi": -1}
    )
    pairs = ([outlet, outlet], [H0, H0 + timedelta(hours=2)])
    since = ([outlet], [H0])

    def read() -> tuple[int, int, Any]:
        touched = []
        for statement, args in ((_NO_PERIODS_READ, pairs), (_OPEN_CASES_READ, since)):
            row = db.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, args)
            top = row.fetchone()[0][0]["Plan"]  # type: ignore[index]
            touched.append(int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"]))
        hours = {outlet: [H0, H0 + timedelta(hours=2)]}
        cases = read_open_cases(db, {outlet: H0})[outlet]
        read = (cases.exceedances, cases.faults, cases.closed_since)
        return touched[0], touched[1], (read_no_periods(db, hours), read)

    no_periods_alone, open_alone, before = read()
    assert before[0] == {outlet: {H0 + timedelta(hours=2)}}
    assert before[1] == (
        {("a21026", "hour", 1, "standard")},
        set(),
        {("a19001", "hour", 1, "standard")},
    )
    # 3,000 closed cases of the outlet before the hours judged, 9,000 periods
    db.execute(
        add_cases, {"o": outlet, "p": "a21026", "state": "closed", "t": H0, "lo": -9003, "hi": -4}
    )
    db.execute("ANALYZE cases")
    db.execute("ANALYZE case_periods")
    no_periods, open_cases, after = read()
    assert after == before
    assert no_periods <= 2 * no_periods_alone + 10, (no_periods_alone, no_periods)
    assert open_cases <= 2 * open_alone + 10, (open_alone, open_cases)


def test_the_no_periods_read_of_a_batch_reads_each_hours_periods_once(
    db: psycopg.Connection, outlet: int
) -> None:
    """read_no_periods reads the periods at the batch's hours once for the batch, not once per
    (outlet, hour) pair: 30 outlets' pairs of one hour, at which 29 of them have an open case
    with a period, touch about as many pages as one of them alone (planned generic, as a batch
    plans it); each outlet is told about its own cases alone. (Until the eighteenth round each
    pair probed the periods at its hour until one was of its outlet's cases: here 6 pages for
    the first outlet alone, 1,482 for the 30.)"""
    from alerts.evaluation import _NO_PERIODS_READ, read_no_periods

    outlets = [outlet] + [add_outlet(db, f"01000000000000000000{k:04d}") for k in range(29)]
    db.execute(  # an open case of each outlet but the last, with periods at H0 and H0 + 1 h
        "WITH c AS (INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, "
        "severity, first_at, last_at) SELECT 'exceedance', o, 'a21026', 'hour', 1, 'standard', "
        "'warning', %s, %s FROM unnest(%s::int[]) AS o RETURNING id, first_at) "
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, compliant) "
        "SELECT id, first_at + make_interval(hours => k), 2, 1, 1, false FROM c, "
        "generate_series(0, 1) AS k",
        (H0, H0 + timedelta(hours=1), outlets[:-1]),
    )
    db.execute(  # and a history: 3,000 closed cases of the first outlet before, 9,000 periods
        "WITH c AS (INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, subject, "
        "state, severity, first_at, last_at, closed_at) SELECT 'exceedance', %s, 'a19001', "
        "'hour', 1, 'standard', 'closed', 'warning', %s - make_interval(hours => h), "
        "%s - make_interval(hours => h - 2), now() FROM generate_series(9003, 6, -3) AS h "
        "RETURNING id, first_at) INSERT INTO case_periods (case_id, period_start, value, "
        "limit_value, multiple, compliant) SELECT id, first_at + make_interval(hours => k), 2, 1, "
        "1, true FROM c, generate_series(0, 2) AS k",
        (outlet, H0, H0),
    )
    db.execute("ANALYZE cases")
    db.execute("ANALYZE case_periods")

    def pages(pairs: list[int]) -> int:
        """The read's pages, planned generic as the evaluator's batch plans it."""
        cur = psycopg.ClientCursor(db)
        with db.transaction():
            cur.execute("SET LOCAL plan_cache_mode = force_generic_plan")
            cur.execute(
                "PREPARE no_periods AS "
                + _NO_PERIODS_READ.replace("%b", "$1", 1).replace("%b", "$2", 1)
            )
            cur.execute(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE no_periods(%s::int[], %s::timestamptz[])",
                (pairs, [H0] * len(pairs)),
            )
            top = cur.fetchone()[0][0]["Plan"]  # type: ignore[index]
            cur.execute("DEALLOCATE no_periods")
        return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])

    hours = {o: [H0, H0 + timedelta(hours=2)] for o in outlets}
    expected = {o: {H0 + timedelta(hours=2)} for o in outlets[:-1]}
    assert read_no_periods(db, hours) == expected | {outlets[-1]: set(hours[outlets[-1]])}
    alone, together = pages([outlet]), pages(outlets)
    assert together <= 2 * alone + 10, (alone, together)


def test_the_values_read_are_the_decimals_stored(db: psycopg.Connection, outlet: int) -> None:
    """read_minutes gives every value and Zs value as the Decimal the measurements view's
    numeric gives (same sign, digits and exponent), whether the database keeps it as a
    mantissa and a scale or wide, and None as None; also in a pipeline, as a batch reads. (The
    read takes each one's mantissa, scale and wide value in binary, see _READ_HOURS.)"""
    from alerts.evaluation import read_minutes

    texts = [
        "10.00", "10", "0", "0.000", "-0.5", "-12.340", "1E+3", "0.000000000000000001",
        "-999999999999999999", "99999999.9999999999", "NaN", "Infinity", "-Infinity",
        "1000000000000000000", "0.0000000000000000001", "20.61855670103092783505154639",
    ]  # fmt: skip
    values = [Decimal(t) for t in texts] + [None, Decimal("7.25")]
    zs_values = [None, *reversed(values[:-1])]
    rows = [
        MeasurementRow("a21026", "min", H0 + timedelta(minutes=k), value=v, zs_value=z, flag="N")
        for k, (v, z) in enumerate(zip(values, zs_values, strict=True))
    ]
    store(db, outlet, {0: rows})
    stored = db.execute(
        "SELECT value::text, zs_value::text FROM measurements WHERE outlet_id = %s ORDER BY ts",
        (outlet,),
    ).fetchall()

    def exact(d: Decimal | None) -> object:
        return None if d is None else (type(d), d.as_tuple())

    expected = [tuple(exact(None if t is None else Decimal(t)) for t in row) for row in stored]
    for pipelined in (False, True):
        with db.pipeline() if pipelined else contextlib.nullcontext():
            samples = read_minutes(db, {outlet: [H0]})[outlet][H0]["a21026"]["min"]
        got = [(exact(v), exact(z)) for v, z in zip(samples.value, samples.zs_value, strict=True)]
        assert got == expected


def test_a_batch_runs_generic_plans_for_its_transaction_only(
    db: psycopg.Connection, database_url: str, outlet: int
) -> None:
    """A batch's statements run their generic plans (alerts/evaluator.py, _GENERIC_PLANS) for
    the rest of its transaction only: a drain inside the caller's transaction leaves the
    setting until that transaction ends; the session keeps its own."""
    setting = "SELECT current_setting('plan_cache_mode')"
    store(db, outlet, {h: minute_rows(h, "40") for h in range(2)})
    with db.transaction(force_rollback=True):
        assert evaluator(database_url, H0 + timedelta(days=2)).drain(db) == 1
        assert db.execute(setting).fetchone() == ("force_generic_plan",)
    assert db.execute(setting).fetchone() == ("auto",)
    store(db, outlet, {h: minute_rows(h, "40") for h in range(2, 4)})
    assert evaluator(database_url, H0 + timedelta(days=2)).drain(db) == 1
    assert db.execute(setting).fetchone() == ("auto",)
    # SO₂ and O₂ of the four hours: the first drain was undone with the caller's transaction
    assert db.execute("SELECT count(*) FROM hourly_means").fetchone() == (8,)
