"""The evaluator's outputs on fixed scenarios, compared with the outputs stored before the
evaluation pipeline was restructured for speed (issue 16): hourly and daily means, cases with
their periods, multiples and events, and the notifications they queued. A change to what the
evaluator concludes shows up here as a diff against ``evaluation_identity.json``.

The scenarios: exceedances judged on the O₂-converted concentration, an hour with 44 valid
minutes (invalid), minute, real-time and the logger's own hourly data, late and revised data, a
replay and a re-queued hour, a fault-flagged run of hours, a day with falsification patterns,
a wastewater day (flow-weighted COD over its daily limit, pH outside its 6–9 range) judged once
over and re-judged after a revision, and an outlet that falls silent and comes back.

Regenerate the expected file only on purpose, from the evaluator whose outputs are the
reference: ``SOURCEWATCH_REGENERATE_IDENTITY=1 pytest tests/alerts/test_evaluation_identity.py``.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.settings import AlertsSettings
from ingest.records import Accepted, MeasurementRow
from ingest.writer import write_batch
from schemas.limits.rules import bind_outlet
from schemas.subscriptions import add_subscription
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

EXPECTED = Path(__file__).with_name("evaluation_identity.json")
ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
SH = ZoneInfo("Asia/Shanghai")
D0 = datetime(2026, 11, 26, tzinfo=SH)  # local midnight of the first (complete) day
H0 = D0 + timedelta(days=1, hours=8)  # 16:00 local on the second day, 08:00 UTC

GAS, FAULT, PATTERN, WATER, SILENT = (f"0100000000000000000000I{k}" for k in "12345")

Row = MeasurementRow


def gas_minutes(
    start: datetime,
    so2: str | Decimal,
    *,
    o2: str = "9",
    kind: str = "min",
    flagged: int = 0,
    flag: str = "M",
    zs: str | None = None,
) -> list[Row]:
    """60 values (or fewer real-time ones) of SO₂ and O₂ from ``start``; the last ``flagged``
    SO₂ minutes carry ``flag`` at 400 mg/m³."""
    rows = []
    for m in range(60):
        ts = start + timedelta(minutes=m)
        bad = m >= 60 - flagged
        value = Decimal(400) if bad else Decimal(so2)
        rows.append(
            Row(
                "a21026",
                kind,
                ts,
                value=value,
                zs_value=None if zs is None else Decimal(zs),
                flag=flag if bad else "N",
            )
        )
        rows.append(Row("a19001", kind, ts, value=Decimal(o2), flag="N"))
    return rows


def store(
    conn: psycopg.Connection,
    outlet_id: int,
    mn: str,
    hours: Iterable[list[Row]],
    received: datetime,
    tag: str = "",
) -> None:
    """One frame per hour of rows, all received at ``received`` (a fixed time, so outages and
    their reasons do not depend on the clock)."""
    batch = [
        Accepted(
            transport="mqtt",
            topic=None,
            received_at=received,
            raw=f"{mn}-{rows[0].ts.isoformat()}-{rows[0].value}-{len(rows)}-{tag}".encode(),
            outlet_id=outlet_id,
            mn=mn,
            st="31" if rows[0].pollutant.startswith("a") else "32",
            cn="2051",
            qn=None,
            data_time=rows[0].ts,
            rows=tuple(rows),
        )
        for rows in hours
        if rows
    ]
    write_batch(conn, batch, [])


def pattern_day() -> list[list[Row]]:
    """A local day of minute SO₂/O₂ with noise, a flat line (08:00–16:00), two hours of
    maintenance-flagged values over the limit (flag abuse) and hours whose reported Zs value
    is off by 10 % (Zs mismatch)."""
    rng = random.Random(16)
    hours = []
    for h in range(24):
        rows = []
        for m in range(60):
            ts = D0 + timedelta(hours=h, minutes=m)
            o2 = Decimal(f"{9 + rng.gauss(0, 0.1):.2f}")
            so2 = Decimal(f"{16 + rng.gauss(0, 1.5):.2f}")
            flag, factor = "N", Decimal(1)
            if 8 <= h < 16:
                so2 = Decimal("16.00")
            if h in (3, 5) and m >= 10:
                so2, flag = Decimal("55.00"), "M"
            if h in (18, 19, 20, 21):
                factor = Decimal("0.9")
            zs = (so2 * 15 / (21 - o2) * factor).quantize(Decimal("0.01"))
            rows.append(Row("a21026", "min", ts, value=so2, zs_value=zs, flag=flag))
            rows.append(Row("a19001", "min", ts, value=o2, flag="N"))
        hours.append(rows)
    return hours


def water_day(day: datetime, cod: str, ph: str, *, hours: range = range(24)) -> list[list[Row]]:
    """Minute COD, pH and flow of a wastewater outlet; flow varies so COD is volume-weighted."""
    out = []
    for h in hours:
        rows = []
        for m in range(0, 60, 2):  # a 2-minute interval
            ts = day + timedelta(hours=h, minutes=m)
            flow = Decimal(10 + (h % 6))
            rows.append(Row("w01018", "min", ts, value=Decimal(cod) + h % 3, flag="N"))
            rows.append(Row("w01001", "min", ts, value=Decimal(ph), flag="N"))
            rows.append(Row("w00000", "min", ts, value=flow, cou=flow * 2, flag="N"))
        out.append(rows)
    return out


def run_scenarios(
    db: psycopg.Connection,
    database_url: str,
    batch_outlets: int = 16,
    before_evaluating: Callable[[psycopg.Connection], object] = lambda db: None,
    drain: Callable[[datetime], None] | None = None,
) -> None:
    """The scenarios, each step's queue drained by one evaluator in batches of
    ``batch_outlets`` (or by ``drain(now)``) and then swept; ``before_evaluating`` runs before
    each step's evaluation."""
    outlets = {}
    for k, (mn, kind) in enumerate(
        ((GAS, "gas"), (FAULT, "gas"), (PATTERN, "gas"), (WATER, "water"), (SILENT, "gas"))
    ):
        outlets[mn] = add_outlet(db, mn, kind=kind, uscc=f"9133000000000000{k}X")
        if kind == "gas":
            bind_outlet(db, mn, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit")
        else:
            bind_outlet(db, mn, "GB 18918-2002", "class-1A", date(2020, 1, 1), "permit")
    add_subscription(db, subscriber="identity", channel="mqtt", target="identity/cases")

    def evaluate(now: datetime, sweep: bool = True) -> None:
        before_evaluating(db)
        ev = Evaluator(
            EvaluatorOptions.from_settings(
                AlertsSettings(database_url=database_url, evaluator_processes=1)
            ),
            clock=lambda: now,
            batch_outlets=batch_outlets,
        )
        if drain is not None:
            drain(now)
        while ev.drain(db, max_outlets=2):
            pass
        if sweep:
            ev.sweep(db)

    t0 = H0 - timedelta(hours=8)  # 00:00 UTC of the second local day's 08:00
    # 1. The first delivery. SO₂ at 9 % O₂ (converted ×1.25 against 35 mg/m³ at 6 %).
    gas_hours = {
        0: gas_minutes(t0, "24"),
        1: gas_minutes(t0 + timedelta(hours=1), "40"),
        2: gas_minutes(t0 + timedelta(hours=2), "40", flagged=16),  # 44 valid: invalid
        3: gas_minutes(t0 + timedelta(hours=3), "56", zs="70"),  # critical multiple
        4: gas_minutes(t0 + timedelta(hours=4), "20", o2="10.5"),
        5: gas_minutes(t0 + timedelta(hours=5), "20", kind="rtd"),
        6: [
            Row(
                "a21026",
                "hour",
                t0 + timedelta(hours=6),
                value=Decimal("21.5"),
                zs_value=Decimal("26.9"),
                flag="N",
            )
        ],
        7: gas_minutes(t0 + timedelta(hours=7), "31", o2="12"),  # 31 × 15/9 = 51.7: exceeds
    }
    store(db, outlets[GAS], GAS, gas_hours.values(), t0 + timedelta(hours=7, minutes=59))
    store(
        db,
        outlets[FAULT],
        FAULT,
        [
            gas_minutes(
                t0 + timedelta(hours=h), "20", flagged=60 if h in (1, 2, 3) else 0, flag="D"
            )
            for h in range(6)
        ],
        t0 + timedelta(hours=5, minutes=59),
    )
    store(db, outlets[PATTERN], PATTERN, pattern_day(), t0 + timedelta(hours=1))
    store(db, outlets[WATER], WATER, water_day(D0, "78", "9.4"), t0 + timedelta(minutes=5))
    store(db, outlets[SILENT], SILENT, [gas_minutes(t0, "10")], t0 + timedelta(minutes=30))
    evaluate(H0)

    # 2. Late data: hours 8–10 of the gas outlet (8 and 9 exceed again), the silent outlet back.
    late = [gas_minutes(t0 + timedelta(hours=h), v) for h, v in ((8, "60"), (9, "36"), (10, "8"))]
    store(db, outlets[GAS], GAS, late, t0 + timedelta(hours=11))
    store(
        db,
        outlets[SILENT],
        SILENT,
        [gas_minutes(t0 + timedelta(hours=10), "10")],
        t0 + timedelta(hours=11),
    )
    store(
        db,
        outlets[WATER],
        WATER,
        water_day(D0 + timedelta(days=1), "20", "7.1", hours=range(6)),
        t0 + timedelta(hours=11),
    )
    evaluate(t0 + timedelta(hours=11, minutes=30))

    # 3. Revisions: hour 3 of the gas outlet revised below the limit, hour 1 re-sent unchanged
    # (a replay: nothing queued), hour 7 re-queued by hand; the wastewater day's COD revised
    # below its limit after it was judged.
    store(
        db,
        outlets[GAS],
        GAS,
        [gas_minutes(t0 + timedelta(hours=3), "20")],
        t0 + timedelta(hours=12),
        "rev",
    )
    store(db, outlets[GAS], GAS, [gas_hours[1]], t0 + timedelta(hours=12), "replay")
    db.execute(
        "INSERT INTO evaluation_queue (outlet_id, hour_start) VALUES (%s, %s)",
        (outlets[GAS], t0 + timedelta(hours=7)),
    )
    store(db, outlets[WATER], WATER, water_day(D0, "30", "9.4"), t0 + timedelta(hours=12), "rev")
    evaluate(t0 + timedelta(hours=12, minutes=30))

    # 4. The second local day ends; its daily means are judged in the sweep (plus the grace).
    evaluate(D0 + timedelta(days=2, hours=1, minutes=1))


# --- the outputs, without ids and wall-clock times ----------------------------------------------


def _text(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    return v


def outputs(db: psycopg.Connection) -> dict[str, list[Any]]:
    """Every output of the evaluator, in a stable order, as JSON-ready rows. Cases are named
    by their key and the rank of their first period, not by id (the order cases are created
    in is not an output)."""
    db.execute("SET TIME ZONE 'UTC'")
    labels: dict[int, str] = {}
    for case_id, label in db.execute(
        "SELECT c.id, concat_ws('/', c.kind, o.mn, c.pollutant, c.period, c.subject, "
        "row_number() OVER (PARTITION BY c.kind, c.outlet_id, c.pollutant, c.period, "
        "c.limit_id, c.subject ORDER BY c.first_at, c.id)) "
        "FROM cases c JOIN outlets o ON o.id = c.outlet_id"
    ):
        labels[case_id] = label

    def rows(query: str) -> list[list[Any]]:
        return [[_text(v) for v in r] for r in db.execute(query)]

    out = {
        "hourly_means": rows(
            "SELECT o.mn, h.pollutant, h.hour_start, h.source, h.mean, h.zs_reported, "
            "h.converted, h.o2_mean, h.valid_count, h.expected_count, h.valid, h.reason, "
            "h.flags::text FROM hourly_means h JOIN outlets o ON o.id = h.outlet_id "
            "ORDER BY 1, 2, 3"
        ),
        "daily_means": rows(
            "SELECT o.mn, d.pollutant, d.day, d.source, d.mean, d.zs_reported, d.converted, "
            "d.o2_mean, d.valid_count, d.expected_count, d.valid, d.reason "
            "FROM daily_means d JOIN outlets o ON o.id = d.outlet_id ORDER BY 1, 2, 3"
        ),
        "evaluation_errors": rows("SELECT outlet_id, hours, error FROM evaluation_errors"),
    }
    cases = rows(
        "SELECT id, state, severity, first_at, last_at, close_reason, compliant_run, "
        "max_multiple, details::text FROM cases"
    )
    out["cases"] = sorted([labels[c[0]], *c[1:]] for c in cases)
    periods = rows(
        "SELECT case_id, period_start, value, limit_value, multiple, compliant, details::text "
        "FROM case_periods"
    )
    out["case_periods"] = sorted([labels[p[0]], *p[1:]] for p in periods)
    # Events in the order they happened within their case.
    events = rows(
        "SELECT case_id, actor, action, severity, detail::text FROM case_events ORDER BY id"
    )
    out["case_events"] = sorted(
        ([labels[e[0]], n, *e[1:]] for n, e in _numbered(events)), key=lambda e: (e[0], e[1])
    )
    notes = []
    for event_case, payload in db.execute(
        "SELECT e.case_id, n.payload FROM notification_outbox n "
        "JOIN case_events e ON e.id = n.event_id ORDER BY n.id"
    ):
        payload = dict(payload)
        payload["case_id"] = labels[event_case]
        del payload["event_id"]
        notes.append(payload)
    out["notifications"] = sorted(notes, key=lambda n: json.dumps(n, sort_keys=True))
    return out


def _numbered(events: list[list[Any]]) -> Iterable[tuple[int, list[Any]]]:
    seen: dict[int, int] = {}
    for e in events:
        seen[e[0]] = seen.get(e[0], 0) + 1
        yield seen[e[0]], e


def _dump(out: dict[str, list[Any]]) -> str:
    """One row per line: small, readable and diffable."""
    parts = []
    for table, table_rows in out.items():
        lines = ",\n".join(
            "    " + json.dumps(r, ensure_ascii=False, sort_keys=True) for r in table_rows
        )
        parts.append(f'  "{table}": [\n{lines}\n  ]' if table_rows else f'  "{table}": []')
    return "{\n" + ",\n".join(parts) + "\n}\n"


def test_outputs_are_those_stored_before(db: psycopg.Connection, database_url: str) -> None:
    run_scenarios(db, database_url)
    got = outputs(db)
    if os.environ.get("SOURCEWATCH_REGENERATE_IDENTITY") == "1":
        EXPECTED.write_text(_dump(got), encoding="utf-8")
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    assert set(got) == set(expected)
    for table in expected:
        assert got[table] == expected[table], table


def test_outputs_are_the_same_one_outlet_per_batch(
    db: psycopg.Connection, database_url: str
) -> None:
    """One outlet per transaction: each day step reads its own means and spreads (no
    read_days), the limits are read per outlet, and the same outputs come out."""
    run_scenarios(db, database_url, batch_outlets=1)
    got = outputs(db)
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    for table in expected:
        assert got[table] == expected[table], table


def _compress_every_chunk(db: psycopg.Connection) -> None:
    """Compress (or compress again) every chunk of ``measurement_rows``."""
    db.execute(
        "SELECT compress_chunk(c, if_not_compressed => true) FROM show_chunks('measurement_rows') c"
    )


@pytest.mark.parametrize("every", [True, False], ids=["compressed", "partly-compressed"])
def test_outputs_are_the_same_from_compressed_chunks(
    db: psycopg.Connection, database_url: str, every: bool
) -> None:
    """TimescaleDB only: the evaluator reads its minutes from compressed chunks (every chunk
    compressed before each evaluation), or from chunks compressed once, before the first, into
    which the late data and revisions are written afterwards (compressed and uncompressed rows
    of one chunk read together), and reaches the same outputs."""
    if not db.execute("SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'").fetchone():
        pytest.skip("TimescaleDB only (plain PostgreSQL has no compressed chunks)")
    evaluations = 0

    def compress(conn: psycopg.Connection) -> None:
        nonlocal evaluations
        evaluations += 1
        if every or evaluations == 1:
            _compress_every_chunk(conn)

    run_scenarios(db, database_url, before_evaluating=compress)
    partial = db.execute(
        "SELECT count(*) FROM _timescaledb_catalog.chunk c"
        " JOIN _timescaledb_catalog.hypertable h ON h.id = c.hypertable_id"
        " WHERE h.table_name = 'measurement_rows' AND c.status & 8 = 8"  # 8: partial
    ).fetchone()
    assert partial is not None and (partial[0] > 0) == (not every)
    got = outputs(db)
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    for table in expected:
        assert got[table] == expected[table], table


def test_the_scenarios_cover_what_they_claim(db: psycopg.Connection) -> None:
    """The stored outputs show every scenario (so the identity test compares something)."""
    expected = json.loads(EXPECTED.read_text(encoding="utf-8"))
    case_kinds = {c[0].split("/")[0] for c in expected["cases"]}
    assert case_kinds == {"exceedance", "fault", "pattern", "outage"}
    subjects = {c[0].split("/")[4] for c in expected["cases"] if c[0].startswith("pattern")}
    assert {"flat-line", "flag-abuse", "zs-mismatch"} <= subjects
    sources = {h[3] for h in expected["hourly_means"]}
    assert sources == {"min", "rtd", "hour"}
    assert any(h[10] is False and h[8] == 44 for h in expected["hourly_means"])
    actions = {e[3] for e in expected["case_events"]}
    assert {"opened", "escalated", "closed"} <= actions
    assert {c[0].split("/")[2] for c in expected["cases"] if "/day/" in c[0]} == {
        "w01018",
        "w01001",
    }
    assert len(expected["notifications"]) == len(expected["case_events"])
