"""The Notification contract and its rendering (no I/O): bilingual JSON with UTC and Beijing
times, the JSON round trip, single messages and digests."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from alerts.notify import InvalidNotification, Notification, render, render_digest
from alerts.notify.message import DIGEST_MAX_LINES

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

SO2 = Notification(
    event_id=7,
    case_id=3,
    kind="exceedance",
    action="opened",
    severity="major",
    occurred_at=T0,
    enterprise_id=1,
    enterprise_name_zh="杭州某热电有限公司",
    enterprise_name_en="Hangzhou Power Co.",
    district="西湖区",
    outlet_id=2,
    outlet_name_zh="1号排口",
    mn="33010000000001",
    pollutant="a21026",
    pollutant_name_zh="二氧化硫",
    pollutant_name_en="sulfur dioxide (SO2)",
    title_zh="超标：杭州某热电有限公司 1号排口 二氧化硫小时均值",
    title_en="Exceedance: Hangzhou Power Co. outlet 33010000000001 sulfur dioxide (SO2) hourly mean",
    details={
        "mean": Decimal("123.40"),
        "limit": Decimal(100),
        "unit": "mg/m³",
        "multiple": Decimal("0.234"),
        "period": "hour",
        "limit_source": "GB 13223-2011",
    },
)

OUTAGE = replace(
    SO2,
    event_id=8,
    kind="outage",
    severity="warning",
    pollutant=None,
    pollutant_name_zh=None,
    pollutant_name_en=None,
    enterprise_name_en=None,
    district=None,
    title_zh="数据中断：杭州某热电有限公司 1号排口",
    title_en="Outage: outlet 33010000000001",
    details={"silent_since": datetime(2026, 11, 28, 6, 0, tzinfo=UTC)},
)


def test_to_json_is_bilingual_with_utc_and_beijing_times() -> None:
    doc = SO2.to_json()
    assert doc["type"] == "case_event"
    assert (doc["event_id"], doc["case_id"], doc["kind"], doc["action"], doc["severity"]) == (
        7,
        3,
        "exceedance",
        "opened",
        "major",
    )
    assert doc["occurred_at"] == {
        "utc": "2026-11-28T08:00:00Z",
        "local": "2026-11-28T16:00:00+08:00",
        "timezone": "Asia/Shanghai",
    }
    assert doc["labels"] == {
        "zh": {"kind": "超标", "action": "新立案", "severity": "严重"},
        "en": {"kind": "Exceedance", "action": "opened", "severity": "Major"},
    }
    assert doc["title"]["zh"].startswith("超标") and doc["title"]["en"].startswith("Exceedance")
    assert doc["enterprise"] == {
        "id": 1,
        "name_zh": "杭州某热电有限公司",
        "name_en": "Hangzhou Power Co.",
        "district": "西湖区",
    }
    assert doc["outlet"] == {"id": 2, "name_zh": "1号排口", "mn": "33010000000001"}
    assert doc["pollutant"] == {
        "code": "a21026",
        "name_zh": "二氧化硫",
        "name_en": "sulfur dioxide (SO2)",
    }
    assert doc["details"]["mean"] == 123.4 and doc["details"]["limit"] == 100
    json.dumps(doc)  # JSON-able as it is
    assert OUTAGE.to_json()["pollutant"] is None
    assert OUTAGE.to_json()["details"] == {"silent_since": "2026-11-28T06:00:00+00:00"}


@pytest.mark.parametrize("n", [SO2, OUTAGE], ids=["exceedance", "outage"])
def test_json_round_trip(n: Notification) -> None:
    assert Notification.from_json(json.loads(json.dumps(n.to_json()))) == n


def test_times_in_other_zones_are_normalised() -> None:
    beijing = timezone(timedelta(hours=8))
    n = replace(SO2, occurred_at=datetime(2026, 11, 28, 16, 0, tzinfo=beijing))
    assert n.to_json()["occurred_at"]["utc"] == "2026-11-28T08:00:00Z"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"occurred_at": datetime(2026, 11, 28, 8, 0)}, "timezone-aware"),
        ({"kind": "storm"}, "kind"),
        ({"severity": "minor"}, "severity"),
        ({"details": {"raw": b"\x00"}}, "JSON-able"),
    ],
)
def test_contract_violations_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidNotification, match=message):
        replace(SO2, **changes)  # type: ignore[arg-type]


class _Text(str):
    pass


def test_details_are_normalised_to_json_values() -> None:
    """Plain strings, numbers, booleans, None and dicts of them are kept as they are; keys
    become strings; subclasses, Decimals, times and tuples are normalised as ever; nested
    values too."""
    details = {
        "plain": "x",
        "count": 3,
        "ok": True,
        "none": None,
        1: "a key that is not a string",
        "nested": {
            "limit": Decimal(35),
            "ratio": Decimal("1.25"),
            "at": T0,
            "nan": Decimal("NaN"),
        },
        "list": [Decimal(2), ("a", 1.5), {"b": float("inf")}],
        "subclass": _Text("y"),
        "ordered": OrderedDict(z=Decimal("0.5")),
    }
    assert replace(SO2, details=details).details == {  # type: ignore[arg-type]
        "plain": "x",
        "count": 3,
        "ok": True,
        "none": None,
        "1": "a key that is not a string",
        "nested": {"limit": 35, "ratio": 1.25, "at": "2026-11-28T08:00:00+00:00", "nan": None},
        "list": [2, ["a", 1.5], {"b": None}],
        "subclass": "y",
        "ordered": {"z": 0.5},
    }


def test_from_json_refuses_other_documents() -> None:
    with pytest.raises(InvalidNotification):
        Notification.from_json({"type": "digest"})


def test_a_single_message_in_both_languages() -> None:
    m = render(SO2)
    assert m.event_ids == (7,) and not m.digest
    assert m.subject == (
        "【严重】超标：杭州某热电有限公司 1号排口 二氧化硫小时均值 / "
        "[Major] Exceedance: Hangzhou Power Co. outlet 33010000000001 sulfur dioxide (SO2) "
        "hourly mean"
    )
    for line in [
        "级别：严重　类型：超标　状态：新立案",
        "企业：杭州某热电有限公司（西湖区）",
        "排口：1号排口（MN 33010000000001）",
        "污染物：二氧化硫（a21026）",
        "时间：2026-11-28 16:00 北京时间",
        "均值：123.4 mg/m³",
        "限值：100 mg/m³",
        "超标倍数：0.234",
        "限值依据：GB 13223-2011",
        "Severity: Major  Kind: Exceedance  Transition: opened",
        "Enterprise: Hangzhou Power Co. (西湖区)",
        "Pollutant: sulfur dioxide (SO2) (a21026)",
        "Time: 2026-11-28 08:00 UTC",
        "Mean: 123.4 mg/m³",
        "case 3 · event 7",
    ]:
        assert line in m.text.splitlines(), line
    assert m.markdown.startswith("### 【严重】超标")
    assert "> Mean: 123.4 mg/m³" in m.markdown
    assert m.payload == SO2.to_json()
    assert json.loads(m.json_bytes()) == SO2.to_json()


def test_an_outage_message_has_no_pollutant_lines() -> None:
    m = render(OUTAGE)
    assert "污染物" not in m.text and "Pollutant" not in m.text
    assert "Enterprise: 杭州某热电有限公司" in m.text  # no English name: the Chinese one


def test_a_digest_lists_everything_and_is_capped_in_text() -> None:
    many = [replace(SO2, event_id=100 + i, severity="warning") for i in range(DIGEST_MAX_LINES + 5)]
    many[3] = replace(many[3], severity="critical")
    m = render_digest(many)
    assert m.digest and m.event_ids == tuple(n.event_id for n in many)
    assert m.subject_zh == f"【汇总·紧急】{len(many)} 条案件通知"
    assert m.subject_en == f"[Digest, Critical] {len(many)} case notifications"
    assert m.text.count("\n- ") == 2 * (DIGEST_MAX_LINES + 1)
    assert "……另有 5 条" in m.text and "… and 5 more" in m.text
    assert "【紧急】超标" in m.text
    assert m.payload["count"] == len(many) and len(m.payload["notifications"]) == len(many)
    assert m.payload["notifications"][0] == many[0].to_json()
    with pytest.raises(ValueError, match="at least one"):
        render_digest([])
