"""Alerts benchmark.

1. Latency: publish the minute frame that makes an exceeding hour valid (the 45th valid minute)
   and time until the signed webhook reaches a local HTTP server — p50 and p99 over many cases,
   through the real broker, ingest worker, evaluator and dispatcher.
2. Evaluation throughput: outlet-hours of minute data judged per second by the evaluator as
   deployed (``evaluator_processes`` processes, one per core by default, draining together:
   :mod:`bench.evaluator_processes`) and by one evaluator alone, beside the baseline of a plain
   SQL GROUP BY computing such hourly averages for every minute in the table (the judged
   outlets' and those that warm the connection up, a stronger ceiling per outlet-hour than the
   judged minutes alone), both on the vacuumed tables, in ``--repeats`` alternating rounds
   (:func:`bench_evaluation`); medians.

    make bench            # runs bench/ingest.py and this
    python -m bench.alerts --cases 40 --outlets 50 --hours 24 --repeats 7

Settings: SOURCEWATCH_BENCH_DSN (admin DSN; a fresh database is created and dropped),
SOURCEWATCH_MQTT_URL (default: a private Mosquitto).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import NamedTuple

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.notify import Dispatcher, WebhookChannel, add_subscription
from alerts.settings import AlertsSettings
from bench.evaluator_processes import backend_cpu_s, drain_measured, drainers
from bench.ingest import database_copy, fresh_database
from bench.repeat import Runs, pair_ratios, round_order
from ingest.hj212 import build_packet, build_segment, encode_cp
from ingest.mqtt import MqttOptions, MqttTransport
from ingest.records import Accepted, MeasurementRow
from ingest.settings import IngestSettings
from ingest.uplink import RAW_TOPIC
from ingest.worker import IngestWorker, WorkerOptions
from ingest.writer import write_batch
from schemas.core.brokers import broker_address
from schemas.limits.rules import bind_outlet
from sourcewatch.embedded_mqtt import embedded_mosquitto

ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
DAY = datetime(2026, 11, 20, 0, tzinfo=UTC)


def mn(k: int) -> str:
    return f"BENCH{k:019d}"


class Minute(NamedTuple):
    """One minute of an outlet as its logger sends it: SO₂ in mg/m³ with three decimals, O₂ in
    % with two, each with its HJ 212 flag."""

    so2: Decimal
    so2_flag: str
    o2: Decimal
    o2_flag: str


def minute_values(outlet: int, hour: int, minute: int) -> Minute:
    """The benchmark's minute ``minute`` of ``outlet``'s hour ``hour``, deterministic and as
    real loggers send it: SO₂ spread over 20.000–44.999 mg/m³ in three decimals, O₂ varying
    minute by minute over 8.00–11.00 % in two (a slow level per outlet-hour and a jitter per
    minute), and in each hour one SO₂ minute flagged D (analyser fault) and another one's O₂
    flagged C (calibration), neither of which counts (58 valid converted minutes an hour). One
    outlet in four has an O₂ analyser stuck at one value (9.87) for the first eight hours of
    each day of the load (``hour`` 0–7, 24–31, …): a flat line, which opens a pattern case as the
    former constant O₂ did on every outlet. Every hour still exceeds the ultra-low SO₂ limit
    after 折算 (a mean of about 32.5 mg/m³ times (21 − 6) / (21 − O₂) at O₂ about 9.5 %: about
    42 against 35)."""
    so2 = Decimal(20_000 + (outlet * 7_919 + hour * 3_001 + minute * 1_237) % 25_000)
    if outlet % 4 == 0 and hour % 24 < 8:
        o2 = Decimal(987)
    else:
        o2 = Decimal(800 + (outlet * 53 + hour * 29) % 200 + minute * 37 % 101)
    fault, calibration = (outlet * 7 + hour * 13) % 60, (outlet * 11 + hour * 5 + 30) % 60
    return Minute(
        so2.scaleb(-3),
        "D" if minute == fault else "N",
        o2.scaleb(-2),
        "C" if minute == calibration and calibration != fault else "N",
    )


def minute_frame(outlet: int, hour: datetime, minute: int, so2: str, o2: str) -> bytes:
    local = (hour + timedelta(hours=8, minutes=minute)).replace(tzinfo=None)  # Asia/Shanghai
    stamp = local.strftime("%Y%m%d%H%M%S")
    cp = encode_cp(
        {"DataTime": stamp},
        {
            "a21026": {"Avg": so2, "Flag": "N"},
            "a19001": {"Avg": o2, "Flag": "N"},
        },
    )
    return build_packet(
        build_segment(
            qn=stamp + "000", st="31", cn="2051", pw="123456", mn=mn(outlet), flag=4, cp=cp
        )
    )


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, dict[int, float]]]:
    received: dict[int, float] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            at = time.perf_counter()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            received.setdefault(int(body["case_id"]), at)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def bench_latency(url: str, mqtt_url: str, cases: int) -> list[float]:
    with psycopg.connect(url, autocommit=True) as conn:
        for k in range(cases):
            bind_outlet(conn, mn(k), ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "bench")
    stop = threading.Event()
    ingest = IngestSettings(
        database_url=url, mqtt_url=mqtt_url, mqtt_client_id="bench-alerts", batch_max_delay_s=0.01
    )
    transport = MqttTransport(MqttOptions.from_settings(ingest, (RAW_TOPIC,)))
    worker = IngestWorker(WorkerOptions.from_settings(ingest), transport)
    alerts = AlertsSettings(database_url=url, evaluation_sweep_s=3600)
    evaluator = Evaluator(EvaluatorOptions.from_settings(alerts))
    latencies: list[float] = []
    with webhook_receiver() as (hook, received):
        with psycopg.connect(url, autocommit=True) as conn:
            add_subscription(
                conn,
                subscriber="bench",
                channel="webhook",
                target=hook,
                secret="k",
                kinds=["exceedance"],
                max_per_hour=100000,
                allow_private_targets=True,  # the receiver is on this machine
            )
        dispatcher = Dispatcher(
            url, {"webhook": WebhookChannel(allow_private_targets=True)}, poll_interval_s=1.0
        )
        transport.start()
        assert transport.subscribed.wait(10)
        threads = [
            threading.Thread(target=f, args=(stop,))
            for f in (worker.run, evaluator.run, dispatcher.run)
        ]
        for t in threads:
            t.start()
        host, port, _, _, _ = broker_address(mqtt_url)
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect(host, port)
        pub.loop_start()
        try:
            for k in range(cases):
                hour = DAY + timedelta(hours=k)
                for m in range(44):  # 44 valid minutes: not yet a valid hour
                    pub.publish(f"hj212/{mn(k)}/up", _latency_frame(k, hour, m), qos=1)
                _wait(lambda k=k: _queue_empty(url) and worker.stats.messages >= 45 * k + 44)
                start = time.perf_counter()
                pub.publish(f"hj212/{mn(k)}/up", _latency_frame(k, hour, 44), qos=1)
                _wait(lambda k=k: len(received) > k, timeout=30)
                latencies.append(max(received.values()) - start)
        finally:
            pub.disconnect()
            pub.loop_stop()
            stop.set()
            for t in threads:
                t.join(10)
            transport.stop()
            dispatcher.close()
    return latencies


def _latency_frame(outlet: int, hour: datetime, minute: int) -> bytes:
    """A valid minute of the latency cases: the benchmark's O₂, and its SO₂ 60 mg/m³ higher
    (80.000–104.999), so that the hour exceeds once it is valid."""
    v = minute_values(outlet, 0, minute)
    return minute_frame(outlet, hour, minute, str(v.so2 + 60), str(v.o2))


def _queue_empty(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM evaluation_queue").fetchone()
    return row is not None and row[0] == 0


def _wait(check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark step timed out")
        time.sleep(0.005)


def load_minutes(url: str, outlets: int, hours: int, first: int = 0) -> int:
    """Minutes of the outlets ``first`` … ``first + outlets - 1`` (registered already), an
    outlet's hours in one batch of the real writer, which queues them for evaluation."""
    rows = 0
    numbers = range(first, first + outlets)
    with psycopg.connect(url, autocommit=True) as conn:
        for k in numbers:
            bind_outlet(conn, mn(k), ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "bench")
        oids = dict(conn.execute("SELECT mn, id FROM outlets").fetchall())
        for k in numbers:
            batch = []
            for h in range(hours):
                hour = DAY + timedelta(days=2, hours=h)
                values = []
                for m in range(60):
                    ts = hour + timedelta(minutes=m)
                    v = minute_values(k, h, m)
                    values += [
                        MeasurementRow("a21026", "min", ts, value=v.so2, flag=v.so2_flag),
                        MeasurementRow("a19001", "min", ts, value=v.o2, flag=v.o2_flag),
                    ]
                batch.append(
                    Accepted(
                        transport="bench",
                        topic=None,
                        received_at=datetime.now(UTC),
                        raw=f"{k}-{h}".encode(),
                        outlet_id=oids[mn(k)],
                        mn=mn(k),
                        st="31",
                        cn="2051",
                        qn=None,
                        data_time=hour,
                        rows=tuple(values),
                    )
                )
                rows += len(values)
            write_batch(conn, batch, [])
    return rows


GROUP_BY = (
    "SELECT outlet_id, pollutant, date_trunc('hour', ts), avg(value), count(*) "
    "FROM measurements WHERE kind = 'min' GROUP BY 1, 2, 3"
)
SIDES = ("GROUP BY", "evaluator", "evaluators")  # one evaluator process; the deployed number
REPEATS = 9  # rounds of the evaluator and its GROUP BY (a second each at the quick size)
WARM_OUTLETS = 16  # a batch of the evaluator's (Evaluator.batch_outlets)


@dataclass(frozen=True)
class Evaluation:
    """The evaluator judging the same queued outlet-hours from scratch ``repeats`` times, in
    one process and in ``processes``, alternating with the ceiling: outlet-hours per second of
    each, round by round, and the CPU seconds each side's evaluator processes and their
    PostgreSQL backends used (None where the backends' cannot be read)."""

    outlet_hours: int  # the evaluator's timed drain
    baseline: Runs  # SQL GROUP BY of every minute in the table (the warm-up outlets' too)
    evaluator: Runs  # one evaluator process
    prewarmed: bool  # every relation read into shared buffers before each round
    ceiling_outlet_hours: int  # the GROUP BY's, the warm-up outlets' included
    processes: int  # evaluator processes of the deployed side
    evaluators: Runs  # ``processes`` evaluator processes together
    cpu: dict[str, list[tuple[float, float | None]]]  # side → (processes', backends') per round

    def per_cpu_s(self, side: str) -> Runs | None:
        """``side``'s outlet-hours per CPU second, round by round: its processes' CPU and their
        PostgreSQL backends' (the GROUP BY's: this process fetching the rows, and its backend),
        or None where a backend's cannot be read. Unlike the wall rates, it does not count the
        time a side waited for a core that other work on the machine held, which made most of
        the rounds' spread at the quick size (bench/README.md, nineteenth round); it does not
        credit the deployed side with its processes' parallelism either."""
        if any(b is None for _, b in self.cpu[side]):
            return None
        hours = self.ceiling_outlet_hours if side == "GROUP BY" else self.outlet_hours
        return Runs(tuple(hours / (c + (b or 0.0)) for c, b in self.cpu[side]))


def bench_evaluation(
    admin: str,
    url: str,
    outlets: int,
    hours: int,
    repeats: int,
    warm_outlets: int = WARM_OUTLETS,
    processes: int | None = None,
) -> Evaluation:
    """Minutes of ``outlets`` × ``hours`` written by the real writer (which queues every
    outlet-hour), then vacuumed and analysed as a deployment's autovacuum would have them. Each
    round judges a fresh copy of that database (:func:`~bench.ingest.database_copy`: the queue
    full, no output yet), with every relation of the copy read into shared buffers first where
    pg_prewarm is installed, so that neither side pays the other's cold reads; the GROUP BY and
    the evaluator run one after the other on one connection, the first of them alternating.

    That connection is first brought to the state of the product's: the evaluator keeps one
    connection for its life, so its statements are prepared and its backend's caches filled
    by earlier batches. ``warm_outlets`` more outlets (registered at ``url`` after the
    measured ones) with the same minutes, written and so queued first, are drained on it
    untimed, and the GROUP BY is run on it untimed, prepared as it is when timed. Those
    outlets' minutes stay in the table: the GROUP BY's rate counts their outlet-hours too.

    The deployed side (``processes`` evaluators, by default as many as ``sourcewatch alerts``
    runs here) drains a second copy of the round, prewarmed alike; its processes are started
    and warmed up (each on its share of the warm-up outlets) before any side of the round is
    timed, and released together when its turn comes (:mod:`bench.evaluator_processes`)."""
    if processes is None:
        processes = AlertsSettings().evaluator_count()
    load_minutes(url, warm_outlets, hours, first=outlets)
    load_minutes(url, outlets, hours)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        queued = conn.execute("SELECT count(*) FROM evaluation_queue").fetchone()
        assert queued is not None
        prewarm = _prewarm_installed(conn)
    outlet_hours, ceiling_hours = outlets * hours, int(queued[0])
    assert ceiling_hours == (outlets + warm_outlets) * hours
    rates: dict[str, list[float]] = {side: [] for side in SIDES}
    cpu: dict[str, list[tuple[float, float | None]]] = {side: [] for side in SIDES}
    for i in range(repeats):
        with (
            database_copy(admin, url) as copy,
            database_copy(admin, url) as copy_n,
            psycopg.connect(copy, autocommit=True) as conn,
        ):
            if prewarm:
                _prewarm(conn)
                with psycopg.connect(copy_n, autocommit=True) as other:
                    _prewarm(other)
            options = EvaluatorOptions.from_settings(AlertsSettings(database_url=copy))
            evaluator = Evaluator(dataclasses.replace(options, processes=1))
            _warm_up(conn, evaluator, warm_outlets, outlet_hours)
            with drainers(copy_n, processes, warm_outlets) as deployed:
                assert _queued(copy_n) == outlet_hours, "the warm-up drained other outlets"
                for side in round_order(SIDES, i):
                    start = time.perf_counter()
                    if side == "GROUP BY":
                        own, backend = time.process_time(), backend_cpu_s(conn.info.backend_pid)
                        conn.execute(GROUP_BY, prepare=True).fetchall()
                        elapsed = time.perf_counter() - start
                        after = backend_cpu_s(conn.info.backend_pid)
                        cpu[side].append(
                            (
                                time.process_time() - own,
                                None if backend is None or after is None else after - backend,
                            )
                        )
                    elif side == "evaluator":
                        _, own, backend = drain_measured(evaluator, conn)
                        elapsed = time.perf_counter() - start
                        cpu[side].append((own, backend))
                    else:  # from the processes' release to the last one done
                        drain = deployed.drain()
                        elapsed = drain.elapsed
                        cpu[side].append((drain.cpu_s, drain.backend_cpu_s))
                        left = _queued(copy_n)
                        assert left == 0, f"{left} outlet-hours left queued"
                    rates[side].append(
                        (ceiling_hours if side == "GROUP BY" else outlet_hours) / elapsed
                    )
    return Evaluation(
        outlet_hours,
        Runs(tuple(rates["GROUP BY"])),
        Runs(tuple(rates["evaluator"])),
        prewarm,
        ceiling_hours,
        processes,
        Runs(tuple(rates["evaluators"])),
        cpu,
    )


def _prewarm(conn: psycopg.Connection) -> None:
    """Every relation of the connection's database read into shared buffers."""
    conn.execute(
        "SELECT pg_prewarm(oid) FROM pg_class "
        "WHERE relkind IN ('r', 'i', 't', 'm') AND relpersistence = 'p'"
    ).fetchall()


def _queued(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM evaluation_queue").fetchone()
    return int(row[0]) if row else 0


def _warm_up(
    conn: psycopg.Connection, evaluator: Evaluator, warm_outlets: int, outlet_hours: int
) -> None:
    """Both sides' statements run once on ``conn`` before either is timed: the GROUP BY
    prepared, and the evaluator's drain of the ``warm_outlets`` queued first (one batch at the
    default), which leaves the measured outlets' hours queued."""
    conn.execute(GROUP_BY, prepare=True).fetchall()
    done = 0
    while done < warm_outlets and (n := evaluator.drain(conn, warm_outlets - done)):
        done += n
    left = conn.execute("SELECT count(*) FROM evaluation_queue").fetchone()
    assert left == (outlet_hours,), "the warm-up drained other outlets than its own"


def _prewarm_installed(conn: psycopg.Connection) -> bool:
    """pg_prewarm (a contrib module) made available in the database to be copied, if the
    server has it."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    except psycopg.Error:
        return False
    return True


@dataclass(frozen=True)
class AlertsFigures:
    latencies: list[float]  # seconds, one per case
    evaluation: Evaluation


def measure(
    cases: int = 40, outlets: int = 50, hours: int = 24, repeats: int = REPEATS
) -> AlertsFigures:
    admin = os.environ.get("SOURCEWATCH_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    broker = os.environ.get("SOURCEWATCH_MQTT_URL")
    n = max(cases, outlets)
    with (
        fresh_database(admin, outlets=n) as url,
        nullcontext(broker) if broker else embedded_mosquitto() as mqtt_url,
    ):
        latencies = bench_latency(url, mqtt_url, cases)
    with fresh_database(admin, outlets=outlets + WARM_OUTLETS) as url:
        evaluation = bench_evaluation(admin, url, outlets, hours, repeats)
    return AlertsFigures(latencies, evaluation)


def report_evaluation(
    e: Evaluation, title: str, then: Callable[[float], str] = lambda _: ""
) -> None:
    """The two sides' medians and spreads; ``then``: what to add after each side's rate."""
    warm = "prewarmed" if e.prewarmed else "not prewarmed (no pg_prewarm)"
    print(  # noqa: T201
        f"{title}, {len(e.evaluator)} rounds, each on a fresh copy of the vacuumed database, {warm},"
        f" both sides on a connection that ran them before ({e.ceiling_outlet_hours:,}"
        " outlet-hours in the GROUP BY):"
    )
    for what, runs, hours in (
        ("ceiling: SQL GROUP BY of all minutes loaded", e.baseline, e.ceiling_outlet_hours),
        (f"evaluator, {e.processes} processes as deployed", e.evaluators, e.outlet_hours),
        ("evaluator, one process", e.evaluator, e.outlet_hours),
    ):
        rate = runs.describe(lambda v: f"{v:,.0f}")
        print(  # noqa: T201
            f"  {what:<44} {hours / runs.median:7.2f} s, {rate} outlet-hours/s{then(runs.median)}"
        )
    for what, runs in ((f"{e.processes} processes", e.evaluators), ("one process", e.evaluator)):
        ratios = pair_ratios(runs, e.baseline)
        print(  # noqa: T201
            f"  evaluator ({what}) / GROUP BY, round by round: "
            f"{', '.join(f'{r:.1%}' for r in ratios)}"
        )
    for side, what in (
        ("evaluators", f"a drain, {e.processes} processes"),
        ("evaluator", "a drain, one process"),
        ("GROUP BY", "the GROUP BY"),
    ):
        own = statistics.median(c for c, _ in e.cpu[side])
        backends = [b for _, b in e.cpu[side] if b is not None]
        backend = f"{statistics.median(backends) * 1000:.0f} ms" if backends else "not readable"
        client = "evaluator processes" if side != "GROUP BY" else "this process fetching"
        print(  # noqa: T201
            f"  CPU of {what}, medians: {client} {own * 1000:.0f} ms, "
            f"PostgreSQL {'backends' if side == 'evaluators' else 'backend'} {backend}"
        )
    ceiling = e.per_cpu_s("GROUP BY")
    for side, what in (("evaluators", f"{e.processes} processes"), ("evaluator", "one process")):
        ours = e.per_cpu_s(side)
        if ours is None or ceiling is None:
            continue
        ratios = pair_ratios(ours, ceiling)
        print(  # noqa: T201
            f"  per CPU second (processes + backends), evaluator ({what}) / GROUP BY: "
            f"{ours.median / ceiling.median:.1%}, round by round "
            f"{', '.join(f'{r:.1%}' for r in ratios)}"
        )


def report(figures: AlertsFigures) -> None:
    lat = sorted(figures.latencies)
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    print(f"latency, 45th valid minute published → signed webhook received ({len(lat)} cases):")  # noqa: T201
    print(  # noqa: T201
        f"  p50 {statistics.median(lat) * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms   "
        f"max {lat[-1] * 1000:7.1f} ms"
    )
    e = figures.evaluation
    report_evaluation(e, f"evaluation of {e.outlet_hours:,} outlet-hours of minute data (SO₂ + O₂)")


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--outlets", type=int, default=50)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument(
        "--repeats", type=int, default=REPEATS, help="rounds of the evaluator and its ceiling"
    )
    parser.add_argument(
        "--quick", action="store_true", help="the summary's quick size: 10 cases, 20 × 12 h"
    )
    return parser


QUICK = (10, 20, 12)  # cases, outlets, hours of ``python -m bench --quick``


def main() -> None:
    args = parser().parse_args()
    cases, outlets, hours = QUICK if args.quick else (args.cases, args.outlets, args.hours)
    report(measure(cases, outlets, hours, args.repeats))


if __name__ == "__main__":
    main()
