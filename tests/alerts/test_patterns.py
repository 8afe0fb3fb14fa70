"""Pattern indicators end to end: crafted days show each pattern, normal noisy days (our own
noise and the simulator's) show none, and a later clean day closes the case."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.notify import add_subscription
from alerts.settings import AlertsSettings
from ingest.outlets import load_outlets
from ingest.records import Accepted, MeasurementRow
from ingest.simulation import EpisodeRates, TrafficConfig, generate_traffic
from ingest.uplink import decode_message
from ingest.writer import write_batch
from schemas.codes.pattern_rules import (
    PatternRulesError,
    load_pattern_rule_table,
    load_pattern_rules,
)
from schemas.limits.rules import bind_outlet
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration

MN = "0100000000000000000000P1"
ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
SH = ZoneInfo("Asia/Shanghai")
D0 = datetime(2026, 11, 27, tzinfo=SH)  # local midnight of day 0
Minute = dict[str, tuple[Decimal, Decimal | None, str]]  # factor → (value, Zs value, flag)


def gas(converted: float, o2: float, *, flag: str = "N", zs_factor: str = "1") -> Minute:
    """One minute as a logger sends it: measured SO₂ from the converted value at 6 % O₂."""
    o2d = Decimal(f"{o2:.2f}")
    so2 = Decimal(f"{converted * (21 - float(o2d)) / 15:.2f}")
    zs = (so2 * 15 / (21 - o2d) * Decimal(zs_factor)).quantize(Decimal("0.01"))
    return {"a21026": (so2, zs, flag), "a19001": (o2d, None, "N")}


def normal_day(seed: int) -> list[Minute]:
    """A realistic day: diurnal load, autocorrelated drift and white noise, far below 35."""
    rng = random.Random(seed)
    drift, out = 0.0, []
    for m in range(1440):
        drift = 0.98 * drift + rng.gauss(0, 0.4)
        o2 = 9 + 0.6 * math.sin(2 * math.pi * m / 1440) + rng.gauss(0, 0.08)
        level = 18 + 5 * math.sin(2 * math.pi * (m - 360) / 1440) + drift + rng.gauss(0, 0.5)
        out.append(gas(level, o2))
    return out


def calibrate(day: list[Minute], hour: int) -> None:
    """A daily zero/span check in ``hour``: 25 minutes flagged C, span gas above the limit."""
    for m in range(hour * 60 + 20, hour * 60 + 45):
        span = Decimal(80) if m >= hour * 60 + 32 else Decimal("0.3")
        day[m]["a21026"] = (span, None, "C")


def store(conn: psycopg.Connection, outlet_id: int, k: int, day: list[Minute]) -> None:
    start = D0 + timedelta(days=k)
    batch = []
    for h in range(24):
        rows = [
            MeasurementRow(code, "min", start + timedelta(minutes=m), value=v, zs_value=zs, flag=f)
            for m in range(h * 60, h * 60 + 60)
            for code, (v, zs, f) in day[m].items()
        ]
        raw = f"{outlet_id}-{k}-{h}".encode()
        batch.append(
            Accepted(
                transport="mqtt",
                topic=None,
                received_at=start,
                raw=raw,
                outlet_id=outlet_id,
                mn=MN,
                st="31",
                cn="2051",
                qn=None,
                data_time=rows[0].ts,
                rows=tuple(rows),
            )
        )
    write_batch(conn, batch, [])


def judge(conn: psycopg.Connection, database_url: str, k: int) -> Evaluator:
    """Evaluate everything queued once day ``k`` is over (plus the grace period)."""
    now = D0 + timedelta(days=k + 1, hours=2)
    ev = Evaluator(
        EvaluatorOptions.from_settings(AlertsSettings(database_url=database_url)), clock=lambda: now
    )
    ev.drain(conn)
    ev.finish_days(conn, now)
    return ev


def pattern_events(conn: psycopg.Connection) -> list[tuple[str, str, str, str]]:
    return [
        (r[0], r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT c.subject, c.pollutant, e.action, e.severity FROM case_events e "
            "JOIN cases c ON c.id = e.case_id WHERE c.kind = 'pattern' ORDER BY e.id"
        )
    ]


def details(conn: psycopg.Connection, subject: str) -> dict[str, object]:
    row = conn.execute("SELECT details FROM cases WHERE subject = %s", (subject,)).fetchone()
    assert row is not None
    d: dict[str, object] = row[0]
    assert d["indicator_en"] == "indicator for review, not a finding"
    assert d["indicator_zh"] == "数据特征提示，非违法认定，需人工核查"
    return d


def assert_found_then_closed(
    db: psycopg.Connection, database_url: str, outlet: int, subject: str, crafted: list[Minute]
) -> dict[str, object]:
    store(db, outlet, 0, crafted)
    judge(db, database_url, 0)
    assert pattern_events(db) == [(subject, "a21026", "opened", "info")]
    found = details(db, subject)
    assert found["day"] == "2026-11-27" and found["pattern"] == subject
    store(db, outlet, 1, normal_day(11))
    judge(db, database_url, 1)
    assert pattern_events(db)[1:] == [(subject, "a21026", "closed", "info")]
    reason = db.execute("SELECT close_reason FROM cases WHERE subject = %s", (subject,)).fetchone()
    assert reason == ("not seen on 2026-11-28 (a complete day checked)",)
    db.execute(  # late data for day 0: re-judged, but the closed case is not opened again
        "INSERT INTO evaluation_queue (outlet_id, hour_start) VALUES (%s, %s)",
        (outlet, D0 + timedelta(hours=5)),
    )
    judge(db, database_url, 1)
    assert len(pattern_events(db)) == 2
    return found


@pytest.fixture
def outlet(db: psycopg.Connection) -> int:
    oid = add_outlet(db, MN)
    bind_outlet(db, MN, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit 91330000-001")
    return oid


# --- the rules --------------------------------------------------------------------------------


def test_rules_load_with_their_sources(db: psycopg.Connection) -> None:
    assert load_pattern_rule_table(db) == load_pattern_rule_table(db) == {"pattern_rules": 11}
    assert db.execute("SELECT count(*) FROM pattern_rules").fetchone() == (11,)
    rules = load_pattern_rules(db, date(2026, 11, 27))
    assert (rules.flat_min_hours, rules.bunching_min_hours) == (6, 12)
    assert (rules.flat_max_relative_std, rules.bunching_band) == (Decimal("0.001"), Decimal("0.9"))
    assert rules.sources["bunching_band"].startswith("ECO-Audit V3.0 rule R070")
    assert "fault_flags" not in rules.unconfirmed and "bunching_band" in rules.unconfirmed
    assert rules.describe("fault_flags")["fault_flags"]["value"] == "D,C,M"
    with pytest.raises(PatternRulesError, match="no pattern rule"):
        load_pattern_rules(db, date(1999, 12, 31))


def test_reload_removes_a_retired_rule(db: psycopg.Connection) -> None:
    # Databases loaded before issue #11 hold fault_hour_share (0.75 of one flag), since replaced
    # by a rule per medium; the next load removes it and keeps the rules in force.
    db.execute(
        "INSERT INTO pattern_rules (name, value, unit, description_zh, description_en, "
        "source_document, confirmed, note, valid_from) VALUES ('fault_hour_share', '0.75', "
        "'fraction', 'z', 'e', 'test', false, 'test', '2000-01-01')"
    )
    load_pattern_rule_table(db)
    names = db.execute("SELECT array_agg(name ORDER BY name) FROM pattern_rules").fetchone()
    assert names is not None and "fault_hour_share" not in names[0] and len(names[0]) == 11
    assert {"fault_hour_share_gas", "fault_hour_values_water"} <= set(names[0])


def test_a_newer_rule_version_wins_from_its_date(db: psycopg.Connection) -> None:
    db.execute(
        "INSERT INTO pattern_rules (name, value, unit, description_zh, description_en, "
        "source_document, confirmed, note, valid_from) VALUES ('flat_min_hours', '4', 'h', "
        "'z', 'e', 'test', false, 'test', '2027-01-01')"
    )
    try:
        assert load_pattern_rules(db, date(2026, 12, 31)).flat_min_hours == 6
        assert load_pattern_rules(db, date(2027, 1, 1)).flat_min_hours == 4
    finally:
        db.execute("DELETE FROM pattern_rules WHERE valid_from = '2027-01-01'")


# --- no false positives -----------------------------------------------------------------------


def test_normal_noisy_days_show_no_pattern(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    for k, seed in enumerate((1, 2, 3)):
        day = normal_day(seed)
        calibrate(day, 10)  # one invalid hour with span gas above the limit: not flag abuse
        store(db, outlet, k, day)
    judge(db, database_url, 2)
    assert db.execute("SELECT count(*) FROM daily_means WHERE valid").fetchone() == (6,)
    assert db.execute("SELECT count(*) FROM cases").fetchone() == (0,)


def sim_batches(conn: psycopg.Connection, start: datetime, end: datetime) -> Iterable[Accepted]:
    registry = [
        {
            "outlets": [
                {
                    "mn": MN,
                    "kind": "gas",
                    "password": "123456",
                    "emission_standard": "GB 13223-2011",
                }
            ]
        }
    ]
    quiet = EpisodeRates(exceedance=0, outage=0, maintenance=0, calibration=1, fault=0)
    outlets = load_outlets(conn)
    for message in generate_traffic(
        registry, seed=7, start=start, end=end, config=TrafficConfig(episodes=quiet)
    ):
        if message.cn == "2051":
            for item in decode_message(
                message.topic, message.payload, message.send_time, outlets.get
            ):
                assert isinstance(item, Accepted), item
                yield item


def test_a_simulated_day_shows_no_pattern(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    batch = list(sim_batches(db, D0, D0 + timedelta(days=1)))
    for i in range(0, len(batch), 500):
        write_batch(db, batch[i : i + 500], [])
    judge(db, database_url, 0)
    valid = db.execute("SELECT pollutant FROM daily_means WHERE valid ORDER BY 1").fetchall()
    assert {"a21026", "a21002", "a34013", "a19001"} <= {p for (p,) in valid}
    assert db.execute("SELECT kind, subject FROM cases").fetchall() == []


# --- each pattern -------------------------------------------------------------------------------


def test_flat_line(db: psycopg.Connection, outlet: int, database_url: str) -> None:
    day = normal_day(4)
    for m in range(8 * 60, 16 * 60):  # the SO₂ reading stuck at 16.00 from 08:00 to 16:00
        o2 = day[m]["a19001"][0]
        day[m]["a21026"] = (Decimal("16.00"), Decimal(16 * 15) / (21 - o2), "N")
    found = assert_found_then_closed(db, database_url, outlet, "flat-line", day)
    assert found["stretches"] == [
        {
            "from": (D0 + timedelta(hours=8)).isoformat(),
            "to": (D0 + timedelta(hours=16)).isoformat(),
            "hours": 8,
            "values": 480,
            "mean": "16",
            "std": "0",
            "max_std": "0.016",
        }
    ]
    assert found["data"] == ["min"] and found["limit"] == "35" and found["standard"] == ULTRA_LOW


def test_bunching(db: psycopg.Connection, outlet: int, database_url: str) -> None:
    rng, day = random.Random(5), normal_day(5)
    for m in range(4 * 60, 22 * 60):  # 18 hours held just under 35 mg/m³
        o2 = float(day[m]["a19001"][0])
        day[m] = gas(min(33.2 + rng.gauss(0, 0.6), 34.6), o2)
    found = assert_found_then_closed(db, database_url, outlet, "bunching", day)
    assert (found["valid_hours"], found["hours_in_band"], found["share"]) == (24, 18, "0.75")
    assert (found["band_from"], found["band_to"], found["reference_o2"]) == ("31.5", "35", "6")
    assert db.execute("SELECT count(*) FROM cases WHERE kind = 'exceedance'").fetchone() == (0,)


def test_zs_mismatch(db: psycopg.Connection, outlet: int, database_url: str) -> None:
    day = normal_day(6)
    for hour, factor in ((2, "0.9"), (5, "0.88"), (9, "0.9"), (13, "0.9"), (20, "1.01")):
        for m in range(hour * 60, hour * 60 + 60):  # the logger's Zs value, not ours
            so2, o2 = day[m]["a21026"][0], day[m]["a19001"][0]
            zs = (so2 * 15 / (21 - o2) * Decimal(factor)).quantize(Decimal("0.01"))
            day[m]["a21026"] = (so2, zs, "N")
    found = assert_found_then_closed(db, database_url, outlet, "zs-mismatch", day)
    assert (found["hours_compared"], found["hours_mismatched"]) == (24, 4)  # 1 % is tolerated
    assert found["tolerance_pct"] == "2"
    worst = found["worst"]
    assert isinstance(worst, dict) and worst["hour"] == (D0 + timedelta(hours=5)).isoformat()


def test_flag_abuse(db: psycopg.Connection, outlet: int, database_url: str) -> None:
    day = normal_day(7)
    for hour in (3, 9, 15):  # 50 minutes of each hour marked maintenance while at ~60 mg/m³
        for m in range(hour * 60 + 10, hour * 60 + 60):
            day[m] = gas(60, float(day[m]["a19001"][0]), flag="M")
    found = assert_found_then_closed(db, database_url, outlet, "flag-abuse", day)
    hours = found["hours"]
    assert found["invalid_hours_exceeding"] == 3 and isinstance(hours, list)
    assert [h["hour"] for h in hours] == [(D0 + timedelta(hours=h)).isoformat() for h in (3, 9, 15)]
    assert hours[0]["flags"] == {"M": 50, "N": 10}
    assert 59 < float(hours[0]["value"]) < 61
    assert db.execute("SELECT count(*) FROM cases WHERE kind <> 'pattern'").fetchone() == (0,)


def test_constant_ph_of_a_wastewater_outlet_is_a_flat_line(
    db: psycopg.Connection, database_url: str
) -> None:
    oid = add_outlet(db, MN, kind="water")
    bind_outlet(db, MN, "GB 18918-2002", "class-1A", date(2020, 1, 1), "permit")
    rng = random.Random(8)
    day: list[Minute] = [
        {
            "w01018": (Decimal(f"{24 + 3 * math.sin(m / 200) + rng.gauss(0, 0.8):.1f}"), None, "N"),
            "w01001": (Decimal("7.20"), None, "N"),
        }
        for m in range(1440)
    ]
    store(db, oid, 0, day)
    judge(db, database_url, 0)
    assert pattern_events(db) == [("flat-line", "w01001", "opened", "info")]
    found = details(db, "flat-line")
    assert (found["limit"], found["limit_min"], found["unit"]) == ("9", "6", "dimensionless")
    stretches = found["stretches"]
    assert isinstance(stretches, list) and stretches[0]["hours"] == 24


def test_spreads_from_the_minutes_read_are_those_of_the_database(db: psycopg.Connection) -> None:
    """A day all of whose hours were read ahead is screened on spreads computed from those
    minutes (hour_spreads); they equal read_spreads' numeric sums for every pollutant and
    hour: values of many digits and of none, invalid flags, missing values, real-time hours,
    hours of both kinds and a pollutant without a limit left out."""
    from alerts.evaluation import Evaluation, OutletContext, read_days, read_hours
    from alerts.patterns import flat_line_pollutants, read_spreads
    from schemas.cases.policy import CasePolicy

    oid = add_outlet(db, MN)
    bind_outlet(db, MN, ULTRA_LOW, "ultra-low-coal", date(2020, 1, 1), "permit")
    rng = random.Random(7)
    rows = []
    for h in range(24):
        for m in range(60):
            ts = D0 + timedelta(hours=h, minutes=m)
            kind = "rtd" if h % 5 == 3 else "min"
            for code in ("a21026", "a19001", "a34013", "a01012"):
                value = Decimal(rng.randint(-5, 99_999)).scaleb(-rng.randint(0, 9))
                flag = rng.choice("NNNNNNMD")
                rows.append(
                    MeasurementRow(code, kind, ts, value=None if m == 7 else value, flag=flag)
                )
                if h % 7 == 2 and m % 10 == 0:  # both kinds in this hour
                    rows.append(MeasurementRow(code, "rtd", ts, value=value, flag="N"))
    frame = Accepted(
        transport="test",
        topic=None,
        received_at=D0 + timedelta(days=1),
        raw=b"spreads",
        outlet_id=oid,
        mn=MN,
        st="31",
        cn="2051",
        qn=None,
        data_time=D0,
        rows=tuple(rows),
    )
    write_batch(db, [frame], [])
    start, end = D0, D0 + timedelta(days=1)
    hours = [start + timedelta(hours=h) for h in range(24)]
    ev = Evaluation(
        db,
        OutletContext(oid, "gas", SH),
        CasePolicy(timedelta(hours=3), Decimal(1), Decimal(2), 4, 12),
        end + timedelta(days=1),
        timedelta(hours=1),
        fault_after_hours=3,
    )
    series, _ = read_hours(db, {oid: hours})
    ev.use_prefetched(series[oid], set())
    assert ev.spreads_from_minutes(start.date(), start, end) is None  # no hour used yet
    assert ev.spreads_in_part(start.date(), start, end) == ([], [(start, end)])
    pollutants = flat_line_pollutants(ev.limits(start.date()))
    theirs = read_spreads(db, [(oid, start, end, pollutants)])[(oid, start)]
    # Some hours used, some not: the day's rows are those of its hours used and those the
    # database gives for the runs of the others (the first hours, two in the middle, the last)
    used = [h for i, h in enumerate(hours) if 3 <= i < 11 or 13 <= i < 23]
    for hour in used:
        ev._samples(hour)
    part = ev.spreads_in_part(start.date(), start, end)
    assert part is not None
    rows, runs = part
    assert runs == [
        (hours[0], hours[3]),
        (hours[11], hours[13]),
        (hours[23], end),
    ]
    assert ev.spreads_from_minutes(start.date(), start, end) is None
    assert rows == [r for r in theirs if r[1] in used]
    assert {(r[0], r[1]) for r in rows} != {(r[0], r[1]) for r in theirs}
    # what the day step of a batch reads: those rows and the database's, by pollutant and hour
    assert read_days(db, {oid: (ev, [start.date()])})[oid][start.date()][1] == theirs
    for hour in sorted(set(hours) - set(used)):
        ev._samples(hour)
    assert "a34013" in pollutants and "a01012" not in pollutants
    ours = ev.spreads_from_minutes(start.date(), start, end)
    assert ours == theirs
    assert len(theirs) == 24 * 3  # SO₂, O₂ and dust each hour; NOx has a limit but no data


@pytest.mark.parametrize("all_valid", [True, False], ids=["all valid", "some not"])
def test_spreads_of_columns_are_those_of_their_samples(all_valid: bool) -> None:
    """hour_spreads of an hour kept as columns (all of whose values are taken at once when every
    sample is valid) is that of the same samples as a list, the text of every sum included:
    values of many digits and of none, and with invalid flags and missing values."""
    from alerts.patterns import hour_spreads
    from alerts.rules import Sample, SampleColumns

    rng = random.Random(11)
    samples = [
        Sample(
            D0 + timedelta(minutes=m),
            Decimal(rng.randint(-5, 99_999)).scaleb(-rng.randint(0, 12)),
            None,
            "N",
        )
        for m in range(60)
    ]
    if not all_valid:
        samples[4] = samples[4]._replace(flag="M")
        samples[9] = samples[9]._replace(value=None)
    columns = SampleColumns(*(list(c) for c in zip(*samples, strict=True)))
    valid = frozenset({"N"})
    as_list = hour_spreads({"a21026": {"min": samples}}, ["a21026"], valid)
    as_columns = hour_spreads({"a21026": {"min": columns}}, ["a21026"], valid)
    assert as_list is not None and as_columns is not None
    assert as_columns == as_list
    assert [str(x) for x in as_columns["a21026"]] == [str(x) for x in as_list["a21026"]]
    assert as_list["a21026"][0] == (60 if all_valid else 58)


def test_new_pattern_cases_open_with_their_events_in_the_findings_order(
    db: psycopg.Connection, outlet: int, database_url: str
) -> None:
    """A day's new pattern cases are opened, each with its ``opened`` event, by the statement
    that reads the pattern cases: one case and one event per finding, in the findings' order
    (ids too), the event's detail the case's, each event notified with its own case; the next
    day showing the same patterns extends those cases, and a normal day closes them."""
    add_subscription(
        db,
        subscriber="inspector@example.org",
        channel="webhook",
        target="http://127.0.0.1:9/hook",
        secret="s3cret",
        allow_private_targets=True,
    )
    flat = [gas(24.0, 11.0) for _ in range(1440)]  # SO₂ and O₂ both stuck all day
    store(db, outlet, 0, flat)
    assert judge(db, database_url, 0).transitions == 2
    rows = db.execute(
        "SELECT c.id, c.pollutant, c.details, c.first_at, c.last_at, e.id, e.action, e.detail "
        "FROM cases c JOIN case_events e ON e.case_id = c.id WHERE c.kind = 'pattern' "
        "ORDER BY c.id"
    ).fetchall()
    assert [(r[1], r[6]) for r in rows] == [("a19001", "opened"), ("a21026", "opened")]
    assert rows[0][0] < rows[1][0] and rows[0][5] < rows[1][5]  # in the findings' order
    assert all(r[2] == r[7] and r[2]["pattern"] == "flat-line" for r in rows)
    assert all(r[3] == r[4] == D0 for r in rows)
    outbox = db.execute(
        "SELECT o.event_id, o.payload FROM notification_outbox o ORDER BY o.id"
    ).fetchall()
    assert [(e, p["case_id"], p["action"]) for e, p in outbox] == [
        (r[5], r[0], "opened") for r in rows
    ]
    store(db, outlet, 1, flat)
    assert judge(db, database_url, 1).transitions == 0  # extended, not opened again
    extended = db.execute(
        "SELECT id, state, last_at FROM cases WHERE kind = 'pattern' ORDER BY id"
    ).fetchall()
    assert extended == [(r[0], "open", D0 + timedelta(days=1)) for r in rows]
    store(db, outlet, 2, normal_day(12))
    judge(db, database_url, 2)
    assert [e[2:] for e in pattern_events(db)[2:]] == [("closed", "info")] * 2


@pytest.mark.parametrize("over", [True, False], ids=["day over", "live day"])
def test_hour_spreads_are_computed_only_for_a_day_that_is_over(
    db: psycopg.Connection, outlet: int, over: bool
) -> None:
    """An hour's flat-line spreads are kept from its minutes only when its local day is over
    (its grace past): only such a day is screened, so a live hour's spreads would never be
    read (read_days asks for the day over's only)."""
    from alerts.evaluation import Evaluation, OutletContext, read_days, read_hours
    from schemas.cases.policy import CasePolicy

    oid = outlet
    store(db, oid, 0, normal_day(3))
    start, end = D0, D0 + timedelta(days=1)
    hours = [start + timedelta(hours=h) for h in range(3)]
    grace = timedelta(hours=1)
    now = end + grace if over else start + timedelta(hours=4)
    ev = Evaluation(
        db,
        OutletContext(oid, "gas", SH),
        CasePolicy(timedelta(hours=3), Decimal(1), Decimal(2), 4, 12),
        now,
        grace,
        fault_after_hours=3,
    )
    series, _ = read_hours(db, {oid: hours})
    ev.use_prefetched(series[oid], set())
    ev.hour_means(hours)
    rows, runs = ev.spreads_in_part(start.date(), start, end) or ([], [])
    if over:
        assert {r[1] for r in rows} == set(hours)  # SO₂'s and O₂'s, from the minutes
        assert runs == [(hours[-1] + timedelta(hours=1), end)]
        assert read_days(db, {oid: (ev, [start.date()])})[oid][start.date()][1] is not None
    else:
        assert rows == [] and runs == [(start, end)]
        assert read_days(db, {oid: (ev, [start.date()])})[oid][start.date()][1] is None
    assert ev.day_over(start.date()) is over
