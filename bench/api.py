"""API benchmark: a real uvicorn server on 127.0.0.1 over a year of hourly means, beside the
ceiling (the same SQL run directly with psycopg). The server runs as ``sourcewatch api`` does,
one worker process per core (``--workers`` sets how many; with 1 it runs in a thread).

    make bench                       # defaults: 1,000 outlets × 365 days of hourly means
    python -m bench.api --outlets 200 --days 90 --requests 100

Loads ``outlets`` enterprises (bilingual names, for search), one gas outlet each and one
pollutant (SO₂, a21026) per outlet: ``outlets × days × 24`` rows into ``hourly_means`` by COPY,
into a fresh database (:func:`bench.ingest.fresh_database`). Then, for each endpoint, N
sequential requests from one keep-alive client (p50/p99 latency, requests/s) and the same N
(the JSON page: at least :data:`CONCURRENT_PAGES`, the CSV: :data:`CONCURRENT_CSV`) spread
evenly over ``--concurrency`` clients, each in its own process (:mod:`bench.http_client`)
(requests/s), beside the statements the endpoint runs, timed directly on one psycopg
connection:

* an outlet-year of hourly means (each outlet with an hourly SO₂ limit, so that means are
  judged), one JSON page of 1,000 points, and the CSV of the whole year; the SQL beside them is
  everything the endpoint asks (the outlet, the limit calendar, the count and page or every
  point through a server-side cursor), and the point queries alone are printed too;
* the enterprise search ``/v1/enterprises?q=…`` (a name substring, one JSON page);
* memory (``--raw-days``): one API process's peak RSS after streaming one day of raw minute
  values as CSV, one week (the most one raw request may ask for), then every week of a year.

Settings: SOURCEWATCH_BENCH_DSN (an admin DSN; a fresh database is created and dropped).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx2
import psycopg
from psycopg import sql

from api.queries import enterprises as enterprise_queries
from api.queries import measurements as series_queries
from api.queries import outlets as outlet_queries
from api.queries.limits import limit_calendar
from api.responses import LOCAL_TZ
from api.server import build_server, worker_count
from api.settings import ApiSettings
from bench.ingest import fresh_database

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
POLLUTANT = "a21026"
LIMIT = 50  # mg/m³ at 6 % O₂: some converted means (38–63) exceed it
SEARCH = "热电"  # in the name of one enterprise in 8 (INDUSTRIES)
INDUSTRIES = [
    ("热电", "Thermal Power"),
    ("水泥", "Cement"),
    ("钢铁", "Steel"),
    ("化工", "Chemical"),
    ("造纸", "Paper"),
    ("污水处理", "Wastewater"),
    ("玻璃", "Glass"),
    ("制药", "Pharma"),
]
CITIES = [("杭州", "Hangzhou"), ("宁波", "Ningbo"), ("温州", "Wenzhou"), ("嘉兴", "Jiaxing")]


# --- Data ---------------------------------------------------------------------------------------


def load(url: str, outlets: int, days: int) -> tuple[int, float]:
    """Enterprises, outlets and their hourly means; returns (rows of hourly means, seconds)."""
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.cursor() as cur:
            with cur.copy(
                "COPY enterprises (uscc, name_zh, name_en, district, industry, control_level) "
                "FROM STDIN"
            ) as copy:
                for i in range(outlets):
                    (ind_zh, ind_en), (city_zh, city_en) = INDUSTRIES[i % 8], CITIES[i % 4]
                    copy.write_row(
                        (
                            f"9144{i:014d}",
                            f"{city_zh}{ind_zh}有限公司第{i}厂",
                            f"{city_en} {ind_en} Co. Plant {i}",
                            f"{city_zh}市",
                            ind_en.lower(),
                            "provincial",
                        )
                    )
            cur.execute(
                "INSERT INTO outlets (enterprise_id, mn, name_zh, kind, password) "
                "SELECT id, 'API' || lpad(id::text, 21, '0'), '1号排口', 'gas', '123456' "
                "FROM enterprises WHERE uscc LIKE '9144%%' ORDER BY id"
            )
            ids = [r[0] for r in cur.execute("SELECT id FROM outlets ORDER BY id")]
            # an hourly SO₂ limit of each outlet's permit, so that the API judges the means
            cur.execute(
                "INSERT INTO outlet_limits (outlet_id, pollutant, value, unit, period, "
                "reference_o2, source_document, clause, valid_from) "
                "SELECT id, %s, %s, 'mg/m³', 'hour', 6, '排污许可证 bench', '表 1', '2024-01-01' "
                "FROM outlets",
                (POLLUTANT, LIMIT),
            )
        hours = days * 24
        rng = random.Random(212)
        # One year of one outlet as COPY text, the outlet id left as the first column.
        lines = []
        for h in range(hours):
            start = (YEAR_START + timedelta(hours=h)).isoformat()
            mean = round(30 + 25 * rng.random(), 2)
            valid = "f" if h % 97 == 0 else "t"
            reason = "20 valid minutes < 45" if valid == "f" else "\\N"
            lines.append(
                f"\t{POLLUTANT}\t{start}\tmin\t{mean}\t{mean + 5}\t{mean + 8}\t8.9\t"
                f"{58 if valid == 't' else 20}\t60\t{valid}\t{reason}\t"
                '{"N": 58, "D": 2}\n'
            )
        block = "".join(lines)
        started = time.perf_counter()
        with conn.cursor() as cur:
            cols = sql.SQL(
                "outlet_id, pollutant, hour_start, source, mean, zs_reported, converted, "
                "o2_mean, valid_count, expected_count, valid, reason, flags"
            )
            with cur.copy(sql.SQL("COPY hourly_means ({}) FROM STDIN").format(cols)) as copy:
                for outlet in ids:
                    prefix = str(outlet)
                    copy.write(prefix + block.replace("\n", "\n" + prefix)[: -len(prefix)])
        # VACUUM as well as ANALYZE: a year of hourly means on a deployment has long been
        # vacuumed by autovacuum (its inserts trigger it), so its pages are all-visible and the
        # count's index-only scan reads no heap; a table fresh from COPY is not, and where the
        # server's autovacuum is off (this machine's CI configuration) it never becomes so: the
        # count then fetched every one of its 8,760 rows from the heap (bench/README.md,
        # twelfth round).
        for table in ("enterprises", "outlets", "hourly_means"):
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
        return len(ids) * hours, time.perf_counter() - started


# --- Measuring ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    what: str
    p50_ms: float
    p99_ms: float
    per_s: float
    concurrent_per_s: float | None = None


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timing(what: str, times: Sequence[float], total: float, concurrent: float | None) -> Timing:
    return Timing(
        what,
        1000 * percentile(times, 0.5),
        1000 * percentile(times, 0.99),
        len(times) / total,
        concurrent,
    )


def time_calls(call: Callable[[int], Any], n: int) -> tuple[list[float], float]:
    """n sequential calls (argument: the call's number); their latencies and the total time."""
    call(0)  # warm up
    times = []
    started = time.perf_counter()
    for i in range(n):
        t = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - t)
    return times, time.perf_counter() - started


def http_get(client: httpx2.Client, path: str) -> int:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:200])
    return len(response.content)


def concurrent_rate(base: str, paths: list[str], concurrency: int) -> float:
    """Requests/s of ``paths`` spread over ``concurrency`` client processes
    (:mod:`bench.http_client`), each warmed up with its paths: the requests done while every
    client was still sending, over the time from the start to when the first client was done.
    Not to the last one's end: with a few requests each (12–13 at ``--quick`` before
    :data:`CONCURRENT_PAGES`) the clients ended 0.05–0.12 s apart, up to a sixth of the phase
    with fewer than ``concurrency`` requests in flight, and that tail, not the server, decided
    the figure. The requests in flight when the first client is done count for the part of them
    done by then (:func:`_done_by`): counting the ended ones only, 5 CSV downloads over 4
    clients (one each, one client two) counted the first one to end and none of the three
    others nearly done, and the figure was a third of one client's (bench/README.md,
    twenty-third round)."""
    concurrency = min(concurrency, len(paths))
    clients = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.http_client", base],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(concurrency)
    ]
    try:
        for k, client in enumerate(clients):
            assert client.stdin is not None
            client.stdin.write("".join(p + "\n" for p in paths[k::concurrency]) + "\n")
            client.stdin.flush()
        for client in clients:
            assert client.stdout is not None
            if client.stdout.readline().strip() != "ready":
                raise RuntimeError("a client process did not start")
        started = time.monotonic()
        for client in clients:
            assert client.stdin is not None
            client.stdin.write("go\n")
            client.stdin.flush()
        runs = [
            [float(t) for t in c.stdout.readline().split()] for c in clients if c.stdout is not None
        ]
    except BaseException:
        for client in clients:
            client.kill()
        raise
    finally:
        for client in clients:
            client.wait(timeout=60)
    first_done = min(run[-1] for run in runs)
    return sum(_done_by(run, first_done) for run in runs) / (first_done - started)


def _done_by(run: list[float], at: float) -> float:
    """How many of its requests a client (``run``: when it began, then when each request ended)
    had done at ``at``: those ended by then, and of the one in flight the part of its time
    (from the end of the one before) that had passed."""
    began, ends = run[0], run[1:]
    done = sum(t <= at for t in ends)
    if done == len(ends):
        return done
    since = began if done == 0 else ends[done - 1]
    return done + (at - since) / (ends[done] - since)


# Pages of the JSON page's concurrent phase at least (the paths cycle over the outlets again):
# with the 50 of ``--quick`` each of 4 clients sent 12–13 and the phase lasted under a second,
# so that one stall of 50–100 ms (a process of the machine taking a core) moved the 4-vs-1
# figure by 5–15 % (bench/README.md, tenth and twelfth rounds).
CONCURRENT_PAGES = 200
# CSV downloads of the year's concurrent phase at least: the 5 of ``--quick`` gave 4 clients one
# or two each, a phase of one download's time in which a stall decided the figure
# (bench/README.md, twenty-third round).
CONCURRENT_CSV = 32


def bench_http(
    base: str,
    what: str,
    paths: Callable[[int], str],
    n: int,
    concurrency: int,
    *,
    concurrent_n: int | None = None,
) -> Timing:
    """``n`` requests from one client, then ``concurrent_n`` (default ``n``), rounded up to
    a multiple of ``concurrency`` (the paths go on), spread over ``concurrency`` client
    processes (:func:`concurrent_rate`): each client sends as many."""
    with httpx2.Client(base_url=base, timeout=60) as client:
        for i in range(n):  # every outlet read once before either phase, not by the first only
            http_get(client, paths(i))
    times, total = _one_client(base, paths, n)
    each = -(-(concurrent_n or n) // concurrency)
    spread = [paths(i) for i in range(each * concurrency)]
    concurrent = concurrent_rate(base, spread, concurrency)
    return timing(what, times, total, concurrent)


def bench_http_identity(base: str, what: str, paths: Callable[[int], str], n: int) -> Timing:
    """:func:`bench_http` from one client that does not accept gzip (``Accept-Encoding:
    identity``): the same requests without the server's gzip and the client's gunzip, which
    the SQL beside them does not do either."""
    times, total = _one_client(base, paths, n, {"Accept-Encoding": "identity"})
    return timing(what, times, total, None)


def _one_client(
    base: str, paths: Callable[[int], str], n: int, headers: dict[str, str] | None = None
) -> tuple[list[float], float]:
    """The ``n`` requests timed one after the other from one client."""
    with httpx2.Client(base_url=base, timeout=60, headers=headers) as client:
        return time_calls(lambda i: http_get(client, paths(i)), n)


def bench_sql(url: str, what: str, statements: Callable[[int], list[Any]], n: int) -> Timing:
    """Statements on one connection, in one transaction, rows fetched as dicts."""
    with psycopg.connect(url) as conn:

        def run(i: int) -> None:
            with conn.transaction(), conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
                for s in statements(i):
                    cur.execute(s.query, s.params)
                    cur.fetchall()

        times, total = time_calls(run, n)
    return timing(what, times, total, None)


def bench_endpoint_sql(
    url: str, days: int, outlet: Callable[[int], int], n: int, *, page: bool
) -> Timing:
    """What the series endpoint asks the database, on one connection, rows fetched as dicts,
    in the endpoint's transactions: the outlet; the limit calendar of the period (its change
    days, then the limits of each stretch); then the count and a page of 1,001 points, or
    (``page`` false, the CSV) every point through a server-side cursor, 1,000 at a time."""
    first = YEAR_START.astimezone(LOCAL_TZ).date()
    last = (YEAR_START + timedelta(days=days, microseconds=-1)).astimezone(LOCAL_TZ).date()
    with psycopg.connect(url) as conn:

        def run(i: int) -> None:
            o, f = outlet(i), series_filter(outlet(i), days)
            with conn.transaction(), conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
                one = outlet_queries.one(o)
                cur.execute(one.query, one.params).fetchall()
            with conn.transaction():
                limit_calendar(conn, o, first, last)
            if page:
                with conn.transaction(), conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
                    for s in (
                        series_queries.count("hour", f),
                        series_queries.points("hour", f, after=None, limit=1001),
                    ):
                        cur.execute(s.query, s.params).fetchall()
                return
            points = series_queries.points("hour", f, after=None, limit=None)
            with (
                conn.transaction(),
                conn.cursor(name="bench_stream", row_factory=psycopg.rows.dict_row) as cur,
            ):
                cur.itersize = 1000
                cur.execute(points.query, points.params)
                for _ in cur:
                    pass

        times, total = time_calls(run, n)
    return timing("", times, total, None)


def series_filter(outlet: int, days: int) -> series_queries.SeriesFilter:
    end = YEAR_START + timedelta(days=days)
    return series_queries.SeriesFilter(
        outlet_id=outlet,
        start=YEAR_START,
        end=end,
        first_day=date(2024, 12, 31),
        end_day=end.date() + timedelta(days=1),
        timezone="Asia/Shanghai",
        flag_standard="hj212-2017",
        pollutant=None,
    )


# --- Server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ApiFigures:
    args: argparse.Namespace
    rows: int  # hourly means loaded
    load_s: float
    results: list[tuple[Timing, Timing]]  # (HTTP, the same SQL): JSON page, CSV year, search
    queries_only: list[Timing]  # the page's and the year's point queries alone (earlier ceiling)
    memory: Memory | None  # the server's RSS streaming raw values
    identity: list[Timing]  # the JSON page and the CSV without gzip (bench_http_identity)


def measure(args: argparse.Namespace) -> ApiFigures:
    admin = os.environ.get("SOURCEWATCH_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    n, days = args.requests, min(args.days, 366)
    end = (YEAR_START + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    window = f"resolution=hour&start=2025-01-01T00:00:00Z&end={end}"
    with fresh_database(admin, outlets=0) as url:
        rows, load_s = load(url, args.outlets, days)
        with psycopg.connect(url) as conn:
            outlets = [int(r[0]) for r in conn.execute("SELECT id FROM outlets ORDER BY id")]

        def outlet(i: int) -> int:
            return outlets[(i * 7919) % len(outlets)]  # a different outlet each time

        def page(i: int) -> list[Any]:
            f = series_filter(outlet(i), days)
            return [
                series_queries.count("hour", f),
                series_queries.points("hour", f, after=None, limit=1001),
            ]

        def year(i: int) -> list[Any]:
            return [
                series_queries.points(
                    "hour", series_filter(outlet(i), days), after=None, limit=None
                )
            ]

        def search(_: int) -> list[Any]:
            f = enterprise_queries.EnterpriseFilter(q=SEARCH)
            return [enterprise_queries.count(f), enterprise_queries.select(f, "id", 100, 0)]

        settings = ApiSettings(
            database_url=url,
            api_port=free_port(),
            api_rate_limit_per_minute=0,
            api_workers=args.workers,
            # the concurrent CSV clients all come from 127.0.0.1: one download each at once
            api_streams_per_client=max(args.concurrency, 2),
        )

        def page_path(i: int) -> str:
            return f"/v1/outlets/{outlet(i)}/measurements?{window}&limit=1000"

        def csv_path(i: int) -> str:
            return f"/v1/outlets/{outlet(i)}/measurements?{window}&format=csv"

        results: list[tuple[Timing, Timing]] = []
        with api_server(settings) as base:
            results.append(
                (
                    bench_http(
                        base,
                        "hourly series, JSON page of 1,000",
                        page_path,
                        n,
                        args.concurrency,
                        concurrent_n=max(n, CONCURRENT_PAGES),
                    ),
                    bench_endpoint_sql(url, days, outlet, n, page=True),
                )
            )
            results.append(
                (
                    bench_http(
                        base,
                        f"hourly series, CSV of {days * 24:,} points",
                        csv_path,
                        args.csv_requests,
                        args.concurrency,
                        concurrent_n=max(args.csv_requests, CONCURRENT_CSV),
                    ),
                    bench_endpoint_sql(url, days, outlet, args.csv_requests, page=False),
                )
            )
            identity = [
                bench_http_identity(base, "JSON page", page_path, n),
                bench_http_identity(base, "CSV", csv_path, args.csv_requests),
            ]
            results.append(
                (
                    bench_http(
                        base,
                        f"enterprise search q={SEARCH}",
                        lambda _: f"/v1/enterprises?q={SEARCH}",
                        n,
                        args.concurrency,
                    ),
                    bench_sql(url, "", search, n),
                )
            )
        queries_only = [bench_sql(url, "", page, n), bench_sql(url, "", year, args.csv_requests)]
        memory = measure_memory(url, outlets[0], args.raw_days) if args.raw_days else None
    return ApiFigures(args, rows, load_s, results, queries_only, memory, identity)


# --- Memory: the server streaming a year of raw values ------------------------------------------


@dataclass(frozen=True)
class Memory:
    raw_days: int
    values: int  # raw values loaded (minute values of one pollutant)
    bytes_day: int  # CSV bytes of the one-day download
    bytes_all: int  # CSV bytes of every download of the period
    started_kib: int  # the server process's RSS before any download
    peak_day_kib: int  # its peak RSS (VmHWM) after one day's download
    peak_week_kib: int  # … after a week's (the longest period one raw request may ask for)
    peak_all_kib: int  # … after the whole period, a week per request
    rss_all_kib: int  # its RSS at the end


def load_raw(url: str, outlet: int, days: int) -> int:
    """Minute values of one pollutant for ``days`` days from YEAR_START, by COPY (into the view
    ``measurements``: its trigger splits the values as migration 0024 keeps them)."""
    rng = random.Random(16)
    minutes = days * 24 * 60
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
        copy_sql = (
            "COPY measurements (outlet_id, pollutant, kind, ts, value, zs_value, flag, "
            "received_at) FROM STDIN"
        )
        with cur.copy(copy_sql) as copy:
            for m in range(minutes):
                ts = YEAR_START + timedelta(minutes=m)
                value = round(30 + 25 * rng.random(), 3)
                copy.write_row((outlet, POLLUTANT, "min", ts, value, value + 8, "N", ts))
        conn.execute("ANALYZE measurement_rows")
    return minutes


def _memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in KiB (Linux)."""
    figures = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                figures[name] = int(value.split()[0])
    return figures


def _download(client: httpx2.Client, outlet: int, start: datetime, days: int) -> int:
    end = start + timedelta(days=days)
    params = {
        "resolution": "raw",
        "format": "csv",
        "start": start.isoformat(),
        "end": end.isoformat(),
    }
    size = 0
    with client.stream("GET", f"/v1/outlets/{outlet}/measurements", params=params) as response:
        assert response.status_code == 200, response.status_code
        for chunk in response.iter_raw():
            size += len(chunk)
    return size


def measure_memory(url: str, outlet: int, days: int) -> Memory:
    """The peak RSS of one API process (its own, no bench code in it) after streaming one
    day of raw values as CSV, then a week (the most one request may ask for), then every week
    of ``days`` one after the other, as a client fetching a year must."""
    values = load_raw(url, outlet, days)
    settings = ApiSettings(
        database_url=url, api_port=free_port(), api_rate_limit_per_minute=0, api_workers=1
    )
    with (
        api_server_process(settings, own_process=True) as (base, pid),
        httpx2.Client(base_url=base, timeout=120, headers={"Accept-Encoding": "identity"}) as c,
    ):
        started = _memory_kib(pid)["VmRSS"]
        bytes_day = _download(c, outlet, YEAR_START, 1)
        peak_day = _memory_kib(pid)["VmHWM"]
        bytes_all = _download(c, outlet, YEAR_START, 7)
        peak_week = _memory_kib(pid)["VmHWM"]
        for week in range(1, (days + 6) // 7):
            start = YEAR_START + timedelta(days=7 * week)
            bytes_all += _download(c, outlet, start, min(7, days - 7 * week))
        end = _memory_kib(pid)
    return Memory(
        days,
        values,
        bytes_day,
        bytes_all,
        started,
        peak_day,
        peak_week,
        end["VmHWM"],
        end["VmRSS"],
    )


@contextmanager
def api_server(settings: ApiSettings) -> Iterator[str]:
    """The API on ``settings.api_port``: in a thread with one worker, else as ``sourcewatch
    api`` runs it (``python -m api``, its worker processes); yields its base URL."""
    with api_server_process(settings, own_process=worker_count(settings) > 1) as (base, _):
        yield base


@contextmanager
def api_server_process(settings: ApiSettings, *, own_process: bool) -> Iterator[tuple[str, int]]:
    """:func:`api_server`, in this process (a thread) or as ``python -m api``; yields its base
    URL and the id of the process that serves (with one worker, the one that answers)."""
    base = f"http://127.0.0.1:{settings.api_port}"
    if not own_process:
        server = build_server(settings)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield base, os.getpid()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        return
    env = {
        **os.environ,
        "SOURCEWATCH_DATABASE_URL": settings.database_url,
        "SOURCEWATCH_API_PORT": str(settings.api_port),
        "SOURCEWATCH_API_WORKERS": str(settings.api_workers),
        "SOURCEWATCH_API_RATE_LIMIT_PER_MINUTE": str(settings.api_rate_limit_per_minute),
        "SOURCEWATCH_API_STREAMS_PER_CLIENT": str(settings.api_streams_per_client),
        "SOURCEWATCH_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen([sys.executable, "-m", "api"], env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            try:
                if httpx2.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx2.TransportError:
                time.sleep(0.2)
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def report(figures: ApiFigures) -> None:
    args, rows, load_s, results = figures.args, figures.rows, figures.load_s, figures.results
    n, days = args.requests, min(args.days, 366)
    print(  # noqa: T201
        f"{args.outlets:,} outlets × {days} days: {rows:,} hourly means loaded by COPY in "
        f"{load_s:.1f} s ({rows / load_s:,.0f} rows/s); {n} requests per JSON endpoint, "
        f"{args.csv_requests} per CSV, {args.concurrency} concurrent clients, "
        f"{worker_count(ApiSettings(api_workers=args.workers))} API worker process(es)"
    )
    head = (
        f"{'what':<36} {'HTTP p50':>9} {'p99':>8} {'req/s':>7} {'req/s ×' + str(args.concurrency):>9}"
        f" │ {'SQL p50':>8} {'p99':>8} {'q/s':>7}"
    )
    print(head)  # noqa: T201
    for http, db in results:
        print(  # noqa: T201
            f"{http.what:<36} {http.p50_ms:7.1f}ms {http.p99_ms:6.1f}ms {http.per_s:7.1f} "
            f"{http.concurrent_per_s or 0:9.1f} │ {db.p50_ms:6.1f}ms {db.p99_ms:6.1f}ms "
            f"{db.per_s:7.1f}"
        )
    print(  # noqa: T201
        "SQL: the series rows are the endpoint's every statement (outlet, limit calendar, "
        "count and page, or every point by a server-side cursor); the point queries alone: "
        + ", ".join(f"p50 {t.p50_ms:.1f} ms" for t in figures.queries_only)
    )
    print(  # noqa: T201
        "HTTP with gzip as the client above asks (Accept-Encoding: gzip, deflate), which the SQL "
        "does not do; without it (identity), one client: "
        + ", ".join(f"{t.what} p50 {t.p50_ms:.1f} ms" for t in figures.identity)
    )
    m = figures.memory
    if m is not None:
        print(  # noqa: T201
            f"memory, one API process streaming raw values as CSV ({m.values:,} minute values, "
            f"{m.raw_days} days): RSS {m.started_kib / 1024:.1f} MiB at start; peak "
            f"{m.peak_day_kib / 1024:.1f} MiB after a day ({m.bytes_day / 1e6:.2f} MB), "
            f"{m.peak_week_kib / 1024:.1f} MiB after a week, {m.peak_all_kib / 1024:.1f} MiB "
            f"after all {m.raw_days} days a week per request ({m.bytes_all / 1e6:.1f} MB); "
            f"RSS at the end {m.rss_all_kib / 1024:.1f} MiB"
        )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outlets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365, help="at most 366 (one request)")
    parser.add_argument("--requests", type=int, default=200, help="per JSON endpoint")
    parser.add_argument("--csv-requests", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--raw-days",
        type=int,
        default=365,
        help="memory: days of raw minute values streamed, a week per request (0: skip)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="API worker processes, as SOURCEWATCH_API_WORKERS (default 0: one per core)",
    )
    return parser


def main() -> None:
    report(measure(parser().parse_args()))


if __name__ == "__main__":
    main()
