"""API benchmark: a real uvicorn server on 127.0.0.1 over a year of hourly means, beside the
ceiling (the same SQL run directly with psycopg). The server runs as ``sourcewatch api`` does,
one worker process per core (``--workers`` sets how many; with 1 it runs in a thread).

    make bench                       # defaults: 1,000 outlets × 365 days of hourly means
    python -m bench.api --outlets 200 --days 90 --requests 100

Loads ``outlets`` enterprises (bilingual names, for search), one gas outlet each and one
pollutant (SO₂, a21026) per outlet: ``outlets × days × 24`` rows into ``hourly_means`` by COPY,
into a fresh database (:func:`bench.ingest.fresh_database`). Then, for each endpoint, N
sequential requests from one keep-alive client (p50/p99 latency, requests/s) and the same N
spread over ``--concurrency`` clients (requests/s), beside the query the endpoint runs, timed
directly on one psycopg connection:

* an outlet-year of hourly means, one JSON page of 1,000 points, and the CSV of the whole year;
* the enterprise search ``/v1/enterprises?q=…`` (a name substring, one JSON page).

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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx2
import psycopg
from psycopg import sql

from api.queries import enterprises as enterprise_queries
from api.queries import measurements as series_queries
from api.server import build_server, worker_count
from api.settings import ApiSettings
from bench.ingest import fresh_database

YEAR_START = datetime(2025, 1, 1, tzinfo=UTC)
POLLUTANT = "a21026"
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
        conn.execute("ANALYZE enterprises")
        conn.execute("ANALYZE outlets")
        conn.execute("ANALYZE hourly_means")
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


def bench_http(
    base: str, what: str, paths: Callable[[int], str], n: int, concurrency: int
) -> Timing:
    with httpx2.Client(base_url=base, timeout=60) as client:
        times, total = time_calls(lambda i: http_get(client, paths(i)), n)
    clients = [httpx2.Client(base_url=base, timeout=60) for _ in range(concurrency)]
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            started = time.perf_counter()
            list(pool.map(lambda i: http_get(clients[i % concurrency], paths(i)), range(n)))
            concurrent = n / (time.perf_counter() - started)
    finally:
        for c in clients:
            c.close()
    return timing(what, times, total, concurrent)


def bench_sql(url: str, what: str, statements: Callable[[int], list[Any]], n: int) -> Timing:
    """The endpoint's statements on one connection, in one transaction each, rows fetched."""
    with psycopg.connect(url) as conn:

        def run(i: int) -> None:
            with conn.transaction(), conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
                for s in statements(i):
                    cur.execute(s.query, s.params)
                    cur.fetchall()

        times, total = time_calls(run, n)
    return timing(what, times, total, None)


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
        )
        results: list[tuple[Timing, Timing]] = []
        with api_server(settings) as base:
            results.append(
                (
                    bench_http(
                        base,
                        "hourly series, JSON page of 1,000",
                        lambda i: f"/v1/outlets/{outlet(i)}/measurements?{window}&limit=1000",
                        n,
                        args.concurrency,
                    ),
                    bench_sql(url, "", page, n),
                )
            )
            results.append(
                (
                    bench_http(
                        base,
                        f"hourly series, CSV of {days * 24:,} points",
                        lambda i: f"/v1/outlets/{outlet(i)}/measurements?{window}&format=csv",
                        args.csv_requests,
                        args.concurrency,
                    ),
                    bench_sql(url, "", year, args.csv_requests),
                )
            )
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
    return ApiFigures(args, rows, load_s, results)


@contextmanager
def api_server(settings: ApiSettings) -> Iterator[str]:
    """The API on ``settings.api_port``: in a thread with one worker, else as ``sourcewatch
    api`` runs it (``python -m api``, its worker processes); yields its base URL."""
    base = f"http://127.0.0.1:{settings.api_port}"
    if worker_count(settings) == 1:
        server = build_server(settings)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            yield base
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
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
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


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--outlets", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365, help="at most 366 (one request)")
    parser.add_argument("--requests", type=int, default=200, help="per JSON endpoint")
    parser.add_argument("--csv-requests", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
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
