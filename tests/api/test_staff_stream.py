"""Staff authentication and the live alert stream (server-sent events), on the real database."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from schemas.staff.accounts import add_staff_user, issue_token, revoke_token
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

STREAM = "/v1/staff/alerts/stream"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=database_url))) as c:
        yield c


@pytest.fixture
def token(db: psycopg.Connection) -> str:
    add_staff_user(db, "inspector.li", ["enforcement"], "李检查", actor="test")
    return issue_token(db, "inspector.li", actor="test", label="dashboard")


def case_event(conn: psycopg.Connection, action: str = "opened", severity: str = "major") -> int:
    oid = add_outlet(conn, "0100000000000000000000S1")
    row = conn.execute(
        "INSERT INTO cases (kind, outlet_id, pollutant, period, severity, first_at, last_at) "
        "VALUES ('exceedance', %s, 'a21026', 'hour', %s, %s, %s) RETURNING id",
        (oid, severity, datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 11, 28, tzinfo=UTC)),
    ).fetchone()
    assert row is not None
    return event(conn, int(row[0]), action, severity)


def event(conn: psycopg.Connection, case_id: int, action: str, severity: str) -> int:
    row = conn.execute(
        "INSERT INTO case_events (case_id, actor, action, severity) "
        "VALUES (%s, 'evaluator', %s, %s) RETURNING id",
        (case_id, action, severity),
    ).fetchone()
    assert row is not None
    return int(row[0])


def read_events(response: object, count: int) -> list[dict[str, object]]:
    got: list[dict[str, object]] = []
    for line in response.iter_lines():  # type: ignore[attr-defined]
        if line.startswith("data: "):
            got.append(json.loads(line.removeprefix("data: ")))
            if len(got) == count:
                break
    return got


def test_staff_endpoints_refuse_missing_and_bad_tokens(
    client: TestClient, db: psycopg.Connection
) -> None:
    missing = client.get(STREAM)
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == 401
    bad = client.get(STREAM, headers={"Authorization": "Bearer sw_nope"})
    assert bad.status_code == 401
    add_staff_user(db, "gone", ["viewer"], actor="test")
    token = issue_token(db, "gone", actor="test")
    assert revoke_token(db, token, actor="test")
    assert client.get(STREAM, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_stream_replays_missed_events_then_follows_live_ones(
    client: TestClient, db: psycopg.Connection, token: str
) -> None:
    first = case_event(db)
    case_id = db.execute("SELECT case_id FROM case_events WHERE id = %s", (first,)).fetchone()
    assert case_id is not None
    missed = event(db, case_id[0], "escalated", "critical")

    def later() -> None:
        time.sleep(0.5)
        with psycopg.connect(db.info.dsn, autocommit=True) as other:
            event(other, case_id[0], "closed", "critical")

    writer = threading.Thread(target=later)
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": str(first)}
    with client.stream("GET", STREAM + "?max_events=2", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        writer.start()
        got = read_events(response, 2)
    writer.join()
    assert [(e["event_id"], e["action"]) for e in got] == [
        (missed, "escalated"),
        (missed + 1, "closed"),
    ]
    assert got[0]["kind"] == "exceedance" and got[0]["mn"] == "0100000000000000000000S1"


def test_the_stream_filters_by_severity(
    client: TestClient, db: psycopg.Connection, token: str
) -> None:
    first = case_event(db, severity="warning")
    case_id = db.execute("SELECT case_id FROM case_events WHERE id = %s", (first,)).fetchone()
    assert case_id is not None
    event(db, case_id[0], "escalated", "critical")
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "0"}
    with client.stream("GET", STREAM + "?max_events=1&min_severity=major", headers=headers) as r:
        got = read_events(r, 1)
    assert [e["severity"] for e in got] == ["critical"]


def test_bad_stream_parameters_are_4xx_naming_the_parameter(client: TestClient, token: str) -> None:
    r = client.get(STREAM + "?min_severity=loud", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    assert "min_severity" in json.dumps(r.json())
