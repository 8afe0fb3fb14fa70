"""The evaluator's case events get their ids in the order their transitions happened, though
an hour's or a day's judgements keep theirs to append them in one statement: the events that
fault and pattern cases append at once come after those kept before them. The outbox has a
row per transition in the order of the batch's transitions, so its event ids rise with it."""

from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from schemas.limits.rules import bind_outlet
from tests.alerts.test_evaluation_identity import (
    GAS,
    H0,
    ULTRA_LOW,
    gas_minutes,
    run_scenarios,
    store,
)
from tests.fixtures.registry import add_outlet


@pytest.mark.parametrize("batch_outlets", [16, 1])
def test_event_ids_follow_the_transitions(
    db: psycopg.Connection, database_url: str, batch_outlets: int
) -> None:
    run_scenarios(db, database_url, batch_outlets=batch_outlets)
    events = [e for (e,) in db.execute("SELECT event_id FROM notification_outbox ORDER BY id")]
    assert len(events) > 10
    assert events == sorted(events)
    # a day whose exceedances open cases and whose flat line opens a pattern case: the
    # pattern's event last, as the day step opens it after judging the means
    days = db.execute(
        "SELECT array_agg(c.kind ORDER BY e.id) FROM case_events e JOIN cases c "
        "ON c.id = e.case_id WHERE e.action = 'opened' GROUP BY c.outlet_id, c.first_at "
        "HAVING count(DISTINCT c.kind) > 1"
    ).fetchall()
    assert days
    assert all(kinds[0] == "exceedance" and kinds[-1] == "pattern" for (kinds,) in days)


def test_a_fault_case_opened_after_an_exceedance_in_the_same_batch_comes_after_it(
    db: psycopg.Connection, database_url: str
) -> None:
    outlet_id = add_outlet(db, GAS, kind="gas", uscc="91330000000000000X")
    bind_outlet(db, GAS, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit")
    t0 = H0 - timedelta(hours=8)
    hours = [gas_minutes(t0, "56")]  # exceeds: opens a case
    hours += [gas_minutes(t0 + timedelta(hours=h), "20", flagged=60, flag="D") for h in (1, 2)]
    store(db, outlet_id, GAS, hours, t0 + timedelta(hours=2, minutes=59))
    ev = Evaluator(
        EvaluatorOptions.from_settings(AlertsSettings(database_url=database_url)),
        clock=lambda: t0 + timedelta(hours=3),
    )
    while ev.drain(db):
        pass
    opened = db.execute(
        "SELECT c.kind FROM case_events e JOIN cases c ON c.id = e.case_id "
        "WHERE e.action = 'opened' ORDER BY e.id"
    ).fetchall()
    assert opened == [("exceedance",), ("fault",)]
