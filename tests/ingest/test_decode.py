"""The operator tool behind ``sourcewatch hj212 decode``."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from ingest.decode import run_decode
from ingest.hj212 import CRCPolicy

GOOD = (
    b"##0121QN=20241203172533074;ST=31;CN=2011;PW=123456;MN=Abc;Flag=4;"
    b"CP=&&DataTime=20241203172530;a00000-Rtd=0.0000,a00000-Flag=D&&7700"
)
BAD_CRC = GOOD[:-4] + b"7701"
OFFICIAL = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&1C80"
)
MODBUS_LO = OFFICIAL[:-4] + b"5907"
CHINESE = (
    "##0166QN=20160801085857223;ST=32;CN=3020;PW=123456;MN=010000A8900016F000169DC1;"
    "Flag=5;CP=&&DataTime=20160801085857;PolId=w01018;"
    "i11001-Info=//清洗管路;开始,结束//&&1F40".encode()
)
LEGACY = (
    b"##0112ST=32;CN=2011;PW=123456;MN=8888888880000001;"
    b"CP=&&DataTime=20040516010101011;B01-Rtd=100;101-Rtd=1.1,101-Flag=N&&A501"
)


def decode(data: bytes, policy: CRCPolicy = CRCPolicy.STRICT) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    status = run_decode(io.BytesIO(data), out, policy)
    text = out.getvalue()
    assert text.endswith("\n") or text == ""
    return status, [json.loads(line) for line in text.splitlines()]


GOOD_RECORD = {
    "ok": True,
    "st": "31",
    "cn": "2011",
    "mn": "Abc",
    "qn": "20241203172533074",
    "flag": {"raw": 4, "version": 1, "standard": "HJ 212-2017", "split": False, "ack": False},
    "crc": {"received": "7700", "computed": "7700", "algorithm": "hj212", "ok": True},
    "length_ok": True,
    "data_time": "2024-12-03T17:25:30",
    "values": [{"code": "a00000", "field": "Rtd", "value": "0.0000", "flag": "D"}],
}


def test_raw_stream_with_a_good_a_bad_crc_and_a_garbage_frame() -> None:
    status, records = decode(GOOD + BAD_CRC + b"\x00\x01garbage" + GOOD)  # glued, no CR LF
    assert status == 1
    assert records[0] == GOOD_RECORD
    assert records[1]["ok"] is False and records[1]["error"] == "crc"
    assert "7701" in records[1]["detail"] and "7700" in records[1]["detail"]
    assert records[2]["ok"] is False and records[2]["error"] == "format"
    assert records[3] == GOOD_RECORD
    assert len(records) == 4


def test_one_frame_per_line_all_good_returns_0() -> None:
    status, records = decode(GOOD + b"\n" + OFFICIAL + b"\r\n" + LEGACY + b"\n")
    assert status == 0
    assert [r["cn"] for r in records] == ["2011", "1062", "2011"]
    legacy = records[2]
    assert legacy["qn"] is None
    assert legacy["flag"] == {
        "raw": None,
        "version": None,
        "standard": None,
        "split": False,
        "ack": False,
    }
    assert legacy["data_time"] == "2004-05-16T01:01:01.011"
    assert legacy["values"] == [
        {"code": "B01", "field": "Rtd", "value": "100", "flag": None},
        {"code": "101", "field": "Rtd", "value": "1.1", "flag": "N"},
    ]


def test_error_kinds_length_and_format() -> None:
    status, records = decode(OFFICIAL[:60] + b"\r\n" + b"##81QN=;ST=23;CP=&&&&1DC0\r\n")
    assert status == 1
    assert [(r["ok"], r["error"]) for r in records] == [(False, "length"), (False, "format")]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (CRCPolicy.STRICT, {"ok": False, "error": "crc"}),
        (CRCPolicy.LENIENT, {"ok": True, "algorithm": None, "crc_ok": False}),
        (CRCPolicy.ALT, {"ok": True, "algorithm": "modbus-lo", "crc_ok": True}),
    ],
)
def test_crc_policies(policy: CRCPolicy, expected: dict[str, Any]) -> None:
    status, [record] = decode(MODBUS_LO + b"\r\n", policy)
    assert status == (0 if expected["ok"] else 1)
    got = {"ok": record["ok"]}
    if record["ok"]:
        got |= {"algorithm": record["crc"]["algorithm"], "crc_ok": record["crc"]["ok"]}
    else:
        got |= {"error": record["error"]}
    assert got == expected


def test_policy_given_as_plain_string() -> None:
    assert decode(MODBUS_LO, "alt")[0] == 0  # type: ignore[arg-type]


def test_chinese_is_written_as_is() -> None:
    out = io.StringIO()
    assert run_decode(io.BytesIO(CHINESE), out, CRCPolicy.STRICT) == 0
    assert "//清洗管路;开始,结束//" in out.getvalue()
    [record] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert record["values"] == [
        {"code": "i11001", "field": "Info", "value": "//清洗管路;开始,结束//", "flag": None}
    ]


def test_large_input_read_in_chunks() -> None:
    status, records = decode((GOOD + b"\r\n") * 1000 + GOOD)
    assert status == 0 and len(records) == 1001


def test_empty_input() -> None:
    assert decode(b"") == (0, [])
