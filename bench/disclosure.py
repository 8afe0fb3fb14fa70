"""Disclosure benchmark: what tamper evidence and the disclosure workflow cost.

    make bench                                  # defaults: 5,000 automatic, 500 staff records
    python -m bench.disclosure --records 20000 --staff 1000 --requests 50
    SOURCEWATCH_BENCH_DISCLOSURE_RECORDS=20000 python -m bench.disclosure

On a fresh database (:func:`bench.ingest.fresh_database`: migrated, reference data, one
enterprise with 20 outlets):

1. Publication, one record per transaction as the alerts process does:
   * the baseline: plain INSERTs of the same ``daily_summary`` rows (content validated and
     titled beforehand) into ``disclosure_records``, already published, no log;
   * ``publish_automatic`` with the publication log switched off (``ledger.append`` a no-op):
     content validation, titles, the advisory lock, the current-version lookup, insert, publish;
   * ``publish_automatic`` as it is: the same, plus the log entry (the record re-read under
     ``FOR SHARE``, its RFC 8785 canonical JSON, SHA-256, the hash chain under the log's lock);
   * staff ``inspection_result`` records through ``create_draft`` → ``approve`` → ``publish``
     (audited), without and with the log;
   * the canonical JSON and SHA-256 of the logged entries alone, in Python (no database).
2. ``sign_roots`` (which re-checks the entries since the last signed root) and ``verify`` over
   the whole log, in one REPEATABLE READ snapshot like ``sourcewatch verify``.
3. ``GET /v1/disclosures`` (current records) beside ``?as_of=`` (what was public then, from the
   publication log) through a real uvicorn server, and the same SQL run directly
   (:mod:`bench.api`'s helpers).

Settings: SOURCEWATCH_BENCH_DSN (an admin DSN; a fresh database is created and dropped),
SOURCEWATCH_BENCH_DISCLOSURE_RECORDS (default for ``--records``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from unittest import mock

import psycopg
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import IsolationLevel, sql
from psycopg.types.json import Jsonb

from api.queries import disclosures as queries
from api.server import build_server
from api.settings import ApiSettings
from bench.api import Timing, bench_http, bench_sql, free_port, percentile
from bench.ingest import fresh_database
from schemas.disclosure import ledger
from schemas.disclosure.automatic import publish_automatic
from schemas.disclosure.ledger import iso_utc, local_day
from schemas.disclosure.records import SYSTEM, prepare_content, record_type_of
from schemas.disclosure.signing import sign_roots
from schemas.disclosure.verification import verify
from schemas.disclosure.workdays import due_on
from schemas.disclosure.workflow import approve, create_draft, publish

DAY0 = date(2025, 1, 1)
EDITOR, REVIEWER = "bench-editor", "bench-reviewer"
# (code, zh, en, unit, limit, reference O₂): an ultra-low-emission coal boiler's stack.
POLLUTANTS = [
    ("a21026", "二氧化硫", "Sulphur dioxide", "mg/m3", "35", "6"),
    ("a21002", "氮氧化物", "Nitrogen oxides", "mg/m3", "50", "6"),
    ("a34013", "颗粒物", "Particulate matter", "mg/m3", "10", "6"),
]


# --- Records ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Item:
    """One automatic record to publish: what the daily publisher passes to publish_automatic."""

    record_key: str
    content: dict[str, Any]
    formed_at: datetime
    enterprise_id: int
    outlet_id: int


def summary_content(
    enterprise_id: int, outlet_id: int, name: str, day: date, k: int
) -> dict[str, Any]:
    items = []
    for j, (code, zh, en, unit, limit, o2) in enumerate(POLLUTANTS):
        mean = f"{(k * 7 + j * 13) % 30 + 3}.{k % 100:02d}"
        items.append(
            {
                "pollutant": code,
                "name_zh": zh,
                "name_en": en,
                "unit": unit,
                "mean": mean,
                "converted": f"{float(mean) * 1.08:.2f}",
                "reference_o2": o2,
                "valid": k % 50 != 0,
                "valid_hours": 24 - k % 3,
                "expected_hours": 24,
                "limit": limit,
                "limit_period": "hour",
                "limit_source": "GB 13223-2011; 环发〔2015〕164号",
                "compliant": True,
                "exceeding_hours": 0,
                "exceedance_multiple": "0",
            }
        )
    return {
        "enterprise_id": enterprise_id,
        "outlet_id": outlet_id,
        "outlet_code": f"DA{outlet_id:03d}",
        "outlet_name_zh": name,
        "outlet_kind": "gas",
        "day": day.isoformat(),
        "pollutants": items,
    }


def make_items(conn: psycopg.Connection[Any], n: int) -> list[Item]:
    """n daily summaries: every outlet, day after day."""
    outlets = conn.execute("SELECT id, enterprise_id, name_zh FROM outlets ORDER BY id").fetchall()
    out = []
    for k in range(n):
        outlet_id, enterprise_id, name = outlets[k % len(outlets)]
        day = DAY0 + timedelta(days=k // len(outlets))
        formed = datetime(day.year, day.month, day.day, 16, tzinfo=UTC)  # the end of the local day
        out.append(
            Item(
                f"daily_summary:{outlet_id}:{day.isoformat()}",
                summary_content(enterprise_id, outlet_id, name, day, k),
                formed,
                int(enterprise_id),
                int(outlet_id),
            )
        )
    return out


def staff_content(k: int) -> dict[str, Any]:
    return {
        "inspected_on": (DAY0 + timedelta(days=k % 300)).isoformat(),
        "inspection_type": "routine" if k % 3 else "double_random",
        "inspecting_body": "某市生态环境综合行政执法支队",
        "findings": f"现场检查第{k}次：在线监测设备运行正常，台账齐全。",
        "violations_found": False,
    }


def baseline_rows(conn: psycopg.Connection[Any], items: list[Item]) -> list[dict[str, Any]]:
    """The rows publish_automatic would write, prepared outside the timed loop."""
    category, _, deadline = record_type_of(conn, "daily_summary")
    rows = []
    for it in items:
        stored, formed, titles = prepare_content(
            conn, "daily_summary", it.content, it.enterprise_id, it.formed_at
        )
        rows.append(
            {
                "record_key": it.record_key,
                "version": 1,
                "record_type": "daily_summary",
                "category": category,
                "enterprise_id": it.enterprise_id,
                "outlet_id": it.outlet_id,
                "title_zh": titles[0],
                "title_en": titles[1],
                "content": Jsonb(stored),
                "origin": "auto",
                "source_ref": it.record_key,
                "status": "published",
                "formed_at": formed,
                "due_on": due_on(formed, deadline),
                "created_by": SYSTEM,
                "updated_by": SYSTEM,
                "published_by": SYSTEM,
            }
        )
    return rows


def truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        # The log refuses TRUNCATE (migration 0014): the bench's superuser turns triggers off.
        conn.execute("SET LOCAL session_replication_role = replica")
        conn.execute(
            "TRUNCATE disclosure_records, publication_log, publication_roots, signing_keys, "
            "staff_audit CASCADE"
        )


# --- Timing -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    what: str
    count: int
    seconds: float
    p50_ms: float | None = None
    p99_ms: float | None = None


ANALYZE_AT = 200


def analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE disclosure_records, publication_log, disclosure_attachments")


def timed_each(what: str, n: int, call: Callable[[int], object], url: str | None = None) -> Run:
    """n calls; their latencies and total. With ``url``: ANALYZE the disclosure tables (not
    timed) after ANALYZE_AT calls, as autovacuum would (it is off on some development
    servers): otherwise the generic plans cached on a still-empty table stay seq scans."""
    times = []
    for i in range(n):
        if url is not None and i == ANALYZE_AT:
            analyze(url)
        t = time.perf_counter()
        call(i)
        times.append(time.perf_counter() - t)
    total = sum(times)
    return Run(what, n, total, 1000 * percentile(times, 0.5), 1000 * percentile(times, 0.99))


@contextmanager
def no_log() -> Iterator[None]:
    """Publication without the publication log: ledger.append does nothing."""
    with mock.patch.object(ledger, "append", lambda *_a, **_k: None):
        yield


def bench_baseline(url: str, rows: list[dict[str, Any]]) -> Run:
    names = list(rows[0])
    query = sql.SQL(
        "INSERT INTO disclosure_records ({names}, published_at) VALUES ({placeholders}, now())"
    ).format(
        names=sql.SQL(", ").join(map(sql.Identifier, names)),
        placeholders=sql.SQL(", ").join([sql.Placeholder()] * len(names)),
    )
    with psycopg.connect(url, autocommit=True) as conn:

        def insert(i: int) -> None:
            with conn.transaction():
                conn.execute(query, list(rows[i].values()))

        return timed_each("baseline: plain INSERT, published, no log", len(rows), insert, url)


def bench_automatic(url: str, what: str, items: list[Item]) -> Run:
    with psycopg.connect(url, autocommit=True) as conn:

        def publish_one(i: int) -> None:
            it = items[i]
            result = publish_automatic(
                conn,
                record_type="daily_summary",
                record_key=it.record_key,
                content=it.content,
                formed_at=it.formed_at,
                enterprise_id=it.enterprise_id,
                outlet_id=it.outlet_id,
                source_ref=it.record_key,
            )
            assert result.changed

        return timed_each(what, len(items), publish_one, url)


def bench_staff(url: str, what: str, n: int, enterprise_id: int) -> tuple[Run, Run]:
    """create_draft → approve → publish per record; (all three, publish alone)."""
    publish_times: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:

        def workflow(i: int) -> None:
            draft = create_draft(
                conn,
                record_type="inspection_result",
                content=staff_content(i),
                actor=EDITOR,
                enterprise_id=enterprise_id,
            )
            approve(conn, draft.id, actor=REVIEWER)
            t = time.perf_counter()
            publish(conn, draft.id, actor=REVIEWER)
            publish_times.append(time.perf_counter() - t)

        run = timed_each(what, n, workflow, url)
    alone = Run(
        "  of which publish",
        n,
        sum(publish_times),
        1000 * percentile(publish_times, 0.5),
        1000 * percentile(publish_times, 0.99),
    )
    return run, alone


def bench_canonical(url: str) -> Run:
    """RFC 8785 canonical JSON and SHA-256 of every logged entry's content, in Python alone."""
    with psycopg.connect(url) as conn:
        contents = [json.loads(r[0]) for r in conn.execute("SELECT canonical FROM publication_log")]

    def one(i: int) -> None:
        hashlib.sha256(rfc8785.dumps(contents[i])).digest()

    return timed_each("canonical JSON + SHA-256 alone (Python)", len(contents), one)


def constant(path: str) -> Callable[[int], str]:
    return lambda _: path


def list_statements(as_of: datetime | None) -> Callable[[int], list[Any]]:
    """What GET /v1/disclosures runs: the count and the first page of 100."""
    f = queries.DisclosureFilter(as_of=as_of)
    return lambda _: [queries.count(f), queries.select(f, 100, 0)]


# --- Main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    default_n = int(os.environ.get("SOURCEWATCH_BENCH_DISCLOSURE_RECORDS", "5000"))
    parser.add_argument("--records", type=int, default=default_n, help="automatic records")
    parser.add_argument("--staff", type=int, default=None, help="staff records (records / 10)")
    parser.add_argument("--requests", type=int, default=20, help="per API query")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    run_started = time.perf_counter()
    n = args.records
    m = args.staff if args.staff is not None else max(1, n // 10)
    admin = os.environ.get("SOURCEWATCH_BENCH_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    runs: list[Run] = []
    with fresh_database(admin) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            items = make_items(conn, n)
            rows = baseline_rows(conn, items)
            enterprise_id = int(conn.execute("SELECT min(id) FROM enterprises").fetchall()[0][0])

        # 1. Publication.
        runs.append(bench_baseline(url, rows))
        truncate(url)
        with no_log():
            runs.append(bench_automatic(url, "publish_automatic without the log", items))
            runs.extend(
                bench_staff(url, "staff draft → approve → publish, no log", m, enterprise_id)
            )
        truncate(url)
        runs.append(bench_automatic(url, "publish_automatic (with the log)", items))
        runs.extend(bench_staff(url, "staff draft → approve → publish", m, enterprise_id))
        runs.append(bench_canonical(url))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE disclosure_records")
            conn.execute("VACUUM ANALYZE publication_log")
            logged = conn.execute(
                "SELECT count(*), min(logged_at), max(logged_at), "
                "percentile_disc(0.5) WITHIN GROUP (ORDER BY logged_at) FROM publication_log"
            ).fetchone()
            assert logged is not None
            entries, first, last, middle = logged

        # 2. Signing and verification.
        key = Ed25519PrivateKey.generate()
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.perf_counter()
            made = sign_roots(conn, key, through=local_day(datetime.now(UTC)))
            sign_s = time.perf_counter() - started
        with psycopg.connect(url) as conn:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            started = time.perf_counter()
            report = verify(conn)
            verify_s = time.perf_counter() - started
            conn.rollback()
        assert report.ok and report.entries_checked == entries, report.summary()

        # 3. The public list, now and as of a past time.
        settings = ApiSettings(database_url=url, api_port=free_port(), api_rate_limit_per_minute=0)
        server = build_server(settings)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{settings.api_port}"
        api: list[tuple[Timing, Timing]] = []
        try:
            for what, as_of in (
                ("current records (status = published)", None),
                ("as_of = after the last entry", last),
                ("as_of = the middle entry", middle),
            ):
                path = "/v1/disclosures" + ("" if as_of is None else f"?as_of={iso_utc(as_of)}")
                api.append(
                    (
                        bench_http(base, what, constant(path), args.requests, args.concurrency),
                        bench_sql(url, "", list_statements(as_of), args.requests),
                    )
                )
        finally:
            server.should_exit = True
            thread.join(timeout=10)

    # --- Report.
    print(  # noqa: T201
        f"{n:,} automatic daily_summary records (20 outlets), {m:,} staff inspection_result "
        f"records; one record per transaction; {entries:,} log entries"
    )
    runs.append(Run(f"sign_roots ({len(made)} day; re-checks its entries)", entries, sign_s))
    runs.append(Run("verify, whole log (entries)", report.entries_checked, verify_s))
    print(f"{'what':<46} {'records':>8} {'seconds':>8} {'per second':>11}", end="")  # noqa: T201
    print(f" {'p50':>8} {'p99':>8}")  # noqa: T201
    for r in runs:
        line = f"{r.what:<46} {r.count:>8,} {r.seconds:8.2f} {r.count / r.seconds:>11,.0f}"
        if r.p50_ms is not None and r.p99_ms is not None:
            line += f" {r.p50_ms:6.2f}ms {r.p99_ms:6.2f}ms"
        print(line)  # noqa: T201
    print(report.summary())  # noqa: T201
    print(  # noqa: T201
        f"GET /v1/disclosures (page of 100 + count), {args.requests} requests, "
        f"{args.concurrency} concurrent clients; log spans {first:%H:%M:%S}–{last:%H:%M:%S} UTC"
    )
    concurrent = f"req/s ×{args.concurrency}"
    print(  # noqa: T201
        f"{'what':<38} {'HTTP p50':>9} {'p99':>8} {'req/s':>7} {concurrent:>9}"
        f" │ {'SQL p50':>8} {'p99':>8} {'q/s':>7}"
    )
    for http, db in api:
        print(  # noqa: T201
            f"{http.what:<38} {http.p50_ms:7.1f}ms {http.p99_ms:6.1f}ms {http.per_s:7.1f} "
            f"{http.concurrent_per_s or 0:9.1f} │ {db.p50_ms:6.1f}ms {db.p99_ms:6.1f}ms "
            f"{db.per_s:7.1f}"
        )
    print(f"whole run {time.perf_counter() - run_started:.0f} s")  # noqa: T201


if __name__ == "__main__":
    main()
