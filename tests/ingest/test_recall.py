"""History recall (反控补数, issue 14) against the real database, broker and TCP gateway, with
simulated loggers that keep their history and answer the HJ 212 history query."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from ingest.recall import Recaller, RecallOptions
from ingest.service import mqtt_recaller
from ingest.settings import IngestSettings
from ingest.simulation.frames import SimMessage, upload
from ingest.simulation.history import History, MqttLoggers, TcpLogger
from ingest.simulation.timebase import to_ms
from ingest.tcp import Gateway, GatewayOptions, tcp_recaller
from schemas.completeness.record import recount
from schemas.recall.gaps import find_gaps, missing_records
from tests.fixtures.mqtt import publisher, running_worker, wait_until
from tests.fixtures.registry import add_outlet
from tests.fixtures.staff import staff_headers

pytestmark = pytest.mark.integration

MN = "0100000000000000000000R1"
NOW = datetime.now(UTC)
H0 = NOW.replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
GAP = (H0 + timedelta(hours=1, minutes=10), H0 + timedelta(hours=1, minutes=50))


def minutes(mn: str = MN, hours: int = 3, so2: str = "20") -> list[SimMessage]:
    """A logger's minute uploads (CN 2051) of ``hours`` whole hours from H0."""
    out = []
    for m in range(hours * 60):
        ts = H0 + timedelta(minutes=m)
        items = {
            "a21026": {"Avg": so2, "Flag": "N"},
            "a19001": {"Avg": "9", "Flag": "N"},
        }
        out.append(
            upload(
                mn=mn,
                pw="123456",
                st="31",
                cn="2051",
                data_ms=to_ms(ts),
                qn_ms=to_ms(ts) + 60_000,
                items=items,
                note="",
                as_json=False,
            )
        )
    return out


def recorded(db: psycopg.Connection, outlet_id: int) -> None:
    """The completeness record of rows written into measurements by hand, as ingest keeps it."""
    recount(db, outlet_id, datetime(2000, 1, 1, tzinfo=UTC), NOW + timedelta(days=1))


def lost(m: SimMessage) -> bool:
    return GAP[0] <= m.data_time < GAP[1]


def stored_minutes(db: psycopg.Connection, mn: str = MN) -> int:
    row = db.execute(
        "SELECT count(DISTINCT m.ts) FROM measurements m JOIN outlets o ON o.id = m.outlet_id"
        " WHERE o.mn = %s AND m.kind = 'min'",
        (mn,),
    ).fetchone()
    return int(row[0]) if row else 0


def replies(db: psycopg.Connection, cn: str) -> int:
    row = db.execute("SELECT count(*) FROM frames WHERE cn = %s", (cn,)).fetchone()
    return int(row[0]) if row else 0


def settings(database_url: str, **recall: float) -> IngestSettings:
    values = {"recall_backoff_s": 0.0, "recall_every_s": 0.1, **recall}
    return IngestSettings(database_url=database_url, **values)  # type: ignore[arg-type]


def requests(db: psycopg.Connection) -> list[tuple[str, str | None, int, int]]:
    return [
        (r[0], r[1], r[2], r[3])
        for r in db.execute(
            "SELECT state, outcome, tries, missing FROM recall_requests ORDER BY id"
        )
    ]


def attempts(db: psycopg.Connection) -> list[tuple[int | None, int | None, int, str | None]]:
    return [
        (r[0], r[1], r[2], r[3])
        for r in db.execute(
            "SELECT qn_rtn, exe_rtn, packets, outcome FROM recall_attempts ORDER BY request_id, try"
        )
    ]


def test_gaps_are_the_hours_with_too_few_minutes(
    db: psycopg.Connection, role_urls: dict[str, str]
) -> None:
    oid = add_outlet(db, MN)
    rows = [
        (oid, H0 + timedelta(minutes=m))
        for m in range(3 * 60)
        if not GAP[0] <= H0 + timedelta(minutes=m) < GAP[1]
    ]
    for outlet, ts in rows:
        db.execute(
            "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
            " VALUES (%s, 'a21026', 'min', %s, 1, 'N', now())",
            (outlet, ts),
        )
    recorded(db, oid)
    (gap,) = find_gaps(db, since=H0 - timedelta(hours=1), until=NOW)
    assert (gap.outlet_id, gap.mn, gap.cn) == (oid, MN, "2051")
    assert (gap.begin, gap.end, gap.missing, gap.expected_per_hour) == (
        H0 + timedelta(hours=1),
        H0 + timedelta(hours=2),
        40,
        60,
    )
    # an hour with no minute at all between reported ones is a gap too; one-hour limit splits
    db.execute("DELETE FROM measurements WHERE ts >= %s", (H0 + timedelta(hours=2),))
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
        " VALUES (%s, 'a21026', 'min', %s, 1, 'N', now())",
        (oid, H0 + timedelta(hours=3)),
    )
    recorded(db, oid)
    gaps = find_gaps(db, since=H0, until=NOW, max_hours=1)
    # the newest record (03:00) ends what is due so far: the rest of its hour is not a gap yet
    assert [(g.begin - H0, g.missing) for g in gaps] == [
        (timedelta(hours=1), 40),
        (timedelta(hours=2), 60),
    ]
    with staff_api(role_urls) as http:
        headers = staff_headers(db, "ops.li", "viewer")
        body = http.get("/v1/staff/recall/gaps?hours=12", headers=headers).json()
        assert [(g["mn"], g["missing"]) for g in body["results"]] == [(MN, 100)]  # one interval
        assert http.get("/v1/staff/recall/gaps").status_code == 401


def test_hour_and_day_records_have_gaps_of_their_own(db: psycopg.Connection) -> None:
    oid = add_outlet(db, MN)
    db.execute("UPDATE outlets SET expects_day = true WHERE id = %s", (oid,))
    day0 = datetime(2026, 11, 20, 16, tzinfo=UTC)  # Shanghai midnight
    rows = [("hour", H0 + timedelta(hours=h)) for h in (0, 1, 4)]
    rows += [("day", day0 + timedelta(days=d)) for d in (0, 3)]
    for kind, ts in rows:
        db.execute(
            "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
            " VALUES (%s, 'a21026', %s, %s, 1, 'N', now())",
            (oid, kind, ts),
        )
    recorded(db, oid)
    gaps = find_gaps(db, since=day0 - timedelta(days=1), until=NOW, kinds=("hour", "day"))
    assert [(g.cn, g.begin, g.end, g.missing) for g in gaps] == [
        ("2031", day0 + timedelta(days=1), day0 + timedelta(days=3), 2),
        ("2061", H0 + timedelta(hours=2), H0 + timedelta(hours=4), 2),
    ]
    assert find_gaps(db, since=day0, until=NOW) == []  # no minute data: no minute gaps
    hour_gap = gaps[1]
    assert missing_records(db, oid, "2061", hour_gap.begin, hour_gap.end) == 2
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
        " VALUES (%s, 'a21026', 'hour', %s, 1, 'N', now())",
        (oid, H0 + timedelta(hours=2)),
    )
    recorded(db, oid)
    assert missing_records(db, oid, "2061", hour_gap.begin, hour_gap.end) == 1
    assert missing_records(db, oid, "2031", gaps[0].begin, gaps[0].end) == 2


@contextmanager
def staff_api(role_urls: dict[str, str]) -> Iterator[TestClient]:
    settings = ApiSettings(database_url=role_urls["api"], api_rate_limit_per_minute=10_000)
    with TestClient(create_app(settings)) as http:
        yield http


def test_a_gap_is_recalled_over_mqtt_and_the_data_heals(
    db: psycopg.Connection, database_url: str, mqtt_url: str
) -> None:
    add_outlet(db, MN)
    sent = minutes()
    history = History()
    history.remember(sent)
    with running_worker(mqtt_url, database_url) as running, publisher(mqtt_url) as publish:
        for m in sent:
            if not lost(m):
                publish(m.topic, m.payload)
        wait_until(lambda: stored_minutes(db) == 140, what="the uploads stored")
        db.execute("DELETE FROM evaluation_queue")
        loggers = MqttLoggers(mqtt_url, history).start()
        try:
            assert loggers.subscribed.wait(10)
            recaller = mqtt_recaller(settings(database_url), running.worker.transport)
            recaller.cycle(db)  # the gap found, the query sent
            assert requests(db) == [("sent", None, 1, 40)]
            wait_until(lambda: replies(db, "9012") == 1, what="the logger's 9012")
            recaller.cycle(db)  # settled
        finally:
            loggers.stop()
    assert stored_minutes(db) == 180
    assert requests(db) == [("done", "healed", 1, 40)]
    assert attempts(db) == [(1, 1, 60, "healed")]  # the whole hour sent again
    ((mn, qn),) = history.queries
    assert mn == MN and len(qn) == 17
    query = db.execute("SELECT qn FROM recall_attempts").fetchone()
    assert query == (qn,)
    queued = db.execute("SELECT array_agg(hour_start) FROM evaluation_queue").fetchone()
    assert queued == ([H0 + timedelta(hours=1)],)  # the healed hour is judged again
    recaller.cycle(db)
    assert len(history.queries) == 1  # nothing more to ask


@contextmanager
def running_gateway(database_url: str) -> Iterator[tuple[Gateway, int]]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    base = GatewayOptions.from_settings(IngestSettings(database_url=database_url))
    gw = Gateway(replace(base, batch_max_delay_s=0.02))
    try:
        _, port = asyncio.run_coroutine_threadsafe(gw.start("127.0.0.1", 0), loop).result(5)
        yield gw, port
    finally:
        asyncio.run_coroutine_threadsafe(gw.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_a_gap_is_recalled_through_the_tcp_gateway(
    db: psycopg.Connection, database_url: str
) -> None:
    add_outlet(db, MN)
    sent = minutes()
    history = History(per_mn={MN: "partial"})
    history.remember(sent)
    with running_gateway(database_url) as (gw, port):
        logger = TcpLogger("127.0.0.1", port, history)
        try:
            logger.send(m for m in sent if not lost(m))
            wait_until(lambda: stored_minutes(db) == 140, what="the uploads stored")
            # the gateway links the MN to its connection on its event loop once the store's
            # commit is back from the executor, a moment after the rows are visible here
            wait_until(lambda: gw.connected(MN), what="the logger's connection linked")
            recaller = tcp_recaller(settings(database_url), gw)
            recaller.cycle(db)
            wait_until(lambda: replies(db, "9012") == 1, what="the first 9012")
            # the records came before their 9012 on the same socket: stored with or before it;
            # counted now, since the logger answers the next query as soon as it is sent
            assert stored_minutes(db) == 160
            history.per_mn[MN] = "answer"  # the next query gets everything
            recaller.cycle(db)  # partial: half of the hour came; asked again at once
            assert requests(db) == [("sent", "partial", 2, 40)]
            wait_until(lambda: replies(db, "9012") == 2, what="the second 9012")
            recaller.cycle(db)
        finally:
            logger.close()
    assert stored_minutes(db) == 180
    assert requests(db) == [("done", "healed", 2, 40)]
    assert attempts(db) == [(1, 1, 30, "partial"), (1, 1, 60, "healed")]
    transports = db.execute("SELECT DISTINCT transport FROM recall_attempts").fetchall()
    assert transports == [("tcp",)]


def test_a_refusing_logger_ends_as_a_failed_recall_after_the_bounded_tries(
    db: psycopg.Connection, database_url: str, mqtt_url: str, role_urls: dict[str, str]
) -> None:
    add_outlet(db, MN)
    sent = minutes()
    history = History(behaviour="refuse")
    history.remember(sent)
    with running_worker(mqtt_url, database_url) as running, publisher(mqtt_url) as publish:
        for m in sent:
            if not lost(m):
                publish(m.topic, m.payload)
        wait_until(lambda: stored_minutes(db) == 140, what="the uploads stored")
        loggers = MqttLoggers(mqtt_url, history).start()
        try:
            assert loggers.subscribed.wait(10)
            recaller = mqtt_recaller(settings(database_url), running.worker.transport)
            for n in (1, 2, 3):
                recaller.cycle(db)  # settles the last try (refused) and sends the next
                wait_until(lambda n=n: replies(db, "9011") == n, what=f"9011 number {n}")
            recaller.cycle(db)  # the third refusal: failed
            for _ in range(3):
                recaller.cycle(db)  # nothing loops: the interval is never asked again
        finally:
            loggers.stop()
    assert len(history.queries) == 3
    assert requests(db) == [("failed", "refused", 3, 40)]
    assert attempts(db) == [(2, None, 0, "refused")] * 3
    reason = db.execute("SELECT reason FROM recall_requests").fetchone()
    assert reason == ("refused (QnRtn=2)",)
    alert = db.execute("SELECT kind, subject, count, message_en FROM system_alerts").fetchone()
    assert alert is not None and alert[:3] == ("recall-failed", MN, 1)
    assert "refused" in alert[3] and "40 minute record(s)" in alert[3]
    with staff_api(role_urls) as http:
        headers = staff_headers(db, "ops.li", "viewer")
        page = http.get("/v1/staff/recall/requests?state=failed", headers=headers).json()
        (req,) = page["results"]
        assert (req["mn"], req["outcome"], req["tries"]) == (MN, "refused", 3)
        detail = http.get(f"/v1/staff/recall/requests/{req['id']}", headers=headers).json()
        assert [(a["try_number"], a["qn_rtn"], a["outcome"]) for a in detail["attempts"]] == [
            (1, 2, "refused"),
            (2, 2, "refused"),
            (3, 2, "refused"),
        ]
        assert http.get("/v1/staff/recall/requests/999", headers=headers).status_code == 404
        csv = http.get("/v1/staff/recall/requests?format=csv", headers=headers)
        assert csv.status_code == 200 and MN in csv.text
        alerts = http.get("/v1/staff/system-alerts?kind=recall-failed", headers=headers).json()
        assert [a["subject"] for a in alerts["results"]] == [MN]


def test_a_silent_logger_ends_as_no_answer(db: psycopg.Connection, database_url: str) -> None:
    oid = add_outlet(db, MN)
    for m in minutes():
        if not lost(m):
            db.execute(
                "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag,"
                " received_at) SELECT id, 'a21026', 'min', %s, %s, 'N', now() FROM outlets",
                (m.data_time, Decimal(1)),
            )
    recorded(db, oid)
    db.execute(
        "INSERT INTO frames (received_at, transport, outlet_id, mn, cn, digest, raw, verdict)"
        " SELECT now(), 'mqtt', id, mn, '2051', '\\x00', '\\x00', 'stored' FROM outlets"
    )
    asked: list[str] = []
    options = RecallOptions.from_settings(settings(database_url, recall_answer_timeout_s=1))
    clock = [NOW]
    recaller = Recaller(
        replace(options, answer_within=timedelta(seconds=1)),
        transport="mqtt",
        send=lambda mn, packet: asked.append(mn) is None,
        clock=lambda: clock[0],
    )
    for i in range(6):
        clock[0] = NOW + timedelta(seconds=2 * i)  # past the time to answer each cycle
        recaller.cycle(db)
    assert asked == [MN] * 3
    assert requests(db) == [("failed", "no-answer", 3, 40)]
    assert attempts(db) == [(None, None, 0, "no-answer")] * 3


def test_hours_cut_by_the_window_are_no_gaps(db: psycopg.Connection) -> None:
    """The hour being reported now, and the hour the window starts in, hold only part of what
    was sent: they are not gaps (``sourcewatch up`` once asked every logger for both)."""
    oid = add_outlet(db, MN)
    start = H0 + timedelta(minutes=20)  # the outlet reports every minute from here to now
    end = H0 + timedelta(hours=4, minutes=35)
    minute = start
    while minute < end:
        db.execute(
            "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag, received_at)"
            " VALUES (%s, 'a21026', 'min', %s, 1, 'N', now())",
            (oid, minute),
        )
        minute += timedelta(minutes=1)
    recorded(db, oid)
    assert find_gaps(db, since=start, until=end) == []
    assert find_gaps(db, since=H0 + timedelta(minutes=50), until=H0 + timedelta(hours=1)) == []
    db.execute(  # a real gap in a whole hour is still found
        "DELETE FROM measurements WHERE ts >= %s AND ts < %s",
        (H0 + timedelta(hours=2, minutes=5), H0 + timedelta(hours=2, minutes=15)),
    )
    recorded(db, oid)
    (gap,) = find_gaps(db, since=start, until=end)
    assert (gap.begin - H0, gap.missing) == (timedelta(hours=2), 10)


def test_minutes_before_the_first_and_after_the_last_record_are_no_gap(
    db: psycopg.Connection,
) -> None:
    """A logger that starts reporting at 00:20 of an hour inside the window was silent before,
    and one whose newest record is of 02:29 is still uploading or has fallen silent: neither
    hour lacks anything yet (``sourcewatch up`` once asked every simulated logger for the
    minutes before its start and for the hour its history upload had reached). What the first
    hour lacks after its first record still counts."""
    oid = add_outlet(db, MN)
    start, end = H0 + timedelta(minutes=20), H0 + timedelta(hours=2, minutes=30)
    lost = (H0 + timedelta(minutes=40), H0 + timedelta(minutes=45))
    minute = start
    while minute < end:
        if not lost[0] <= minute < lost[1]:
            for pollutant in ("a21026", "a19001"):
                db.execute(
                    "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag)"
                    " VALUES (%s, %s, 'min', %s, 1, 'N')",
                    (oid, pollutant, minute),
                )
        minute += timedelta(minutes=1)
    recorded(db, oid)
    since, until = H0 - timedelta(hours=2), NOW  # the window starts before the logger did
    (gap,) = find_gaps(db, since=since, until=until)
    assert (gap.begin - H0, gap.missing, gap.expected_per_hour) == (timedelta(0), 5, 60)
    db.execute(  # the lost minutes come back: the first hour is whole from 00:20 on
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag)"
        " SELECT %s, 'a21026', 'min', t, 1, 'N'"
        " FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 minute',"
        " interval '1 minute') t",
        (oid, *lost),
    )
    db.execute(
        "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag)"
        " SELECT outlet_id, 'a19001', kind, ts, value, flag FROM measurements"
        " WHERE outlet_id = %s AND pollutant = 'a21026' AND ts >= %s AND ts < %s",
        (oid, *lost),
    )
    recorded(db, oid)
    assert find_gaps(db, since=since, until=until) == []
    db.execute(  # a record lost in the middle of the last hour is a gap
        "DELETE FROM measurements WHERE outlet_id = %s AND ts = %s",
        (oid, H0 + timedelta(hours=2, minutes=10)),
    )
    recorded(db, oid)
    (gap,) = find_gaps(db, since=since, until=until)
    assert (gap.begin - H0, gap.missing) == (timedelta(hours=2), 1)


# every minute: 54 a whole hour, 55 in the last hour up to its newest record (02:50)
@pytest.mark.parametrize(("interval", "gaps"), [(10, [(2, 1, 6)]), (1, [(0, 154, 60)])])
def test_the_registry_says_how_many_minute_records_an_hour_holds(
    db: psycopg.Connection, interval: int, gaps: list[tuple[int, int, int]]
) -> None:
    """A logger that sends every 10 minutes lacks nothing when registered so, and 54 records an
    hour when registered to send every minute: the completeness record's rule, not a guess from
    what it sent."""
    oid = add_outlet(db, MN)
    db.execute("UPDATE outlets SET minute_interval_min = %s WHERE id = %s", (interval, oid))
    for m in range(0, 3 * 60, 10):
        if m != 130:  # one record lost in the third hour
            db.execute(
                "INSERT INTO measurements (outlet_id, pollutant, kind, ts, value, flag,"
                " received_at) VALUES (%s, 'a21026', 'min', %s, 1, 'N', now())",
                (oid, H0 + timedelta(minutes=m)),
            )
    recorded(db, oid)
    found = find_gaps(db, since=H0, until=NOW)
    assert [
        ((g.begin - H0) // timedelta(hours=1), g.missing, g.expected_per_hour) for g in found
    ] == gaps
