"""The simulated loggers' history and their answers to the HJ 212 history query (issue 14)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import pytest

from ingest.hj212 import parse_packet
from ingest.recall import history_query
from ingest.simulation.frames import upload
from ingest.simulation.history import History
from ingest.simulation.publisher import SimulatorOptions, recall_rates
from ingest.simulation.timebase import to_ms

MN = "0100000000000000000000S1"
T0 = datetime(2026, 12, 1, 8, 0)  # local time


def sent(minutes: int = 60) -> list:
    return [
        upload(
            mn=MN,
            pw="123456",
            st="31",
            cn="2051",
            data_ms=to_ms(T0 + timedelta(minutes=m)),
            qn_ms=to_ms(T0 + timedelta(minutes=m + 1)),
            items={"a21026": {"Avg": "10", "Flag": "N"}},
            note="",
            as_json=False,
        )
        for m in range(minutes)
    ]


def query(qn: str = "20261201100000000", begin: int = 10, end: int = 19) -> bytes:
    return history_query(
        mn=MN,
        pw="123456",
        st="31",
        cn="2051",
        qn=qn,
        flag=5,
        begin=T0 + timedelta(minutes=begin),
        end=T0 + timedelta(minutes=end),
    )


def answered(history: History, packet: bytes) -> list[tuple[str | None, str | None, str]]:
    frames = [parse_packet(p.rstrip(b"\r\n")) for p in history.answer(packet)]
    return [(f.cn, f.qn, f.cp) for f in frames]


def test_a_logger_answers_with_9011_its_records_and_9012() -> None:
    history = History()
    history.remember(sent())
    out = answered(history, query())
    assert out[0] == ("9011", "20261201100000000", "QnRtn=1")
    assert out[-1] == ("9012", "20261201100000000", "ExeRtn=1")
    data = out[1:-1]
    assert [cn for cn, _, _ in data] == ["2051"] * 10  # 08:10 to 08:19, both included
    assert all(qn != "20261201100000000" for _, qn, _ in data)
    assert data[0][2].startswith("DataTime=20261201081000;")
    originals = {m.payload.rstrip(b"\r\n") for m in sent()}
    assert all(p not in originals for p in history.answer(query())[1:-1])  # new QNs


def test_partial_refused_silent_and_no_data() -> None:
    history = History(per_mn={MN: "partial"})
    history.remember(sent())
    assert len(answered(history, query())) == 2 + 5
    history.per_mn[MN] = "refuse"
    assert answered(history, query()) == [("9011", "20261201100000000", "QnRtn=2")]
    history.per_mn[MN] = "silent"
    assert answered(history, query()) == []
    history.per_mn[MN] = "answer"
    late = answered(history, query(begin=120, end=130))  # nothing kept for that time
    assert [cp for _, _, cp in late] == ["QnRtn=1", "ExeRtn=100"]
    assert len(history.queries) == 4
    assert history.answer(b"##0013ST=91;CP=&&&&3B80") == []  # not a query


def test_behaviour_is_drawn_per_query_from_the_rates_deterministically() -> None:
    def draws(seed: int) -> list[int]:
        history = History(rates=(0.2, 0.3, 0.1), seed=seed)
        history.remember(sent())
        return [len(history.answer(query(qn=f"2026120110{i:07d}"))) for i in range(400)]

    assert draws(7) == draws(7)
    kinds = Counter({0: "silent", 1: "refuse", 7: "partial", 12: "answer"}[n] for n in draws(7))
    assert set(kinds) == {"silent", "refuse", "partial", "answer"}
    assert 40 <= kinds["refuse"] <= 120 and 80 <= kinds["partial"] <= 160
    with pytest.raises(ValueError, match="recall rates"):
        recall_rates(SimulatorOptions(recall_refuse_rate=0.7, recall_partial_rate=0.5))
