"""The simulated data loggers: registry data, deterministic traffic that parses and adds up, the
configured rates of trouble, and publication to the real broker."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ingest.hj212 import Frame, HJ212Error, parse_packet
from ingest.simulation import (
    LIMITS,
    EpisodeKind,
    EpisodeRates,
    SimMessage,
    SimulatorOptions,
    TrafficConfig,
    episodes_between,
    generate_traffic,
    make_enterprises,
    run_simulator,
    write_registry,
)
from ingest.simulation.aggregate import combine_flags
from schemas.codes.uplink import JsonUpload
from schemas.core.brokers import broker_address
from schemas.registry.entries import EnterpriseIn
from schemas.registry.files import parse_registry_file
from tests.fixtures.mqtt import collector, wait_until
from tests.fixtures.proxy import TcpProxy

SHANGHAI = ZoneInfo("Asia/Shanghai")
SHANGHAI_OFFSET = timedelta(hours=8)
T0 = datetime(2026, 3, 2, 8, 0)  # naive: Asia/Shanghai
USCC = re.compile(r"[0-9A-HJ-NPQRTUWXY]{18}")
MN = re.compile(r"[0-9A-F]{24}")
ZHEJIANG_CITIES = (
    "杭州",
    "宁波",
    "温州",
    "嘉兴",
    "湖州",
    "绍兴",
    "金华",
    "衢州",
    "舟山",
    "台州",
    "丽水",
)
ULTRA_LOW = "煤电节能减排升级与改造行动计划(2014—2020年)"
STANDARDS = {"gas": (ULTRA_LOW, "GB 16297-1996"), "water": ("GB 18918-2002", "GB 8978-1996")}
TROUBLE = EpisodeRates(exceedance=1.0, outage=0.5, maintenance=0.5, calibration=1.0, fault=0.5)


def traffic(
    enterprises: list[dict[str, Any]],
    seed: int,
    start: datetime = T0,
    hours: float = 1.0,
    interval_s: float = 30.0,
    config: TrafficConfig | None = None,
) -> list[SimMessage]:
    end = start + timedelta(hours=hours)
    return list(
        generate_traffic(
            enterprises, seed=seed, start=start, end=end, interval_s=interval_s, config=config
        )
    )


def fields(frame: Frame) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for v in frame.values:
        out[v.code][v.field] = v.raw
    return out


def mean(values: Iterable[str], like: str) -> Decimal:
    ds = [Decimal(v) for v in values]
    return (sum(ds, Decimal(0)) / len(ds)).quantize(Decimal(like), ROUND_HALF_UP)


@cache
def day_of_trouble() -> tuple[list[dict[str, Any]], list[SimMessage]]:
    """An enterprise (2 gas, 1 water outlet) through a day of frequent trouble, 1 % corrupt."""
    enterprises = make_enterprises(1, 11)
    config = TrafficConfig(corrupt_rate=0.01, episodes=TROUBLE)
    day = datetime(2026, 3, 2)
    return enterprises, traffic(enterprises, 11, day, hours=24, interval_s=60, config=config)


# --- Enterprises ------------------------------------------------------------------------------


def test_enterprises_are_deterministic_plausible_and_valid_registry_entries(
    tmp_path: Path,
) -> None:
    enterprises = make_enterprises(25, 7)
    assert enterprises == make_enterprises(25, 7)
    assert enterprises != make_enterprises(25, 8)
    assert len(enterprises) == 25
    mns = [o["mn"] for e in enterprises for o in e["outlets"]]
    assert len(set(mns)) == len(mns)
    assert len({e["uscc"] for e in enterprises}) == 25
    for e in enterprises:
        model = EnterpriseIn.model_validate(e)  # includes the GB 32100 check character
        assert USCC.fullmatch(model.uscc)
        assert model.district and model.district.startswith(ZHEJIANG_CITIES)
        assert model.name_en and re.search(r"[\u4e00-\u9fff]", model.name_zh)
        assert 118 < (model.longitude or 0) < 123 and 27 < (model.latitude or 0) < 31.5
        assert 1 <= len(model.outlets) <= 3
        for o in model.outlets:
            assert MN.fullmatch(o.mn)
            assert o.password is not None and re.fullmatch(r"\d{6}", o.password)
            assert o.emission_standard in STANDARDS[o.kind]
            assert o.limit_category is not None and o.binding_problem() is None  # binds
    path = tmp_path / "registry.json"
    write_registry(path, make_enterprises(3, 7))
    parsed = parse_registry_file(path)
    assert parsed.ok, parsed.errors
    assert [e.model_dump() for e in parsed.enterprises] == [
        EnterpriseIn.model_validate(e).model_dump() for e in make_enterprises(3, 7)
    ]


# --- Traffic ----------------------------------------------------------------------------------


def test_same_seed_same_bytes_and_any_range_reads_the_same() -> None:
    enterprises = make_enterprises(2, 11)
    first = traffic(enterprises, 11)
    assert [(m.topic, m.payload, m.note) for m in first] == [
        (m.topic, m.payload, m.note) for m in traffic(enterprises, 11)
    ]
    assert {m.payload for m in first}.isdisjoint(m.payload for m in traffic(enterprises, 12))
    # A wider range contains the same uploads for the instants they share.
    wider = traffic(enterprises, 11, T0 - timedelta(minutes=30), hours=2)
    shared = {m.payload for m in wider if m.cn != "2061" and T0 <= m.data_time.replace(tzinfo=None)}
    assert {m.payload for m in first if m.cn != "2061"} <= shared


def test_uploads_come_in_send_order_with_the_expected_cadence() -> None:
    enterprises = make_enterprises(1, 3)
    outlets = len(enterprises[0]["outlets"])
    messages = traffic(enterprises, 3, config=TrafficConfig(episodes=EpisodeRates(0, 0, 0, 0, 0)))
    sends = [m.send_time for m in messages]
    assert sends == sorted(sends)
    assert Counter(m.cn for m in messages) == {
        "2011": 120 * outlets,
        "2051": 60 * outlets,
        "2061": outlets,
    }
    assert all(m.note == "" for m in messages)
    hourly = [m for m in messages if m.cn == "2061"]
    assert {m.data_time.replace(tzinfo=None) for m in hourly} == {T0}
    assert {m.send_time.replace(tzinfo=None) for m in hourly} == {T0 + timedelta(hours=1)}


def test_frames_parse_except_the_deliberately_corrupt_ones() -> None:
    enterprises = make_enterprises(3, 5)
    secrets = {o["mn"]: o["password"] for e in enterprises for o in e["outlets"]}
    config = TrafficConfig(json_fraction=0.25, corrupt_rate=0.05)
    messages = traffic(enterprises, 5, config=config)
    qns: set[tuple[str, str]] = set()
    hows: Counter[str] = Counter()
    for m in messages:
        if m.corrupt:
            hows[m.note.split(",")[0]] += 1
        if m.topic.startswith("sourcewatch/"):
            assert m.topic == f"sourcewatch/v1/{m.mn}/data"
            if m.corrupt:
                with pytest.raises(ValueError):
                    json.loads(m.payload)
                continue
            body = JsonUpload.model_validate_json(m.payload)
            assert body.data_time == m.data_time and body.data_time.utcoffset() == SHANGHAI_OFFSET
            assert (body.mn, body.cn, body.pw, body.ack) == (m.mn, m.cn, secrets[m.mn], True)
            qn = body.qn or ""
        else:
            assert m.topic == f"hj212/{m.mn}/up"
            if m.corrupt:
                with pytest.raises(HJ212Error):
                    parse_packet(m.payload)
                continue
            frame = parse_packet(m.payload)  # strict CRC policy
            assert frame.length_ok and frame.crc.ok
            assert (frame.mn, frame.cn, frame.pw) == (m.mn, m.cn, secrets[m.mn])
            assert frame.st == ("31" if frame.values[0].code.startswith("a") else "32")
            assert frame.flag.raw == 5 and frame.flag.ack
            assert frame.data_time == m.data_time.replace(tzinfo=None)
            qn = frame.qn or ""
        assert re.fullmatch(r"\d{17}", qn) and qn[:14] >= m.send_time.strftime("%Y%m%d%H%M%S")
        qns.add((m.mn, qn))
    assert len(qns) == sum(not m.corrupt for m in messages)  # QN unique per logger
    assert 0.2 < sum(m.topic.startswith("sourcewatch/") for m in messages) / len(messages) < 0.3
    assert set(hows) == {
        "corrupt:bad-crc",
        "corrupt:truncated",
        "corrupt:garbage",
        "corrupt:bad-json",
    }


def test_minute_and_hour_values_follow_from_the_real_time_values() -> None:
    enterprises = make_enterprises(2, 9)
    messages = traffic(enterprises, 9, interval_s=20)
    rtd: dict[tuple[str, datetime, str], list[dict[str, str]]] = defaultdict(list)
    minutes: dict[tuple[str, datetime], dict[str, dict[str, str]]] = {}
    checked = 0
    for m in messages:
        values = fields(parse_packet(m.payload))
        t = m.data_time
        if m.cn == "2011":
            for code, v in values.items():
                rtd[(m.mn, t.replace(second=0), code)].append(v)
        elif m.cn == "2051":
            minutes[(m.mn, t)] = values
            for code, v in values.items():
                rs = rtd[(m.mn, t, code)]
                assert len(rs) == 3
                assert v["Avg"] == str(mean((r["Rtd"] for r in rs), v["Avg"]))
                assert Decimal(v["Min"]) == min(Decimal(r["Rtd"]) for r in rs)
                assert Decimal(v["Max"]) == max(Decimal(r["Rtd"]) for r in rs)
                if "ZsAvg" in v:
                    assert v["ZsAvg"] == str(mean((r["ZsRtd"] for r in rs), v["ZsAvg"]))
                    assert Decimal(v["ZsMax"]) == max(Decimal(r["ZsRtd"]) for r in rs)
                checked += 1
        else:
            found = [minutes.get((m.mn, t + timedelta(minutes=i))) for i in range(60)]
            hour = [h for h in found if h is not None]
            for code, v in values.items():
                if len(hour) == 60 and all(h[code]["Flag"] == "N" for h in hour):
                    assert v["Avg"] == str(mean((h[code]["Avg"] for h in hour), v["Avg"]))
                    if "Cou" in v:
                        assert Decimal(v["Cou"]) == sum(Decimal(h[code]["Cou"]) for h in hour)
    assert checked > 500
    # Flow Cou is flow × time: m³/s for gas, L/s for water.
    for values in minutes.values():
        if "a00000" in values:
            flow = values["a00000"]
            assert Decimal(flow["Cou"]) == Decimal(flow["Avg"]) * 60
        if "w00000" in values:
            flow = values["w00000"]
            assert Decimal(flow["Cou"]) == (Decimal(flow["Avg"]) * 60 / 1000).quantize(
                Decimal("0.01"), ROUND_HALF_UP
            )


def test_converted_values_follow_from_o2() -> None:
    enterprises = [
        e for e in make_enterprises(6, 2) if any(o["kind"] == "gas" for o in e["outlets"])
    ]
    messages = traffic(enterprises, 2, hours=0.5)
    checked = 0
    for m in messages:
        values = fields(parse_packet(m.payload))
        if "a19001" not in values:
            continue
        for code in ("a21026", "a21002", "a34013"):
            v = values[code]
            if m.cn == "2011":
                o2 = Decimal(values["a19001"]["Rtd"])
                zs = Decimal(v["Rtd"]) * 15 / (21 - o2)
                assert Decimal(v["ZsRtd"]) == zs.quantize(Decimal("0.01"), ROUND_HALF_UP)
                if o2 > 6:
                    assert Decimal(v["ZsRtd"]) >= Decimal(v["Rtd"])
            else:
                o2 = Decimal(values["a19001"]["Avg"])
                zs = Decimal(v["Avg"]) * 15 / (21 - o2)
                assert abs(Decimal(v["ZsAvg"]) - zs) <= Decimal("0.02") * zs + Decimal("0.02")
            checked += 1
    assert checked > 300


def test_troubles_occur_at_the_configured_rates() -> None:
    # The schedule itself, over many outlet-days: the mean count per outlet per day is the rate.
    days = 10
    start, end = datetime(2026, 1, 1), datetime(2026, 1, 1) + timedelta(days=days)
    outlets = [o for e in make_enterprises(20, 1) for o in e["outlets"]]
    counts: Counter[EpisodeKind] = Counter()
    for o in outlets:
        for e in episodes_between(1, o["mn"], o["kind"], start, end, TROUBLE):
            if start <= e.start.replace(tzinfo=None) < end:
                counts[e.kind] += 1
    for kind in EpisodeKind:
        expected = TROUBLE.of(kind) * len(outlets) * days
        assert abs(counts[kind] - expected) <= 0.15 * expected, kind


def test_a_day_shows_exceedances_flags_outages_and_corrupt_frames_where_scheduled() -> None:
    enterprises, messages = day_of_trouble()
    day = datetime(2026, 3, 2)
    outlets = {o["mn"]: o["kind"] for e in enterprises for o in e["outlets"]}
    truth = {
        mn: episodes_between(11, mn, kind, day, day + timedelta(days=1), TROUBLE)
        for mn, kind in outlets.items()
    }
    kinds = Counter(e.kind for eps in truth.values() for e in eps)
    assert all(kinds[k] > 0 for k in EpisodeKind), kinds  # the seed exercises every kind

    corrupt = [m for m in messages if m.corrupt]
    assert 0.006 < len(corrupt) / len(messages) < 0.014

    exceeded: Counter[tuple[str, str]] = Counter()
    flags: Counter[str] = Counter()
    for m in messages:
        if m.corrupt or m.cn != "2051":
            continue
        active = [e for e in truth[m.mn] if e.start <= m.data_time < e.end]
        assert m.note == ",".join(e.tag for e in active)
        assert not any(e.kind is EpisodeKind.OUTAGE for e in active)
        for code, v in fields(parse_packet(m.payload)).items():
            flags[v["Flag"]] += 1
            expected = "N"
            for e in active:  # later kinds win, as in the logger: M < D < C
                if e.kind is EpisodeKind.MAINTENANCE:
                    expected = "M"
            for e in active:
                if e.kind is EpisodeKind.FAULT and code in e.factors:
                    expected = "D"
            for e in active:
                if e.kind is EpisodeKind.CALIBRATION and code in e.factors:
                    expected = "C"
            assert v["Flag"] == expected, (m.note, code)
            value = Decimal(v.get("ZsAvg", v["Avg"]))
            if code in LIMITS and value > Decimal(LIMITS[code]) and expected == "N":
                assert f"exceedance:{code}" in m.note
                exceeded[(m.mn, code)] += 1
    assert {"N", "M", "C", "D"} <= set(flags)
    begin, end = day.replace(tzinfo=SHANGHAI), day.replace(tzinfo=SHANGHAI) + timedelta(days=1)
    for mn, episodes in truth.items():
        for e in episodes:
            if e.kind is EpisodeKind.EXCEEDANCE and begin <= e.start and e.end <= end:
                # Ramps take 10 minutes each side; faults, calibration and outages may mask some.
                minutes = (e.end - e.start).total_seconds() / 60
                assert exceeded[(mn, e.factors[0])] >= 0.5 * minutes - 20, e
            if (
                e.kind is EpisodeKind.OUTAGE
            ):  # silent, except an hour's upload for its other minutes
                silent = [m for m in messages if m.mn == mn and e.start <= m.data_time < e.end]
                assert all(m.cn == "2061" for m in silent), e


def test_invalid_settings_are_refused() -> None:
    enterprises = make_enterprises(1, 1)
    for interval in (0.5, 61.0):
        with pytest.raises(ValueError, match="interval"):
            next(generate_traffic(enterprises, seed=1, start=T0, interval_s=interval))
    with pytest.raises(ValueError, match="json_fraction"):
        TrafficConfig(json_fraction=1.5)
    with pytest.raises(ValueError, match="rate"):
        TrafficConfig(episodes=EpisodeRates(exceedance=-1))
    fast = SimulatorOptions(realtime=False, duration_s=60.0)
    assert run_simulator(fast, "ftp://127.0.0.1") == 2  # refused before anything is sent
    assert run_simulator(replace(fast, interval_s=120.0), "mqtt://127.0.0.1:1") == 2
    assert run_simulator(replace(fast, exceedance_rate=-1.0), "mqtt://127.0.0.1:1") == 2


# --- Publishing -------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_back_filled_range_reaches_a_subscriber(mqtt_url: str, tmp_path: Path) -> None:
    options = SimulatorOptions(
        enterprises=2,
        interval_s=10.0,
        seed=20261128,
        start=datetime(2026, 11, 28, 8, 0),
        duration_s=300.0,
        realtime=False,
        json_fraction=0.2,
        corrupt_rate=0.05,
        write_registry=tmp_path / "registry.json",
    )
    enterprises = make_enterprises(options.enterprises, options.seed)
    config = TrafficConfig(json_fraction=0.2, corrupt_rate=0.05)
    start = options.start or T0
    expected = traffic(
        enterprises, options.seed, start, hours=300 / 3600, interval_s=10, config=config
    )
    mns = {m.mn for m in expected}
    with (
        collector(mqtt_url, "hj212/+/up") as raw,
        collector(mqtt_url, "sourcewatch/v1/+/data") as js,
    ):
        assert run_simulator(options, mqtt_url) == 0

        def ours() -> list[tuple[str, bytes]]:
            return [(t, p) for t, p in raw + js if t.split("/")[-2] in mns]

        wait_until(lambda: len(ours()) >= len(expected), timeout=5, what="every message")
    assert Counter(ours()) == Counter((m.topic, m.payload) for m in expected)
    assert parse_registry_file(tmp_path / "registry.json").ok


@pytest.mark.integration
def _a_seed_reporting_now() -> int:
    """A seed whose enterprise's outlets all report in real time for the next minute: the
    traffic has random outage episodes (seed 77's outlet was silent 11:53-13:33 on 2026-12-04,
    and this test failed then), and this test is about pacing, not episodes."""
    for seed in range(77, 177):
        outlets = len(make_enterprises(1, seed)[0]["outlets"])
        now = datetime.now(SHANGHAI)
        coming = generate_traffic(
            make_enterprises(1, seed),
            seed=seed,
            start=now,
            end=now + timedelta(minutes=1),
            interval_s=1.0,
        )
        if sum(m.cn == "2011" for m in coming) >= 55 * outlets:
            return seed
    raise AssertionError("no seed of 77-176 reports for the next minute")


def test_real_time_publishing_paces_the_uploads_and_stops_on_request(mqtt_url: str) -> None:
    seed = _a_seed_reporting_now()
    options = SimulatorOptions(enterprises=1, interval_s=1.0, seed=seed, realtime=True)
    mns = {o["mn"] for o in make_enterprises(1, seed)[0]["outlets"]}
    stop = threading.Event()
    with collector(mqtt_url, "hj212/+/up") as raw:

        def realtime() -> list[bytes]:
            return [p for t, p in raw if t.split("/")[1] in mns and b"CN=2011" in p]

        def stop_once_uploads_came() -> None:
            # stopped on what was seen, not after a fixed time: a busy machine may take longer
            # than that to start the simulator
            deadline = time.monotonic() + 30
            while len(realtime()) < len(mns) and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()

        threading.Thread(target=stop_once_uploads_came, daemon=True).start()
        started = time.monotonic()
        assert run_simulator(options, mqtt_url, stop=stop) == 0
        ran = time.monotonic() - started
    # it stopped when asked, and sent one 2011 per second per outlet, not the range at once
    assert stop.is_set() and len(realtime()) >= len(mns)
    assert len(realtime()) <= (ran / options.interval_s + 2) * len(mns)


@pytest.mark.integration
def test_publishing_survives_a_broker_outage(
    mqtt_url: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port, _, _, _ = broker_address(mqtt_url)
    proxy = TcpProxy(host, port)
    start = datetime(2026, 11, 29, 8, 0)
    options = SimulatorOptions(
        enterprises=1, interval_s=5.0, seed=4242, start=start, duration_s=1800.0, realtime=False
    )
    enterprises = make_enterprises(1, options.seed)
    expected = {(m.topic, m.payload) for m in traffic(enterprises, 4242, start, 0.5, 5.0)}
    mns = {o["mn"] for o in enterprises[0]["outlets"]}

    def cut_after_100(*args: Any, **kwargs: Any) -> Iterator[SimMessage]:
        for i, message in enumerate(generate_traffic(*args, **kwargs)):
            if i == 100:  # the broker goes away mid-stream, and comes back 0.2 s later
                proxy.cut()
                threading.Timer(0.2, proxy.restore).start()
            yield message

    monkeypatch.setattr("ingest.simulation.publisher.generate_traffic", cut_after_100)
    with collector(mqtt_url, "hj212/+/up") as raw:

        def ours() -> set[tuple[str, bytes]]:
            return {(t, p) for t, p in raw if t.split("/")[1] in mns}

        try:
            assert run_simulator(options, f"mqtt://127.0.0.1:{proxy.port}") == 0
        finally:
            proxy.close()
        wait_until(lambda: len(ours()) >= len(expected), timeout=5, what="every message")
    assert ours() == expected  # QoS 1: at least once; a re-sent message may come twice
    assert "lost" in caplog.text


@pytest.mark.integration
def test_a_back_fill_reports_its_progress_in_simulated_seconds(mqtt_url: str) -> None:
    from ingest.simulation.publisher import fast_duration_s

    options = SimulatorOptions(
        enterprises=1,
        interval_s=30.0,
        seed=5,
        realtime=False,
        start=datetime(2026, 11, 28, 8, 0),
        duration_s=600.0,
    )
    calls: list[int] = []
    assert run_simulator(options, mqtt_url, progress=calls.append) == 0
    assert sum(calls) == fast_duration_s(options) == 600  # the whole range, once
    assert len(calls) > 10 and all(step > 0 for step in calls)
    assert fast_duration_s(replace(options, duration_s=None)) == 3600  # the default back-fill


def test_interval_flags_follow_the_rule_the_evaluator_judges_by() -> None:
    # HJ 212-2017 notes to Tables C.16–C.18, read from pattern_rules.csv as the evaluator does:
    # a flue-gas interval is abnormal once more than 25 % of its values are, wastewater with one.
    assert combine_flags(["D"] * 16 + ["N"] * 44, "gas") == "D"
    assert combine_flags(["D"] * 15 + ["N"] * 45, "gas") == "N"
    assert combine_flags(["C"] * 10 + ["D"] * 6 + ["N"] * 44, "gas") == "C"
    assert combine_flags(["N"] * 59 + ["M"], "water") == "M"
    assert combine_flags(["N"] * 60, "water") == "N"
