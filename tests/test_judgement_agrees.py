"""One judgement everywhere: a day of pH 5 against the 6–9 range exceeds, with no multiple, in
the evaluator's case, the public series and exceedance notice, the published daily summary and
exceedance notice, and a supervisory monitoring record staff enter for the same value.

(Each used to compute it itself: the case stored (5 − 9) / 9 = −0.44, the series showed
(6 − 5) / 6 = 0.17 and the record left it empty.)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.publish.daily import daily_content
from alerts.publish.exceedances import notice_content
from alerts.settings import AlertsSettings
from api.app import create_app
from api.settings import ApiSettings
from ingest.records import Accepted, MeasurementRow
from ingest.writer import write_batch
from schemas.disclosure.staff_types import SupervisoryMonitoring
from schemas.limits.rules import bind_outlet
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "0100000000000000000000P5"
DAY = date(2026, 11, 27)
MIDNIGHT = datetime(2026, 11, 26, 16, tzinfo=UTC)  # 00:00 on DAY in Shanghai
PH = "w01001"


def _store_day_of_ph(conn: psycopg.Connection, outlet_id: int, value: Decimal) -> None:
    rows = tuple(
        MeasurementRow(PH, "rtd", MIDNIGHT + timedelta(minutes=m), value=value, flag="N")
        for m in range(24 * 60)
    )
    accepted = Accepted(
        transport="mqtt",
        topic=None,
        received_at=datetime.now(UTC),
        raw=b"frame-ph",
        outlet_id=outlet_id,
        mn=MN,
        st="32",
        cn="2011",
        qn=None,
        data_time=MIDNIGHT,
        rows=rows,
    )
    write_batch(conn, [accepted], [])


def _exceedance_case(db: psycopg.Connection, database_url: str) -> tuple[int, int]:
    """A water outlet bound to GB 18918-2002 class 1A (pH 6–9, daily) after a day of pH 5,
    evaluated once the day is over (so its daily mean is judged at once): (outlet id, case id)."""
    oid = add_outlet(db, MN, kind="water")
    bind_outlet(db, MN, "GB 18918-2002", "class-1A", date(2020, 1, 1), "permit")
    _store_day_of_ph(db, oid, Decimal(5))
    after = MIDNIGHT + timedelta(days=1, hours=1, minutes=1)  # the day is over, with the grace
    options = EvaluatorOptions.from_settings(AlertsSettings(database_url=database_url))
    evaluator = Evaluator(options, clock=lambda: after)
    assert evaluator.drain(db) == 1
    row = db.execute("SELECT id FROM cases WHERE kind = 'exceedance'").fetchone()
    assert row is not None, "the evaluator opened no case"
    return oid, int(row[0])


def test_ph_5_exceeds_with_no_multiple_everywhere(
    db: psycopg.Connection, database_url: str
) -> None:
    oid, case_id = _exceedance_case(db, database_url)

    # the evaluator's case: exceeding, no multiple, graded by its one exceeding period
    case = db.execute(
        "SELECT c.pollutant, c.period, c.severity, c.max_multiple, p.value, p.multiple, "
        "p.compliant FROM cases c JOIN case_periods p ON p.case_id = c.id WHERE c.id = %s",
        (case_id,),
    ).fetchall()
    assert case == [(PH, "day", "warning", None, Decimal(5), None, False)]

    # the public API: the daily series point and the exceedance notice
    with TestClient(create_app(ApiSettings(database_url=database_url))) as client:
        points = _get(
            client,
            f"/v1/outlets/{oid}/measurements?pollutant={PH}&resolution=day"
            f"&start={DAY.isoformat()}&end={(DAY + timedelta(days=1)).isoformat()}",
        )["results"]
        notice = _get(client, f"/v1/exceedances/{case_id}")
    assert [p["exceedance"] for p in points] == [{"value": 5.0, "exceeds": True, "multiple": None}]
    assert notice["max_multiple"] is None
    assert [(p["value"], p["multiple"], p["compliant"]) for p in notice["periods"]] == [
        (5.0, None, False)
    ]

    # what the alerts process publishes: the daily summary and the exceedance notice
    summary = daily_content(db, oid, DAY)
    assert summary is not None
    ph = {p.pollutant: p for p in summary[0].pollutants}[PH]
    assert (ph.compliant, ph.exceedance_multiple) == (False, None)
    published = notice_content(db, case_id)
    assert published is not None and published[0].multiple is None

    # the record type: a supervisory monitoring result of pH 5 against 6–9
    record = SupervisoryMonitoring.model_validate(
        {
            "monitored_on": DAY.isoformat(),
            "point": "总排口",
            "pollutant": PH,
            "pollutant_name": "pH值",
            "value": "5",
            "unit": "无量纲",
            "limit_value": "9",
            "limit_lower": "6",
            "standard": "GB 18918-2002",
            "monitoring_body": "市环境监测中心",
        }
    )
    assert (record.evaluation, record.exceedance_multiple) == ("exceeding", None)


def _get(client: TestClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
