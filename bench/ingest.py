"""Ingest benchmark: frames through the real broker into the real database, end to end,
beside the ceiling (a plain COPY of the same rows into the same table), the writer alone, and
the decode rate of the codec alone.

    make bench                      # defaults: 20,000 frames × 9 values, local servers
    python -m bench.ingest --frames 50000
    python -m bench.ingest --broker mosquitto --backlog 1000000 --backlog-only --sample-s 20

The plain COPY (the ceiling), the writer alone (with and without the completeness record) and
end to end through each broker run ``--repeats`` times, in alternating rounds; each row gives
the median run, with the spread. The writer without and with the record run together, batch by
batch in turn, each into its own database (:func:`bench_writers`), with the CPU time of each.

``--backlog N``: a worker (the shipped Receive Maximum and batch size unless
``--receive-maximum``/``--backlog-batch``) drains N messages queued for its session while it was
away; its RSS and the private Mosquitto's are sampled every ``--sample-s`` seconds, and
``--tracemalloc SECONDS`` prints what the worker's Python allocations grew from then to the end.
The publisher builds a backlog's frames as it publishes them, a window at a time.

Each end-to-end run also prints the CPU time (user + system, from /proc) that each process spent
from the first publish to the last commit: the workers (with their MQTT processes, also given
apart), the server's backends on the run's database, the private broker, the publisher and this
process, per frame.

Settings: SOURCEWATCH_BENCH_DSN (an admin DSN; a fresh database is created and dropped) and
SOURCEWATCH_MQTT_URL (default: each private broker this machine has, side by side: Mosquitto
with the shipped limits, and Aedes, the embedded default's fallback).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from bench.mqtt_publisher import RawPublisher
from bench.repeat import Runs, round_order, rounds
from ingest.exact_pairs import split
from ingest.hj212 import CRCPolicy, build_packet, build_segment, encode_cp, parse_packet
from ingest.mqtt import MqttOptions
from ingest.mqtt_process import MqttProcess
from ingest.outlets import load_outlets
from ingest.records import Accepted
from ingest.settings import IngestSettings
from ingest.uplink import RAW_TOPIC, decode_message
from ingest.worker import IngestWorker, WorkerOptions
from ingest.writer import write_batch
from schemas.core.brokers import broker_address
from schemas.core.migrate import migrate, timescaledb_enabled
from schemas.reference import load_reference_data
from sourcewatch.embedded_mqtt import (
    aedes_command,
    embedded_aedes,
    embedded_mosquitto,
    mosquitto_binary,
)

GAS = {
    "a21026": "35.2",
    "a21002": "48.7",
    "a34013": "8.1",
    "a19001": "9.6",
    "a00000": "152.3",
    "a01012": "85.4",
    "a01011": "12.2",
    "a01013": "-0.12",
    "a01014": "8.8",
}
OUTLETS = 20
REPEATS = 7  # rounds of the COPY, the writers and end to end (--quick: 5)
WRITER_FRAMES = 20_000  # at least so many frames written by the COPY and each writer a round


def make_frames(n: int) -> list[tuple[str, bytes]]:
    """n real-time frames (9 values each) spread over OUTLETS outlets, 30 s apart."""
    return list(iter_frames(n))


def iter_frames(n: int) -> Iterator[tuple[str, bytes]]:
    """The frames of :func:`make_frames`, one at a time (a large backlog is not held at once)."""
    t0 = datetime(2026, 11, 1)
    for i in range(n):
        mn = f"BENCH{i % OUTLETS:019d}"
        when = t0 + timedelta(seconds=30 * (i // OUTLETS))
        items = {c: {"Rtd": v, "ZsRtd": v, "Flag": "N"} for c, v in GAS.items()}
        items["a21026"]["Rtd"] = f"{(i * 7) % 100}.{i % 10}"
        cp = encode_cp({"DataTime": when.strftime("%Y%m%d%H%M%S")}, items)
        seg = build_segment(
            qn=when.strftime("%Y%m%d%H%M%S000"),
            st="31",
            cn="2011",
            pw="123456",
            mn=mn,
            flag=4,
            cp=cp,
        )
        yield f"hj212/{mn}/up", build_packet(seg)


@contextmanager
def fresh_database(admin_dsn: str, outlets: int = OUTLETS) -> Iterator[str]:
    """A new migrated database with ``outlets`` registered gas outlets; dropped afterwards."""
    name = f"sourcewatch_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = urlunsplit(urlsplit(admin_dsn)._replace(path="/" + name))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            migrate(conn)
            load_reference_data(conn)
            conn.execute(
                "INSERT INTO enterprises (uscc, name_zh) VALUES ('91330000BENCH00000', '基准')"
            )
            for k in range(outlets):
                conn.execute(
                    "INSERT INTO outlets (enterprise_id, mn, name_zh, kind, password) "
                    "SELECT id, %s, %s, 'gas', '123456' FROM enterprises",
                    (f"BENCH{k:019d}", f"排口{k}"),
                )
        yield url
    finally:
        _drop(admin_dsn, name)


@contextmanager
def database_copy(admin_dsn: str, url: str) -> Iterator[str]:
    """A copy of the database at ``url`` (``CREATE DATABASE … TEMPLATE``: its tables, their
    statistics and visibility maps as they are; nobody may be connected to it meanwhile);
    dropped afterwards. Each repetition of a measurement that writes can so start from the
    same state.

    On TimescaleDB the database at ``url`` has a background-job scheduler connected to it,
    which TimescaleDB restarts when the database is named as a template: the new one connects
    again while the copy is made, often before PostgreSQL's check, which then waits 5 s and
    refuses. So its scheduler is stopped for good (no job of it runs afterwards: benchmarks
    measure the copies) and connections to it are refused while the copy is made, which keeps
    TimescaleDB from restarting it."""
    name = f"sourcewatch_bench_{uuid.uuid4().hex[:8]}"
    template = sql.Identifier(urlsplit(url).path.lstrip("/"))
    with psycopg.connect(url, autocommit=True) as conn:
        timescaledb = timescaledb_enabled(conn)
        if timescaledb:
            conn.execute("SELECT _timescaledb_functions.stop_background_workers()")
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        if timescaledb:
            conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(template))
        try:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), template)
            )
        finally:
            if timescaledb:
                conn.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS true").format(template))
    try:
        yield urlunsplit(urlsplit(admin_dsn)._replace(path="/" + name))
    finally:
        _drop(admin_dsn, name)


def _drop(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def truncate(url: str) -> None:
    """Empty what a run writes, so that every run (the COPY ceiling, each writer run, end to
    end) starts from the same state: the completeness record, the evaluation queue and the
    outlets' activity too (left filled, a later writer run updated the counters a first one had
    inserted)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "TRUNCATE frames, measurement_rows, measurement_revisions, dead_letters, completeness,"
            " evaluation_queue, outlet_activity"
        )


def timed(fn: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    n = fn()
    return time.perf_counter() - start, n


def bench_decode(frames: list[tuple[str, bytes]]) -> tuple[float, int]:
    def run() -> int:
        for _, raw in frames:
            parse_packet(raw.rstrip(b"\r\n"), crc_policy=CRCPolicy.STRICT)
        return len(frames)

    return timed(run)


def decoded(url: str, frames: list[tuple[str, bytes]]) -> list[Accepted]:
    with psycopg.connect(url) as conn:
        outlets = load_outlets(conn)
    now = datetime.now(UTC)
    out = []
    for topic, raw in frames:
        for item in decode_message(topic, raw, now, outlets.get):
            assert isinstance(item, Accepted), item
            out.append(item)
    return out


def _pair(d: Decimal | None) -> tuple[int | None, int | None]:
    """``d`` as measurement_rows keeps it (migration 0024: mantissa, scale), split as the
    writer splits it (ingest/exact_pairs.py); the generated values all fit a pair."""
    return split(d)[:2]


def bench_copy(url: str, accepted: list[Accepted], passes: int = 1) -> tuple[float, int]:
    """The ceiling: one plain COPY of the same rows into the same table (measurement_rows, the
    values already split). ``passes``: so many times, each from empty tables, summed."""
    seconds, values = 0.0, 0
    for _ in range(passes):
        truncate(url)
        t, n = _copy_once(url, accepted)
        seconds, values = seconds + t, values + n
    return seconds, values


def _copy_once(url: str, accepted: list[Accepted]) -> tuple[float, int]:
    def run() -> int:
        n = 0
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            cols = ("outlet_id", "pollutant", "kind", "ts", "value_mantissa", "value_scale")
            cols += ("zs_value_mantissa", "zs_value_scale", "flag")
            copy_sql = sql.SQL("COPY measurement_rows ({}) FROM STDIN").format(
                sql.SQL(", ").join(map(sql.Identifier, (*cols, "received_at")))
            )
            with cur.copy(copy_sql) as copy:
                for a in accepted:
                    for r in a.rows:
                        copy.write_row(
                            (
                                a.outlet_id,
                                r.pollutant,
                                r.kind,
                                r.ts,
                                *_pair(r.value),
                                *_pair(r.zs_value),
                                r.flag,
                                a.received_at,
                            )
                        )
                        n += 1
        return n

    return timed(run)


@dataclass(frozen=True)
class WriterRun:
    """One run of the writer alone: its time, the values it inserted, and the CPU time that
    this process and the connection's server backend spent in it (the backend's read from
    /proc: 0 for a server elsewhere)."""

    seconds: float
    values: int
    cpu_s: float


def bench_writers(
    off_url: str, on_url: str, accepted: list[Accepted], batch: int, passes: int = 1
) -> tuple[WriterRun, WriterRun]:
    """The writer alone without the completeness record (into the database at ``off_url``) and
    with it (``on_url``, as ingest writes), batch by batch in turn: off, on, on, off, off, on …
    each side's time the sum of its own batches and its connection's setup. Two runs one
    after the other, each half a second at the quick size, met different moments of a shared
    machine's load and their ratio swung by a third from round to round (issue 16, eighteenth
    round); batches a few tens of milliseconds apart meet the same. Both databases are built
    alike (:func:`fresh_database`) and emptied first (:func:`truncate`), so each side writes
    what it would write alone. ``passes``: so many times, each from empty tables, summed."""
    urls = (off_url, on_url)
    seconds = [0.0, 0.0]
    values = [0, 0]
    cpu = [0.0, 0.0]
    for _ in range(passes):
        for url in urls:
            truncate(url)
        _write_in_turn(urls, accepted, batch, seconds, values, cpu)
    off, on = (WriterRun(seconds[s], values[s], cpu[s]) for s in (0, 1))
    return off, on


def _write_in_turn(
    urls: tuple[str, str],
    accepted: list[Accepted],
    batch: int,
    seconds: list[float],
    values: list[int],
    cpu: list[float],
) -> None:
    """One pass of :func:`bench_writers`, its sides' figures added to theirs."""
    with ExitStack() as stack:
        conns: list[psycopg.Connection] = []
        backend_cpu: list[float] = []
        for side, url in enumerate(urls):
            t0, c0 = time.perf_counter(), time.process_time()
            conns.append(stack.enter_context(psycopg.connect(url, autocommit=True)))
            seconds[side] += time.perf_counter() - t0
            cpu[side] += time.process_time() - c0
            backend_cpu.append(_cpu_s(conns[side].info.backend_pid))
        for k, i in enumerate(range(0, len(accepted), batch)):
            part = accepted[i : i + batch]
            for side in round_order((0, 1), k):
                t0, c0 = time.perf_counter(), time.process_time()
                written = write_batch(conns[side], part, [], completeness=bool(side))
                seconds[side] += time.perf_counter() - t0
                cpu[side] += time.process_time() - c0
                values[side] += written.values_inserted
        for side, conn in enumerate(conns):
            cpu[side] += _cpu_s(conn.info.backend_pid) - backend_cpu[side]


_PUBLISH_WINDOW = 1000


def _publish(
    mqtt_url: str, n: int, ready: Event, go: Event, done: Event, lazy: bool = False
) -> None:
    """The publisher, in its own process so that the benchmark measures the consumer: builds
    the frames' PUBLISH packets, connects, says ready, publishes them all at QoS 1 once told
    to, at most ``_PUBLISH_WINDOW`` unacknowledged (:class:`~bench.mqtt_publisher.RawPublisher`:
    the loggers' side takes little of this machine's CPU from the worker, the broker and
    PostgreSQL; paho took about 2 s per 20,000 frames). ``lazy``: the packets are built while
    publishing (a backlog, whose publishing is not timed: a million frames built first would
    take about 0.7 GB)."""
    host, port, tls, user, password = broker_address(mqtt_url)
    pub = RawPublisher(
        host,
        port,
        f"bench-pub-{uuid.uuid4().hex[:6]}",
        _PUBLISH_WINDOW,
        tls=tls,
        user=user,
        password=password,
    )
    built = (pub.packet(topic, raw) for topic, raw in iter_frames(n))
    packets: Iterable[bytes] = built if lazy else list(built)
    ready.set()
    go.wait()
    pub.publish_all(packets)
    pub.close()
    done.set()


def _work(
    url: str, mqtt_url: str, client_id: str, group: str, receive_maximum: int, batch: int,
    ready: Event, stop: Event, trace_after_s: float | None = None,
) -> None:  # fmt: skip
    """One ingest worker, in its own process, as ``sourcewatch ingest`` runs it.
    ``trace_after_s``: trace Python allocations (tracemalloc), and print to stderr what grew
    between that many seconds after start and the stop (where a slow rise of RSS comes from)."""
    if trace_after_s is not None:
        tracemalloc.start()
    settings = IngestSettings(
        database_url=url,
        mqtt_url=mqtt_url,
        mqtt_client_id=client_id,
        mqtt_shared_group=group,
        mqtt_receive_maximum=receive_maximum,
        batch_max_messages=batch,
    )
    transport = MqttProcess(MqttOptions.from_settings(settings, (RAW_TOPIC,)))
    worker = IngestWorker(WorkerOptions.from_settings(settings), transport)
    transport.start()
    if not transport.subscribed.wait(30):
        raise SystemExit("the worker's subscription was not granted")
    ready.set()
    halt = threading.Event()
    thread = threading.Thread(target=worker.run, args=(halt,))
    thread.start()
    first = None
    if trace_after_s is not None and not stop.wait(trace_after_s):
        first = tracemalloc.take_snapshot()
    stop.wait()
    if first is not None:
        _print_growth(first, tracemalloc.take_snapshot(), trace_after_s or 0.0)
    halt.set()
    thread.join()
    transport.stop()


def _print_growth(
    first: tracemalloc.Snapshot, last: tracemalloc.Snapshot, after_s: float, top: int = 15
) -> None:
    """The Python allocations that grew most between two snapshots of one worker (the
    messages in flight at either come and go)."""
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    first, last = first.filter_traces(ignore), last.filter_traces(ignore)
    total = [sum(s.size for s in snap.statistics("filename")) for snap in (first, last)]
    out = sys.stderr
    print(
        f"tracemalloc, worker {os.getpid()}: traced {total[0] / 1024:,.0f} KiB at {after_s:.0f} s,"
        f" {total[1] / 1024:,.0f} KiB at the stop; grew most:",
        file=out,
    )
    grew = [stat for stat in last.compare_to(first, "lineno") if stat.size_diff > 0]
    for stat in grew[:top]:
        print(f"  {stat}", file=out)
    out.flush()


@dataclass
class Workers:
    """Worker processes started by :func:`workers`."""

    processes: list[BaseProcess]

    def peak_rss_mib(self) -> list[float]:
        """Each worker's peak resident set so far (VmHWM), MiB."""
        return [_status_kib(p.pid, "VmHWM") / 1024 for p in self.processes]


def _status_kib(pid: int | None, key: str) -> int:
    """A ``kB`` field of a process's /proc status; 0 when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


@contextmanager
def workers(
    url: str, mqtt_url: str, count: int, *, client_ids: list[str] | None = None,
    group: str | None = None, receive_maximum: int = 1000, batch: int = 500,
    shared: bool = True, trace_after_s: float | None = None,
) -> Iterator[Workers]:  # fmt: skip
    """``count`` worker processes on one shared subscription (``shared=False``: a plain
    subscription, for a broker without shared subscriptions such as Aedes), subscribed when
    this yields."""
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    # A group of its own: the sessions of earlier runs persist, still subscribed, and a shared
    # subscription would queue their share of these messages for them.
    group = (group or f"bench-{uuid.uuid4().hex[:6]}") if shared else ""
    ids = client_ids or [f"bench-{uuid.uuid4().hex[:6]}" for _ in range(count)]
    started = []
    for cid in ids:
        ready = ctx.Event()
        proc = ctx.Process(
            target=_work,
            args=(url, mqtt_url, cid, group, receive_maximum, batch, ready, stop, trace_after_s),
        )
        proc.start()
        started.append((proc, ready))
    try:
        for proc, ready in started:
            if not ready.wait(60):
                raise RuntimeError(f"worker {proc.pid} did not subscribe")
        yield Workers([p for p, _ in started])
    finally:
        stop.set()
        for proc, _ in started:
            proc.join(30)
            if proc.is_alive():
                proc.kill()


@contextmanager
def publisher(
    mqtt_url: str, n: int, *, lazy: bool = False
) -> Iterator[tuple[Event, Event, int | None]]:
    """A publisher process with ``n`` frames ready (``lazy``: built as they are published);
    yields (go, done, its pid)."""
    ctx = multiprocessing.get_context("spawn")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_publish, args=(mqtt_url, n, ready, go, done, lazy))
    proc.start()
    try:
        if not ready.wait(300):
            raise RuntimeError("the publisher did not connect")
        yield go, done, proc.pid
    finally:
        proc.join(900)
        if proc.is_alive():
            proc.kill()


# wait_stored counts the committed frames every POLL_S, and down to every FINE_POLL_S as the
# rate so far brings the last commit near: a run ends at the first count that sees it, and with
# a count every 0.1 s throughout a run of 5,000 frames (0.5-1 s) read up to 0.1 s late (five
# rounds through Aedes all read 0.716-0.727 s: eight counts). Each count takes the server ~1 ms;
# a count every few ms throughout would take a share of the cores the run measures.
POLL_S = 0.1
FINE_POLL_S = 0.005


def wait_stored(url: str, frames: int, timeout_s: float = 1800) -> None:
    """Until ``frames`` frames are committed (seen within :data:`FINE_POLL_S` of the last
    commit, see :func:`poll_after_s`)."""
    start = time.monotonic()
    deadline = start + timeout_s
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute("SELECT count(*) FROM frames").fetchone()
            stored = row[0] if row else 0
            if stored >= frames:
                return
            time.sleep(poll_after_s(time.monotonic() - start, stored, frames))
    raise TimeoutError(f"{frames} frames not stored within {timeout_s} s")


def poll_after_s(elapsed_s: float, stored: int, frames: int) -> float:
    """How long :func:`wait_stored` sleeps before counting again: an eighth of the time that
    the ``frames - stored`` left take at the rate so far (which undercounts a run's pace: it
    includes its start), between :data:`FINE_POLL_S` and :data:`POLL_S`."""
    if stored <= 0:
        return POLL_S
    left_s = elapsed_s * (frames - stored) / stored
    return min(POLL_S, max(FINE_POLL_S, left_s / 8))


def stored_values(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM measurements").fetchone()
    return row[0] if row else 0


@dataclass(frozen=True)
class CpuShare:
    """CPU time (user + system, from /proc) that each process of an end-to-end run spent from
    the first publish to the last frame committed: where a frame's cost goes on a machine whose
    cores they all share."""

    frames: int
    worker: float  # the worker processes together, their MQTT processes included
    postgres: float  # the server's backends on the run's database (the workers', the poll's)
    broker: float | None  # the private Mosquitto or Aedes; None for a broker it did not start
    publisher: float  # the benchmark's publisher (the loggers' side)
    bench: float  # this process (it polls for the last commit)
    worker_mqtt: float = 0.0  # of which the workers' MQTT processes (ingest.mqtt_process)

    def describe(self) -> str:
        def part(name: str, seconds: float | None) -> str:
            if seconds is None:
                return f"{name} unknown"
            return f"{name} {seconds:.2f} s ({1e6 * seconds / self.frames:,.0f} µs/frame)"

        return "CPU during the run: " + ", ".join(
            (
                part("worker", self.worker) + f" ({part('of which MQTT', self.worker_mqtt)})",
                part("PostgreSQL backends", self.postgres),
                part("broker", self.broker),
                part("publisher", self.publisher),
                part("benchmark", self.bench),
            )
        )


_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int | None) -> float:
    """A process's user + system CPU time so far, seconds; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) * _TICK_S


def _backends_cpu_s(conn: psycopg.Connection) -> dict[int, float]:
    """The CPU time so far of each server backend connected to ``conn``'s database (read from
    /proc: the server runs on this machine; a remote one reads as 0)."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    ).fetchall()
    return {pid: _cpu_s(pid) for (pid,) in rows}


def bench_end_to_end(
    url: str, mqtt_url: str, frames_n: int, worker_count: int = 1, *, shared: bool = True
) -> tuple[float, int, CpuShare]:
    """Publisher process → broker → ``worker_count`` worker processes (one shared
    subscription unless ``shared`` is false) → database: from the first publish to the last
    frame committed, and the CPU time each process spent meanwhile."""
    truncate(url)
    broker = _broker_pid()
    with (
        workers(url, mqtt_url, worker_count, shared=shared) as w,
        publisher(mqtt_url, frames_n) as (go, _, publisher_pid),
        psycopg.connect(url, autocommit=True) as conn,
    ):
        time.sleep(0.5)  # let the subscriptions settle
        pids = [p.pid for p in w.processes]
        mqtt = [child for pid in pids for child in _children(pid)]  # their MQTT processes

        def now() -> list[float]:
            return [
                sum(map(_cpu_s, pids + mqtt)),
                sum(map(_cpu_s, mqtt)),
                _cpu_s(broker),
                _cpu_s(publisher_pid),
                time.process_time(),
            ]

        cpu = (now(), _backends_cpu_s(conn))
        start = time.perf_counter()
        go.set()
        wait_stored(url, frames_n)
        elapsed = time.perf_counter() - start
        end = now()
        backends = _backends_cpu_s(conn)
    worker, worker_mqtt, broker_s, publisher_s, bench = (
        b - a for a, b in zip(cpu[0], end, strict=True)
    )
    share = CpuShare(
        frames_n,
        worker,
        sum(t - cpu[1].get(pid, 0.0) for pid, t in backends.items()),
        broker_s if broker else None,
        publisher_s,
        bench,
        worker_mqtt,
    )
    return elapsed, stored_values(url), share


@dataclass(frozen=True)
class Sample:
    """One look at a drain in progress."""

    at_s: float  # since the worker came back
    stored: int  # frames committed so far
    worker_rss_kib: int  # the worker's resident set now (VmRSS)
    broker_rss_kib: int | None  # the private Mosquitto's, when this benchmark started it


@dataclass(frozen=True)
class Backlog:
    messages: int
    drain_s: float
    peak_rss_mib: float
    receive_maximum: int
    batch: int
    stored: int = 0  # frames committed at the end (fewer than ``messages``: the drain stalled)
    publish_s: float = 0.0
    samples: tuple[Sample, ...] = ()

    @property
    def rate(self) -> float:
        return self.stored / self.drain_s if self.drain_s else 0.0


BACKLOG_STALL_S = 300.0  # a drain that stores nothing for this long has stalled (lost messages)


def bench_backlog(
    url: str,
    mqtt_url: str,
    messages: int,
    receive_maximum: int = 1000,
    batch: int = 500,
    *,
    sample_s: float = 10.0,
    trace_after_s: float | None = None,
) -> Backlog:
    """A worker facing ``messages`` queued for its persistent session while it was away: the
    time to drain them, the worker's peak resident set, and every ``sample_s`` seconds its
    resident set and the broker's (the broker's only for a Mosquitto this benchmark started)."""
    truncate(url)
    client_id = f"bench-backlog-{uuid.uuid4().hex[:6]}"
    group = f"bench-{uuid.uuid4().hex[:6]}"
    # Subscribe once (the session and its subscription persist), go away, let data queue up.
    with workers(url, mqtt_url, 1, client_ids=[client_id], group=group):
        pass
    truncate(url)
    broker = _broker_pid()
    start = time.perf_counter()
    with publisher(mqtt_url, messages, lazy=True) as (go, done, _):
        go.set()
        done.wait()
    publish_s = time.perf_counter() - start
    queued = _status_kib(broker, "VmRSS") if broker else None
    print(  # noqa: T201
        f"backlog {messages:,}: published in {publish_s:.0f} s; broker RSS with it queued "
        + (f"{queued / 1024:.1f} MiB" if queued is not None else "unknown"),
        flush=True,
    )
    with (
        psycopg.connect(url, autocommit=True) as conn,
        workers(
            url,
            mqtt_url,
            1,
            client_ids=[client_id],
            group=group,
            receive_maximum=receive_maximum,
            batch=batch,
            trace_after_s=trace_after_s,
        ) as w,
    ):
        worker = w.processes[0].pid
        progress = _Progress(conn)  # counts from before the worker came back
        start = time.perf_counter()
        samples: list[Sample] = []
        stored, progress_at, next_sample = 0, start, start
        while True:
            now = time.perf_counter()
            if (n := progress.stored(messages)) > stored:
                stored, progress_at = n, now
            if stored >= messages or now - progress_at > BACKLOG_STALL_S:
                break
            if now >= next_sample:
                samples.append(_sample(now - start, stored, worker, broker))
                print(f"  {samples[-1]}", flush=True)  # noqa: T201
                next_sample += sample_s
            time.sleep(1.0)
        elapsed = (progress_at if stored < messages else time.perf_counter()) - start
        samples.append(_sample(elapsed, stored, worker, broker))
        peak = w.peak_rss_mib()[0]
    return Backlog(
        messages, elapsed, peak, receive_maximum, batch, stored, publish_s, tuple(samples)
    )


class _Progress:
    """Frames committed so far, without loading the server in proportion to the backlog: the
    insert counter of ``frames`` (``pg_stat_user_tables``) once a second, an exact ``count(*)``
    (a scan of all of ``frames``) only every :data:`EXACT_EVERY` polls and to confirm the end.
    Where the server's autovacuum is off (some development servers), ``frames`` and
    ``measurements`` are analysed as autovacuum would (once 10 % more rows came): without
    statistics the writer's probe for frames already stored is a hash join over all of
    ``frames``, in every batch, and a drain slows down as it goes."""

    EXACT_EVERY = 15

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        row = conn.execute("SHOW autovacuum").fetchone()
        self.autovacuum = bool(row and row[0] == "on")
        self.base = self._inserted()
        self.polls = 0
        self.known = 0
        self.analysed_at = 0

    def _inserted(self) -> int:
        row = self.conn.execute(
            "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relid = 'frames'::regclass"
        ).fetchone()
        return int(row[0]) if row else 0

    def stored(self, goal: int) -> int:
        self.polls += 1
        seen = self._inserted() - self.base  # inserts counted at commit, up to 1 s late
        if seen >= goal or self.polls % self.EXACT_EVERY == 0:
            row = self.conn.execute("SELECT count(*) FROM frames").fetchone()
            seen = row[0] if row else 0
        self.known = max(self.known, seen)
        if not self.autovacuum and self.known >= 50 + 1.1 * self.analysed_at:
            self.conn.execute("ANALYZE frames, measurement_rows")
            self.analysed_at = self.known
        return self.known


def _sample(at_s: float, stored: int, worker: int | None, broker: int | None) -> Sample:
    rss = _status_kib(broker, "VmRSS") if broker else None
    return Sample(round(at_s, 1), stored, _status_kib(worker, "VmRSS"), rss)


def _broker_pid() -> int | None:
    """The private broker this process started (Aedes: ``node``, or Mosquitto), or None. The
    benchmark runs one at a time; where a Mosquitto of this process outlives its use (the test
    suite's), a running Aedes is the one meant."""
    return _child_pid("node") or _child_pid("mosquitto")


def _child_pid(name: str) -> int | None:
    """A child process of this one with this command name (the private broker), or None."""
    return next(iter(_children(os.getpid(), name)), None)


def _children(parent: int | None, name: str | None = None) -> list[int]:
    """The child processes of ``parent`` (with this command name, if given)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)
            comm = fields[0].split("(", 1)[1]
            ppid = fields[1].split()[1]
        except (OSError, IndexError):
            continue
        if ppid == str(parent) and name in (None, comm):
            found.append(int(stat.parent.name))
    return found


def brokers() -> list[tuple[str, Callable[[], AbstractContextManager[str]]]]:
    """SOURCEWATCH_MQTT_URL's broker; else each private broker this machine can start (each
    as a function that starts it afresh)."""
    if url := os.environ.get("SOURCEWATCH_MQTT_URL"):
        return [("broker", lambda: nullcontext(url))]
    found: list[tuple[str, Callable[[], AbstractContextManager[str]]]] = []
    if mosquitto_binary() is not None:
        found.append(("Mosquitto", embedded_mosquitto))
    if aedes_command() is not None:
        found.append(("Aedes", embedded_aedes))
    return found


def chosen_brokers(
    only: str | None,
) -> list[tuple[str, Callable[[], AbstractContextManager[str]]]]:
    """:func:`brokers`, or only the one named (any case); saying so on stderr when the one named
    is not on this machine (Aedes needs Node.js and ``make install``'s npm packages), so that
    the end-to-end rows are not missing without a word."""
    found = brokers()
    chosen = [(name, start) for name, start in found if not only or name.lower() == only.lower()]
    if only and not chosen:
        have = ", ".join(name for name, _ in found) or "none"
        said = f"end to end: no {only} broker on this machine (found: {have})"
        print(said, file=sys.stderr)  # noqa: T201
    return chosen


@dataclass(frozen=True)
class IngestFigures:
    frames: int
    values: int
    rows: list[tuple[str, float, int, str]]  # (what, seconds, count, unit) in run order
    backlogs: list[tuple[str, Backlog]] = field(default_factory=list)  # (broker, figures)
    cpu: dict[str, CpuShare] = field(default_factory=dict)  # end-to-end row → its CPU shares
    runs: dict[str, Runs] = field(default_factory=dict)  # repeated row → count/s, round by round
    # the writer's rows without and with the completeness record → their runs, round by round
    writers: dict[str, list[WriterRun]] = field(default_factory=dict)

    def per_s(self, prefix: str) -> float | None:
        """Count per second of the first row whose name starts with ``prefix`` (for a repeated
        row: its median run's)."""
        for what, t, n, _ in self.rows:
            if what.startswith(prefix):
                return n / t
        return None

    def runs_of(self, prefix: str) -> Runs | None:
        """The rounds of the first repeated row whose name starts with ``prefix``."""
        return next((r for what, r in self.runs.items() if what.startswith(prefix)), None)


@dataclass(frozen=True)
class BacklogOptions:
    """What ``--backlog`` drains and how (the worker's settings default to the shipped ones)."""

    messages: tuple[int, ...] = ()
    receive_maximum: int = IngestSettings.model_fields["mqtt_receive_maximum"].default
    batch: int = IngestSettings.model_fields["batch_max_messages"].default
    sample_s: float = 10.0
    trace_after_s: float | None = None
    only: bool = False  # the backlog alone: no codec, COPY, writer or end-to-end runs


def measure(
    frames_n: int = 20_000,
    batch: int = 500,
    *,
    scale_out: bool = True,
    backlog: BacklogOptions = BacklogOptions(),
    only_broker: str | None = None,
    repeats: int = REPEATS,
) -> IngestFigures:
    admin = os.environ.get("SOURCEWATCH_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    chosen = chosen_brokers(only_broker)
    throughput = Throughput([], {}, {})
    backlogs: list[tuple[str, Backlog]] = []
    with fresh_database(admin) as url:
        if not backlog.only:
            with fresh_database(admin) as off_url:  # the writer without the record writes here
                throughput = _throughput(
                    url, off_url, make_frames(frames_n), batch, chosen, repeats
                )
        for name, start in chosen:
            shared = name != "Aedes"  # Aedes has no shared subscriptions (README)
            scaled = scale_out and shared and not backlog.only
            drains = backlog.messages if shared else ()  # a persistent shared session
            if not scaled and not drains:
                continue
            with start() as mqtt_url:
                if scaled:
                    t, n, share = bench_end_to_end(url, mqtt_url, frames_n, worker_count=2)
                    what = f"scale-out: {name} → 2 workers → database"
                    throughput.rows.append((what, t, n, "values"))
                    throughput.cpu[what] = share
                for b in drains:
                    figures = bench_backlog(
                        url,
                        mqtt_url,
                        b,
                        backlog.receive_maximum,
                        backlog.batch,
                        sample_s=backlog.sample_s,
                        trace_after_s=backlog.trace_after_s,
                    )
                    backlogs.append((name, figures))
    return IngestFigures(
        frames_n,
        frames_n * len(GAS),
        throughput.rows,
        backlogs,
        throughput.cpu,
        throughput.runs,
        throughput.writers,
    )


@dataclass(frozen=True)
class Throughput:
    rows: list[tuple[str, float, int, str]]
    cpu: dict[str, CpuShare]
    runs: dict[str, Runs]
    writers: dict[str, list[WriterRun]] = field(default_factory=dict)


def _throughput(
    url: str,
    off_url: str,
    frames: list[tuple[str, bytes]],
    batch: int,
    chosen: list[tuple[str, Callable[[], AbstractContextManager[str]]]],
    repeats: int,
) -> Throughput:
    """The codec alone, then in ``repeats`` rounds (:func:`~bench.repeat.rounds`: the order
    reversed every other round) the ceiling (plain COPY), the writer alone without and with the
    completeness record (as ingest writes; the two batch by batch in turn, :func:`bench_writers`,
    the one without it into the database at ``off_url``), and end to end through each broker
    (started afresh for each run); each run from empty tables (:func:`truncate`). Each row gives
    its median run; the CPU shares printed are the median end-to-end run's. The machine's load
    falls on every side alike, and a second run of the benchmark lands closer to the first than
    single runs do."""
    rows: list[tuple[str, float, int, str]] = []
    t, n = bench_decode(frames)
    rows.append(("codec alone (parse_packet, strict CRC)", t, n, "frames"))
    accepted = decoded(url, frames)
    with psycopg.connect(url) as conn, psycopg.connect(off_url) as off_conn:
        if load_outlets(conn) != load_outlets(off_conn):  # the values cite their ids
            raise RuntimeError("the two databases' outlets differ")

    def end_to_end(
        side: str, start: Callable[[], AbstractContextManager[str]], shared: bool
    ) -> Callable[[], None]:
        def run() -> None:
            with start() as mqtt_url:
                measured[side].append(bench_end_to_end(url, mqtt_url, len(frames), shared=shared))

        return run

    copy, off, on = (
        "ceiling: plain COPY of the same rows",
        "writer, completeness record off",
        "writer, completeness record on",
    )
    writers: dict[str, list[WriterRun]] = {off: [], on: []}

    def ceiling() -> None:
        measured[copy].append((*bench_copy(url, accepted, passes), None))

    # At the quick size a writer's pass is 10 batches a side and the COPY's a third of a
    # second: a single stall on a shared machine moved a side by a fifth. Each round writes the
    # frames as often as it takes to write WRITER_FRAMES (the default size once; the quick
    # size's 5,000 four times), the COPY as often.
    passes = -(-WRITER_FRAMES // len(frames))

    def both_writers() -> None:
        runs = bench_writers(off_url, url, accepted, batch, passes)
        for side, run in zip((off, on), runs, strict=True):
            writers[side].append(run)
            measured[side].append((run.seconds, run.values, None))

    sides: dict[str, Callable[[], None]] = {copy: ceiling, f"{off} / on": both_writers}
    for name, start in chosen:
        e2e = f"end to end: {name} → worker → database"
        sides[e2e] = end_to_end(e2e, start, name != "Aedes")
    measured: dict[str, list[tuple[float, int, CpuShare | None]]] = {
        s: [] for s in (copy, off, on, *list(sides)[2:])
    }
    for _, side in rounds(list(sides), repeats):
        sides[side]()
    # "writer alone" is the writer as ingest runs it, with the record: the same runs as "on"
    writer = f"writer alone (batches of {batch}: COPY + merge)"
    measured[writer] = measured[on]
    runs: dict[str, Runs] = {}
    cpu: dict[str, CpuShare] = {}
    for side in (copy, writer, off, on, *list(sides)[2:]):
        runs[side] = Runs(tuple(n / t for t, n, _ in measured[side]))
        _, n, share = measured[side][runs[side].median_index()]
        rows.append((side, n / runs[side].median, n, "values"))
        if share is not None:
            cpu[side] = share
    return Throughput(rows, cpu, runs, writers)


def report(figures: IngestFigures) -> None:
    if figures.rows:
        print(f"{figures.frames:,} frames, {figures.values:,} values, {OUTLETS} outlets")  # noqa: T201
        print(f"{'what':<52} {'seconds':>8} {'per second':>14}")  # noqa: T201
    for what, t, n, unit in figures.rows:
        per_frame = figures.values / figures.frames  # a row may write the frames more than once
        extra = f"  ({n / per_frame / t:,.0f} frames/s)" if unit == "values" else ""
        if (runs := figures.runs.get(what)) and len(runs) > 1:
            extra += f"; {runs.describe(lambda v: f'{v:,.0f}')} {unit}/s"
        print(f"{what:<52} {t:8.2f} {n / t:>10,.0f} {unit}/s{extra}")  # noqa: T201
        if what in figures.cpu:
            print(f"  {figures.cpu[what].describe()}")  # noqa: T201
        if what.startswith("writer, completeness record on") and len(figures.writers) == 2:
            print(f"  {_writers_cpu(*figures.writers.values())}")  # noqa: T201
    for name, b in figures.backlogs:
        short = "" if b.stored >= b.messages else f" (STALLED: {b.stored:,} stored)"
        print(  # noqa: T201
            f"backlog of {b.messages:,} queued messages ({name}, Receive Maximum "
            f"{b.receive_maximum}, batch {b.batch}): published in {b.publish_s:.0f} s, drained "
            f"in {b.drain_s:.1f} s ({b.rate:,.0f} frames/s){short}, worker peak RSS "
            f"{b.peak_rss_mib:.1f} MiB"
        )
        rss = [s.worker_rss_kib / 1024 for s in b.samples if s.worker_rss_kib]
        brk = [s.broker_rss_kib / 1024 for s in b.samples if s.broker_rss_kib]
        if rss:
            print(  # noqa: T201
                f"  worker RSS over {len(rss)} samples: {min(rss):.1f}–{max(rss):.1f} MiB, "
                f"first {rss[0]:.1f}, last {rss[-1]:.1f}"
                + (f"; broker RSS {brk[0]:.1f} → {brk[-1]:.1f} MiB" if brk else "")
            )


def _writers_cpu(off: list[WriterRun], on: list[WriterRun]) -> str:
    """The CPU time of the writer's runs without and with the completeness record (this
    process and the server's backend; the other helpers and services of a shared machine take
    none of it), their medians and the rate with over without it, round by round."""
    ratios = [o.cpu_s / n.cpu_s for o, n in zip(off, on, strict=True) if n.cpu_s]
    if not ratios:
        return "CPU of the writer: unknown"
    return (
        f"CPU of the writer (this process + its backend), median: off "
        f"{statistics.median(r.cpu_s for r in off):.2f} s, on "
        f"{statistics.median(r.cpu_s for r in on):.2f} s; on / off by CPU, round by round: "
        + " ".join(f"{100 * r:.0f} %" for r in ratios)
        + f" (median {100 * statistics.median(ratios):.1f} %)"
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--broker", help="only this broker (Mosquitto, Aedes)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=REPEATS,
        help="rounds of the COPY, the writers and end to end, alternating (medians reported)",
    )
    parser.add_argument(
        "--no-scale-out", action="store_true", help="skip two workers on a shared subscription"
    )
    parser.add_argument(
        "--backlog",
        type=int,
        action="append",
        default=[],
        help="also drain a backlog of this many queued messages (repeatable), with RSS",
    )
    parser.add_argument(
        "--backlog-only", action="store_true", help="only the backlog (no throughput runs)"
    )
    defaults = BacklogOptions()
    parser.add_argument(
        "--receive-maximum",
        type=int,
        default=defaults.receive_maximum,
        help="the draining worker's Receive Maximum (default: the shipped one)",
    )
    parser.add_argument(
        "--backlog-batch",
        type=int,
        default=defaults.batch,
        help="the draining worker's batch size (default: the shipped one)",
    )
    parser.add_argument(
        "--sample-s",
        type=float,
        default=defaults.sample_s,
        help="seconds between samples of the worker's and the broker's RSS during a drain",
    )
    parser.add_argument(
        "--tracemalloc",
        type=float,
        metavar="SECONDS",
        help="trace the draining worker's allocations; print what grew from SECONDS to the end",
    )
    return parser


def main() -> None:
    args = parser().parse_args()
    report(
        measure(
            args.frames,
            args.batch,
            scale_out=not args.no_scale_out,
            backlog=BacklogOptions(
                tuple(args.backlog),
                args.receive_maximum,
                args.backlog_batch,
                args.sample_s,
                args.tracemalloc,
                args.backlog_only,
            ),
            only_broker=args.broker,
            repeats=args.repeats,
        )
    )


if __name__ == "__main__":
    main()
