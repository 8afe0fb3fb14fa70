"""Staff authentication and the live alert stream (server-sent events), on the real database."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import POOL_MAX_SIZE, create_app
from api.broadcast import Broadcast, Subscription
from api.db import Database
from api.queries.case_events import EventFilter
from api.routes.staff_stream import EventStream
from api.settings import ApiSettings
from schemas.core import channels
from schemas.core.db import open_pool
from schemas.staff.accounts import add_staff_user, issue_token, revoke_token
from tests.fixtures.mqtt import wait_until
from tests.fixtures.registry import add_outlet

DAY = timedelta(days=1)  # how long the tests' tokens live

pytestmark = pytest.mark.integration

STREAM = "/v1/staff/alerts/stream"
LISTENER = "sourcewatch.api.listen"  # the application_name of the shared LISTEN connection


@pytest.fixture
def client(role_urls: dict[str, str]) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(database_url=role_urls["api"]))) as c:
        yield c


@pytest.fixture
def token(db: psycopg.Connection) -> str:
    add_staff_user(db, "inspector.li", ["enforcement"], "李检查", actor="test")
    return issue_token(db, "inspector.li", actor="test", label="dashboard", expires_at=DAY)


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


def read_events(lines: Iterator[str], count: int | None) -> list[dict[str, object]]:
    """The next ``count`` events, or (``None``) every event until the stream ends."""
    got: list[dict[str, object]] = []
    for line in lines:
        if line.startswith("data: "):
            got.append(json.loads(line.removeprefix("data: ")))
            if len(got) == count:
                break
    return got


def subscribed(response: object) -> Iterator[str]:
    """The stream's lines, after its first comment (from then on it is subscribed)."""
    lines: Iterator[str] = response.iter_lines()  # type: ignore[attr-defined]
    assert next(lines).startswith(": sourcewatch case events for ")
    return lines


def backends(conn: psycopg.Connection, application_name: str) -> list[int]:
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        " AND datname = current_database()",
        (application_name,),
    ).fetchall()
    return [int(pid) for (pid,) in rows]


def test_staff_endpoints_refuse_missing_and_bad_tokens(
    client: TestClient, db: psycopg.Connection
) -> None:
    missing = client.get(STREAM)
    assert missing.status_code == 401
    assert missing.json()["error"]["status"] == 401
    bad = client.get(STREAM, headers={"Authorization": "Bearer sw_nope"})
    assert bad.status_code == 401
    add_staff_user(db, "gone", ["viewer"], actor="test")
    token = issue_token(db, "gone", actor="test", expires_at=DAY)
    assert revoke_token(db, token, actor="test")
    assert client.get(STREAM, headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_stream_replays_missed_events_then_follows_live_ones(
    client: TestClient, db: psycopg.Connection, token: str
) -> None:
    first = case_event(db)
    case_id = db.execute("SELECT case_id FROM case_events WHERE id = %s", (first,)).fetchone()
    assert case_id is not None
    missed = event(db, case_id[0], "escalated", "critical")

    def later() -> None:  # at any moment after the request: the stream misses nothing
        with psycopg.connect(db.info.dsn, autocommit=True) as other:
            event(other, case_id[0], "closed", "critical")

    writer = threading.Thread(target=later)
    headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": str(first)}
    with client.stream("GET", STREAM + "?max_events=2", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        writer.start()
        got = read_events(response.iter_lines(), 2)
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
        got = read_events(r.iter_lines(), 1)
    assert [e["severity"] for e in got] == ["critical"]


def test_bad_stream_parameters_are_4xx_naming_the_parameter(client: TestClient, token: str) -> None:
    r = client.get(STREAM + "?min_severity=loud", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    assert "min_severity" in json.dumps(r.json())


def test_every_stream_of_the_process_shares_one_listen_connection(
    client: TestClient, db: psycopg.Connection, token: str
) -> None:
    """More streams than the pool has connections: none holds one, all share one LISTEN."""
    n = POOL_MAX_SIZE + 2
    headers = {"Authorization": f"Bearer {token}"}
    with ExitStack() as stack:
        streams = [
            stack.enter_context(client.stream("GET", STREAM + "?max_events=1", headers=headers))
            for _ in range(n)
        ]
        assert {r.status_code for r in streams} == {200}
        lines = [subscribed(r) for r in streams]
        broadcast = client.app.state.case_events  # type: ignore[attr-defined]
        wait_until(lambda: broadcast.connected, what="the shared LISTEN connection")
        assert broadcast.subscribers == n
        assert len(backends(db, LISTENER)) == 1
        assert backends(db, "sourcewatch.api.sse") == []  # the old connection per client
        event_id = case_event(db)
        for each in lines:
            assert [e["event_id"] for e in read_events(each, 1)] == [event_id]
    assert len(backends(db, LISTENER)) == 1


def test_a_stream_goes_on_after_its_listen_connection_is_killed(
    client: TestClient, db: psycopg.Connection, token: str
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    first = case_event(db)
    case_id = db.execute("SELECT case_id FROM case_events WHERE id = %s", (first,)).fetchone()
    assert case_id is not None
    with client.stream("GET", STREAM + "?max_events=2", headers=headers) as response:
        lines = subscribed(response)
        broadcast = client.app.state.case_events  # type: ignore[attr-defined]
        wait_until(lambda: broadcast.connected, what="the shared LISTEN connection")
        (killed,) = backends(db, LISTENER)
        db.execute("SELECT pg_terminate_backend(%s)", (killed,))
        # committed while the listener is down or reconnecting: caught up after it reconnects
        during = event(db, case_id[0], "escalated", "critical")
        wait_until(lambda: backends(db, LISTENER) not in ([], [killed]), what="a new listener")
        after = event(db, case_id[0], "closed", "critical")
        got = read_events(lines, 2)
    assert [e["event_id"] for e in got] == [during, after]
    assert len(backends(db, LISTENER)) == 1


def test_a_slow_client_is_dropped_without_holding_up_the_others(
    database_url: str, db: psycopg.Connection, token: str
) -> None:
    app = create_app(ApiSettings(database_url=database_url))
    app.state.case_events = Broadcast(
        database_url, channels.CASE_EVENTS, application_name=LISTENER, queue_max=4
    )
    headers = {"Authorization": f"Bearer {token}"}
    first = case_event(db)
    case_id = db.execute("SELECT case_id FROM case_events WHERE id = %s", (first,)).fetchone()
    assert case_id is not None
    with (
        TestClient(app) as client,
        client.stream("GET", STREAM, headers=headers) as fast,
        client.stream("GET", STREAM, headers=headers) as slow,
    ):
        fast_lines, slow_lines = subscribed(fast), subscribed(slow)
        sent = []
        for burst in range(4):  # the fast client reads each burst; the slow one reads nothing
            with db.transaction():
                ids = [event(db, case_id[0], f"burst {burst}", "major") for _ in range(2)]
            sent += ids
            assert [e["event_id"] for e in read_events(fast_lines, 2)] == ids
        got = [e["event_id"] for e in read_events(slow_lines, None)]  # until the server ends it
        assert got and got == sent[: len(got)] and len(got) < len(sent)
        assert app.state.case_events.subscribers == 1  # the fast one
    # the dropped client resumes where it was
    with TestClient(app) as client:
        headers["Last-Event-ID"] = str(got[-1])
        with client.stream(
            "GET", STREAM + f"?max_events={len(sent) - len(got)}", headers=headers
        ) as resumed:
            assert [e["event_id"] for e in read_events(resumed.iter_lines(), None)] == sent[
                len(got) :
            ]


def test_an_event_both_caught_up_and_notified_is_sent_once(
    database_url: str, db: psycopg.Connection
) -> None:
    """After the listener reconnects, a stream catches up from the database while the
    notifications of the same events may be queued too: each event goes out once, in order."""
    first = case_event(db)
    case_id = db.execute("SELECT case_id FROM case_events WHERE id = %s", (first,)).fetchone()
    assert case_id is not None
    pool = open_pool(database_url, application_name="sourcewatch.test")
    pool.open()

    async def stream() -> tuple[list[str], int]:
        subscription = Subscription(Broadcast(database_url, "unused", application_name="x"), 10)
        subscription.resync()  # the listener reconnected
        subscription.push(json.dumps({"event_id": first}))  # and was notified of it too
        subscription.push(json.dumps({"event_id": first}))  # twice, even
        s = EventStream(Database(pool), subscription, EventFilter(), after=0, max_events=2)
        lines = s.lines("greeting", replay=False)
        out = [await anext(lines), await anext(lines)]
        second = event(db, case_id[0], "closed", "major")
        subscription.push(json.dumps({"event_id": second}))
        out += [line async for line in lines]
        return out, second

    try:
        lines, second = asyncio.run(stream())
    finally:
        pool.close()
    assert lines[0] == "greeting"
    assert [line.split("\n")[0] for line in lines[1:]] == [f"id: {first}", f"id: {second}"]


def test_the_stream_documents_the_429_it_answers(role_urls: dict[str, str]) -> None:
    """Issue 15 (schemathesis): the rate limit's 429 on the stream was not in the schema."""
    settings = ApiSettings(database_url=role_urls["api"], api_rate_limit_per_minute=1)
    with TestClient(create_app(settings)) as client:
        documented = client.get("/openapi.json").json()["paths"]["/v1/staff/alerts/stream"]
        assert {"401", "403", "429"} <= set(documented["get"]["responses"])
        client.get("/v1/staff/alerts/stream")  # the one request of the minute (401)
        refused = client.get("/v1/staff/alerts/stream")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
