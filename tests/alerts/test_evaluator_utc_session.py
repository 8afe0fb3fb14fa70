"""The evaluator names its session's zone "UTC" when it is UTC under its tz database name
("Etc/UTC"), so that psycopg gives the times it reads with datetime.UTC, as the evaluator's own
(see alerts/evaluator.py, _UTC_NAMED_OTHERWISE); a session in another zone is left as it is,
and the judgement is the same in each."""

from __future__ import annotations

from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from tests.alerts.test_evaluator import H0
from tests.alerts.test_evaluator_processes import _cases, _outlets

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("zone", "named"),
    [("Etc/UTC", "UTC"), ("UTC", "UTC"), ("Asia/Shanghai", "Asia/Shanghai")],
)
def test_a_session_in_utc_by_another_name_is_named_utc(
    db: psycopg.Connection, database_url: str, zone: str, named: str
) -> None:
    oids = _outlets(db, 2)
    settings = AlertsSettings(database_url=database_url)
    evaluator = Evaluator(
        EvaluatorOptions.from_settings(settings), clock=lambda: H0 + timedelta(hours=8)
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
        assert evaluator.drain(conn) == 2
        assert conn.info.parameter_status("TimeZone") == named
        read = conn.execute("SELECT hour_start FROM hourly_means LIMIT 1").fetchone()[0]
        assert read.tzinfo is (UTC if named == "UTC" else ZoneInfo(named))
    assert db.execute("SELECT count(*) FROM evaluation_queue").fetchone() == (0,)
    assert _cases(db) == [(o, ["opened", "escalated", "closed"]) for o in oids]
