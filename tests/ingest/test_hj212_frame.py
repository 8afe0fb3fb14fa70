"""parse_packet / parse_segment on tables of real-shaped packets, good and bad."""

from __future__ import annotations

import dataclasses
import pickle
import random
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from ingest.hj212 import (
    CRCError,
    CRCPolicy,
    CRCResult,
    FlagBits,
    Frame,
    FrameError,
    HJ212Error,
    LengthError,
    Value,
    build_packet,
    build_segment,
    crc16,
    parse_cp,
    parse_data_time,
    parse_packet,
    parse_segment,
)
from ingest.hj212.cp import shape_template
from ingest.hj212.frame import _SHAPE_HINTS, _cp_open

MN = "010000A8900016F000169DC0"
OFFICIAL = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&1C80"
)


def summary(frame: Frame) -> dict[str, Any]:
    return {
        "header": dict(frame.header),
        "qn": frame.qn,
        "st": frame.st,
        "cn": frame.cn,
        "pw": frame.pw,
        "mn": frame.mn,
        "flag": frame.flag.raw,
        "pnum": frame.pnum,
        "pno": frame.pno,
        "attributes": dict(frame.attributes),
        "values": [(v.code, v.field, v.raw) for v in frame.values],
        "data_time": frame.data_time,
        "length_ok": frame.length_ok,
        "crc_ok": frame.crc.ok,
        "declared_length": frame.declared_length,
    }


# (id, packet as received, expected subset of summary()). Every CRC here was computed with the
# Appendix A routine; every length is the byte length of the segment.
GOOD = [
    (
        "appendix-a-vector",
        OFFICIAL + b"\r\n",
        {
            "header": {
                "QN": "20160801085857223",
                "ST": "32",
                "CN": "1062",
                "PW": "100000",
                "MN": MN,
                "Flag": "5",
            },
            "flag": 5,
            "attributes": {"RtdInterval": "30"},
            "values": [],
            "data_time": None,
            "length_ok": True,
            "declared_length": 101,
        },
    ),
    (
        "real-2011-one-channel-flag-D",
        (
            b"##0121QN=20241203172533074;ST=31;CN=2011;PW=123456;MN=Abc;Flag=4;"
            b"CP=&&DataTime=20241203172530;a00000-Rtd=0.0000,a00000-Flag=D&&7700"
        ),
        {
            "qn": "20241203172533074",
            "st": "31",
            "cn": "2011",
            "mn": "Abc",
            "flag": 4,
            "values": [("a00000", "Rtd", "0.0000"), ("a00000", "Flag", "D")],
            "data_time": datetime(2024, 12, 3, 17, 25, 30),
        },
    ),
    (
        "real-2005-header-2017-codes-no-qn-no-flag",
        (
            b"##0234ST=101;CN=2011;PW=123456;MN=41050022000017;CP=&&DataTime=20200922110000;"
            b"a34010-Rtd=2.017,a34010-Flag=N;a34009-Rtd=0.522,a34009-Flag=N;ua19004-Rtd=2.017,"
            b"ua19004-Flag=N;ua19005-Rtd=0.522,ua19005-Flag=N;ua19003-Rtd=2.539,ua19003-Flag=N&&3300"
        ),
        {"qn": None, "st": "101", "flag": None, "pw": "123456", "mn": "41050022000017"},
    ),
    (
        "2005-legacy-codes-17-digit-datatime",
        (
            b"##0112ST=32;CN=2011;PW=123456;MN=8888888880000001;"
            b"CP=&&DataTime=20040516010101011;B01-Rtd=100;101-Rtd=1.1,101-Flag=N&&A501"
        ),
        {
            "qn": None,
            "flag": None,
            "values": [("B01", "Rtd", "100"), ("101", "Rtd", "1.1"), ("101", "Flag", "N")],
            "data_time": datetime(2004, 5, 16, 1, 1, 1, 11000),
        },
    ),
    (
        "2025-flag-8-zs-values",
        (
            b"##0158QN=20201129210001000;ST=31;CN=2061;PW=123456;MN=010000A8900016F000169DC0;"
            b"Flag=8;CP=&&DataTime=20201129210001;a21026-Avg=12.5,a21026-ZsAvg=15.1,"
            b"a21026-Flag=N&&4B00"
        ),
        {
            "flag": 8,
            "values": [
                ("a21026", "Avg", "12.5"),
                ("a21026", "ZsAvg", "15.1"),
                ("a21026", "Flag", "N"),
            ],
            "data_time": datetime(2020, 11, 29, 21, 0, 1),
        },
    ),
    (
        "2025-flag-9-heartbeat-empty-cp",
        (
            b"##0087QN=20210101000000000;ST=31;CN=9015;PW=123456;MN=010000A8900016F000169DC0;"
            b"Flag=9;CP=&&&&E8C1"
        ),
        {"flag": 9, "cn": "9015", "attributes": {}, "values": []},
    ),
    (
        "chinese-info-utf8-bytes-counted",
        "##0166QN=20160801085857223;ST=32;CN=3020;PW=123456;MN=010000A8900016F000169DC1;"
        "Flag=5;CP=&&DataTime=20160801085857;PolId=w01018;"
        "i11001-Info=//清洗管路;开始,结束//&&1F40".encode(),
        {
            "attributes": {"DataTime": "20160801085857", "PolId": "w01018"},
            "values": [("i11001", "Info", "//清洗管路;开始,结束//")],
            "length_ok": True,
            "crc_ok": True,
        },
    ),
    (
        "chinese-info-gb18030",
        b"##0158QN=20160801085857223;ST=32;CN=3020;PW=123456;MN=010000A8900016F000169DC1;"
        b"Flag=5;CP=&&DataTime=20160801085857;PolId=w01018;i11001-Info=//"
        + "清洗管路;开始,结束".encode("gb18030")
        + b"//&&3AC0",
        {"values": [("i11001", "Info", "//清洗管路;开始,结束//")], "length_ok": True},
    ),
    (
        "lower-case-crc",
        OFFICIAL[:-4] + b"1c80",
        {"crc_ok": True, "flag": 5},
    ),
    (
        "crc-0000",
        (
            b"##0087QN=20160801085857115;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=4;CP=&&&&0000"
        ),
        {"cn": "9014", "st": "91", "crc_ok": True},
    ),
    (
        "wrong-length-good-crc-resynced",
        b"##0100" + OFFICIAL[6:],
        {"length_ok": False, "crc_ok": True, "declared_length": 100, "cn": "1062"},
    ),
    (
        "C.19-missing-semicolon-before-cp",
        (
            b"##0133QN=20160801085857223;ST=32;CN=2051;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=5CP=&&BeginTime=20160801000000;EndTime=20160801235959&&C181"
        ),
        {
            "flag": 5,
            "attributes": {"BeginTime": "20160801000000", "EndTime": "20160801235959"},
        },
    ),
    (
        "C.22-comma-between-header-fields",
        (
            b"##0134QN=20160801085857534,ST=32;CN=2061;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=5;CP=&&BeginTime=20160801000000;EndTime=20160801235959&&0140"
        ),
        {"qn": "20160801085857534", "st": "32", "cn": "2061"},
    ),
    (
        "C.2-space-after-cp-open",
        (
            b"##0100QN=20160801085857223;ST=32;CN=1011;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=5;CP=&& PolId=w01018&&B2C1"
        ),
        {"attributes": {"PolId": "w01018"}},
    ),
    (
        "C.4-blank-cp",
        (
            b"##0088QN=20160801085857223;ST=32;CN=2012;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=5;CP=&& &&AA01"
        ),
        {"attributes": {}, "values": []},
    ),
    (
        "C.42-space-before-equals",
        (
            b"##0152QN=20160801085857223;ST=32;CN=3020;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=5;CP=&&DataTime=20160801085857;PolId=w01018;i12001-Info=1;i12003-Info =0&&2200"
        ),
        {"values": [("i12001", "Info", "1"), ("i12003", "Info", "0")]},
    ),
    (
        "C.43-space-before-flag",
        (
            b"##0114QN=20160801085857223;ST=32;CN=3020;PW=100000;MN=010000A8900016F000169DC0;"
            b" Flag=5;CP=&&PolId=w01018;InfoId=i13004&&3B80"
        ),
        {"flag": 5, "attributes": {"PolId": "w01018", "InfoId": "i13004"}},
    ),
    (
        "C.14-misprinted-code-kept-as-sent",
        (
            b"##0214QN=20160801085857223;ST=32;CN=2011;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=5;CP=&&DataTime=20160801085857;w01001-Rtd=7.1,w01001-Flag=N;"
            b"01018-SampleTime=20160801070000,01018-Rtd=2.2,01018-Flag=N,01018-EFlag=A01&&C181"
        ),
        {
            "values": [
                ("w01001", "Rtd", "7.1"),
                ("w01001", "Flag", "N"),
                ("01018", "SampleTime", "20160801070000"),
                ("01018", "Rtd", "2.2"),
                ("01018", "Flag", "N"),
                ("01018", "EFlag", "A01"),
            ]
        },
    ),
    (
        "FLAG-capitals-stray-comma-empty-trailing-group",
        (
            b"##0141QN=20160801085857223;ST=31;CN=2011;PW=123456;,MN=010000A8900016F000169DC0;"
            b"FLAG=0;CP=&&DataTime=20160801085857;a21026-Rtd=1.2,a21026-Flag=N;&&BE01"
        ),
        {
            "mn": MN,
            "flag": 0,
            "header": {
                "QN": "20160801085857223",
                "ST": "31",
                "CN": "2011",
                "PW": "123456",
                "MN": MN,
                "Flag": "0",
            },
            "values": [("a21026", "Rtd", "1.2"), ("a21026", "Flag", "N")],
        },
    ),
    (
        "2005-reply-qn-inside-cp",
        b"##0077ST=91;CN=9011;PW=123456;MN=88888880000001;CP=&&QN=20040516010101001;QnRtn=1&&84C1",
        {"qn": None, "attributes": {"QN": "20040516010101001", "QnRtn": "1"}},
    ),
    (
        "negative-padded-duplicate-upper-case-any-order-empty-value",
        (
            b"##0217QN=20201129210001123;ST=31;CN=2061;PW=123456;MN=Abc;Flag=4;"
            b"CP=&&DataTime=20201129210001;a01013-Avg=-120.4117,a01013-Flag=N;W01018-Flag=N,"
            b"W01018-Avg=00.58;w00000-Avg=1.0,w00000-Avg=2.0;StaTem-min=024.0;DATState=3;AL=&&BA41"
        ),
        {
            "attributes": {"DataTime": "20201129210001", "DATState": "3", "AL": ""},
            "values": [
                ("a01013", "Avg", "-120.4117"),
                ("a01013", "Flag", "N"),
                ("W01018", "Flag", "N"),
                ("W01018", "Avg", "00.58"),
                ("w00000", "Avg", "1.0"),
                ("w00000", "Avg", "2.0"),
                ("StaTem", "min", "024.0"),
            ],
        },
    ),
    (
        "header-order-st-cn-qn",
        (
            b"##0139ST=32;CN=2011;QN=20160801085857223;PW=123456;MN=010000A8900016F000169DC0;"
            b"Flag=5;CP=&&DataTime=20160801085857;w01018-Rtd=2.2,w01018-Flag=N&&18C0"
        ),
        {"qn": "20160801085857223", "st": "32", "cn": "2011"},
    ),
    (
        "pno-before-pnum-zero-padded-no-flag",
        (
            b"##0105ST=31;CN=2051;PW=123456;MN=88888880000001;PNO=0002;PNUM=0002;"
            b"CP=&&DataTime=20200924101000;112-Avg=0.000&&3AC0"
        ),
        {"flag": None, "pnum": 2, "pno": 2},
    ),
    (
        "empty-datatime",
        (
            b"##0096QN=20160801085857223;ST=32;CN=2011;PW=123456;MN=010000A8900016F000169DC0;"
            b"Flag=4;CP=&&DataTime=&&4C80"
        ),
        {"attributes": {"DataTime": ""}, "data_time": None},
    ),
    (
        "bare-lf-terminator",
        OFFICIAL + b"\n",
        {"cn": "1062", "length_ok": True},
    ),
]


@pytest.mark.parametrize(("packet", "expected"), [c[1:] for c in GOOD], ids=[c[0] for c in GOOD])
def test_parse_good_packets(packet: bytes, expected: dict[str, Any]) -> None:
    frame = parse_packet(packet)
    got = summary(frame)
    assert {key: got[key] for key in expected} == expected
    assert frame.packet == packet.rstrip(b"\r\n")
    assert frame.crc.ok and frame.crc.algorithm == "hj212"


def test_frame_fields_of_the_appendix_a_vector() -> None:
    frame = parse_packet(OFFICIAL + b"\r\n")
    assert frame == Frame(
        packet=OFFICIAL,
        segment=OFFICIAL[6:-4],
        declared_length=101,
        length_ok=True,
        crc=CRCResult("1C80", "1C80", "hj212", True),
        header={
            "QN": "20160801085857223",
            "ST": "32",
            "CN": "1062",
            "PW": "100000",
            "MN": MN,
            "Flag": "5",
        },
        qn="20160801085857223",
        st="32",
        cn="1062",
        pw="100000",
        mn=MN,
        flag=FlagBits(raw=5, version=1, split=False, ack=True),
        pnum=None,
        pno=None,
        attributes={"RtdInterval": "30"},
        values=(),
        data_time=None,
        cp="RtdInterval=30",
        encoding="utf-8",
    )


def test_long_packet_over_1024_bytes_is_accepted() -> None:
    cp = "DataTime=20200923113557;" + ";".join(
        f"{n:03d}-Rtd={n}.125,{n:03d}-Flag=N" for n in range(100, 160)
    )
    segment = f"ST=31;CN=2011;PW=123456;MN=88888880000001;CP=&&{cp}&&".encode()
    assert len(segment) > 1024
    frame = parse_packet(b"##%04d%b%04X\r\n" % (len(segment), segment, crc16(segment)))
    assert frame.length_ok and frame.crc.ok and len(frame.values) == 120
    assert frame.declared_length == len(segment)


def test_the_gb18030_frame_remembers_its_encoding() -> None:
    gb = next(c for c in GOOD if c[0] == "chinese-info-gb18030")[1]
    assert parse_packet(gb).encoding == "gb18030"


# (id, packet, error class, position)
BAD = [
    ("no-##", OFFICIAL[2:], FrameError, 0),
    (
        "2-digit-length-sCair",
        b"##81QN=;ST=23;CN=1012;PW=123456;CP=&&SystemTime=1&&1DC0",
        FrameError,
        2,
    ),
    ("truncated", OFFICIAL[:60], LengthError, 2),
    ("truncated-after-cp", OFFICIAL[:-6], LengthError, 2),
    ("crc-not-hex", OFFICIAL[:-4] + b"1C8G", FrameError, 107),
    ("no-crc-at-all", b"##0101" + OFFICIAL[6:-4], LengthError, 2),
    ("bytes-after-crc", OFFICIAL + b"XYZ", FrameError, 111),
    ("bad-crc", OFFICIAL[:-4] + b"1C81", CRCError, 107),
    ("modbus-crc-under-strict", OFFICIAL[:-4] + b"5907", CRCError, 107),
]


@pytest.mark.parametrize(
    ("packet", "error", "position"), [c[1:] for c in BAD], ids=[c[0] for c in BAD]
)
def test_parse_bad_packets(packet: bytes, error: type[HJ212Error], position: int) -> None:
    with pytest.raises(error) as caught:
        parse_packet(packet)
    assert type(caught.value) is error
    assert caught.value.position == position
    assert (
        caught.value.kind == {FrameError: "format", LengthError: "length", CRCError: "crc"}[error]
    )
    assert str(position) in str(caught.value)


def _packet(segment: bytes) -> bytes:
    return b"##%04d%b%04X" % (len(segment), segment, crc16(segment))


# (id, segment with a good length and CRC around it, position in the segment)
BAD_GRAMMAR = [
    ("no-cp", b"QN=1;ST=32;CN=2011;PW=1;MN=1;Flag=4;", 36),
    ("cp-not-closed", b"QN=1;ST=32;CN=2011;PW=1;MN=1;Flag=4;CP=&&DataTime=1", 51),
    ("flag-not-a-number", b"QN=1;ST=32;CN=2011;PW=1;MN=1;Flag=X;CP=&&&&", 29),
    ("flag-over-255", b"QN=1;ST=32;CN=2011;PW=1;MN=1;FLAG=256;CP=&&&&", 29),
    ("pnum-not-a-number", b"ST=32;CN=2011;PNUM=a;PNO=1;CP=&&&&", 14),
    ("neither-utf8-nor-gb18030", b"ST=32;CN=2011;MN=\xff\xff;CP=&&&&", 17),
]


@pytest.mark.parametrize(
    ("segment", "position"), [c[1:] for c in BAD_GRAMMAR], ids=[c[0] for c in BAD_GRAMMAR]
)
def test_grammar_errors_carry_the_byte_position(segment: bytes, position: int) -> None:
    with pytest.raises(FrameError) as in_segment:
        parse_segment(segment)
    assert in_segment.value.position == position
    with pytest.raises(FrameError) as in_packet:
        parse_packet(_packet(segment), crc_policy=CRCPolicy.LENIENT)
    assert in_packet.value.position == position + 6


def test_position_counts_bytes_after_chinese_text() -> None:
    segment = "QN=1;ST=32;CN=3020;PW=清洗;MN=1;Flag=X;CP=&&&&".encode()
    with pytest.raises(FrameError) as caught:
        parse_segment(segment)
    assert caught.value.position == segment.index(b"Flag")


def test_bad_crc_under_each_policy() -> None:
    bad = OFFICIAL[:-4] + b"1C81"
    with pytest.raises(CRCError):
        parse_packet(bad)
    with pytest.raises(CRCError):
        parse_packet(bad, crc_policy=CRCPolicy.ALT)
    lenient = parse_packet(bad, crc_policy=CRCPolicy.LENIENT)
    assert lenient.crc == CRCResult("1C81", "1C80", None, False)
    assert lenient.cn == "1062"


@pytest.mark.parametrize(("printed", "algorithm"), [(b"0759", "modbus-hi"), (b"5907", "modbus-lo")])
def test_modbus_crcs_under_alt(printed: bytes, algorithm: str) -> None:
    frame = parse_packet(OFFICIAL[:-4] + printed, crc_policy=CRCPolicy.ALT)
    assert frame.crc == CRCResult(printed.decode(), "1C80", algorithm, True)
    lenient = parse_packet(OFFICIAL[:-4] + printed, crc_policy=CRCPolicy.LENIENT)
    assert lenient.crc.ok is False and lenient.crc.algorithm is None


def test_crc_is_checked_before_the_grammar() -> None:
    # A corrupted packet is a CRC error, even when the corruption also breaks the grammar.
    corrupt = OFFICIAL.replace(b"Flag=5", b"Flag=X")
    with pytest.raises(CRCError):
        parse_packet(corrupt)
    with pytest.raises(FrameError):
        parse_packet(corrupt, crc_policy=CRCPolicy.LENIENT)


def test_parse_segment_of_a_bare_data_segment() -> None:
    segment = OFFICIAL[6:-4]
    frame = parse_segment(segment + b"\r\n")
    assert frame.packet == frame.segment == segment
    assert frame.crc == CRCResult(None, "1C80", None, False)
    assert frame.length_ok is True and frame.declared_length is None
    assert frame.attributes == {"RtdInterval": "30"}


def test_items_groups_by_code_and_flag_of() -> None:
    frame = parse_packet(next(c for c in GOOD if c[0].startswith("negative"))[1])
    items = frame.items()
    assert list(items) == ["a01013", "W01018", "w00000", "StaTem"]
    assert list(items["W01018"]) == ["Flag", "Avg"]
    assert items["w00000"]["Avg"] == Value("w00000", "Avg", "2.0", Decimal("2.0"))
    assert items["a01013"]["Avg"].number == Decimal("-120.4117")
    assert items["W01018"]["Avg"].number == Decimal("0.58")
    assert frame.flag_of("a01013") == "N"
    assert frame.flag_of("W01018") == "N"
    assert frame.flag_of("w00000") is None
    assert frame.flag_of("w01018") is None  # codes are compared as sent


def test_info_value_text_and_number() -> None:
    info = Value("i11001", "Info", "//清洗管路//", None)
    assert info.text == "清洗管路"
    assert Value("a", "Rtd", "1.5", Decimal("1.5")).text == "1.5"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("20160801085857", datetime(2016, 8, 1, 8, 58, 57)),
        ("20160801085857223", datetime(2016, 8, 1, 8, 58, 57, 223000)),
        (" 20160801000000 ", datetime(2016, 8, 1)),
        ("20161301000000", None),
        ("2016080108585", None),
        ("", None),
        ("2016-08-01 08:58", None),
        ("２０１６０８０１０８５８５７", None),  # full-width digits are not digits here
    ],
)
def test_parse_data_time(raw: str, expected: datetime | None) -> None:
    assert parse_data_time(raw) == expected


@pytest.mark.parametrize(
    ("raw", "version", "standard", "split", "ack"),
    [
        (None, None, None, False, False),
        (0, 0, "HJ/T 212-2005", False, False),
        (3, 0, "HJ/T 212-2005", True, True),
        (4, 1, "HJ 212-2017", False, False),
        (5, 1, "HJ 212-2017", False, True),
        (6, 1, "HJ 212-2017", True, False),
        (7, 1, "HJ 212-2017", True, True),
        (8, 2, "HJ 212-2025", False, False),
        (9, 2, "HJ 212-2025", False, True),
        (12, 3, None, False, False),
    ],
)
def test_flag_bits(
    raw: int | None, version: int | None, standard: str | None, split: bool, ack: bool
) -> None:
    flag = FlagBits.from_raw(raw)
    assert (flag.raw, flag.version, flag.standard, flag.split, flag.ack) == (
        raw,
        version,
        standard,
        split,
        ack,
    )


def test_a_parsed_frame_makes_its_values_on_first_use_as_parse_cp_does() -> None:
    cp = "DataTime=20240101120000;a21026-Rtd=1.50,a21026-Flag=N;SB1-RS=1"
    segment = build_segment(st="22", cn="2011", pw="123456", mn=MN, flag=4, cp=cp)
    frame = parse_packet(build_packet(segment))
    shape, raws = frame.split_cp()
    assert shape.keys == ("DataTime", "a21026-Rtd", "a21026-Flag", "SB1-RS")
    assert raws == ("20240101120000", "1.50", "N", "1")
    attributes, values = parse_cp(cp)
    assert frame.attributes == attributes and frame.values == values
    assert frame.values is frame.values  # made once
    again = pickle.loads(pickle.dumps(frame))
    assert again == frame and repr(again) == repr(frame)
    made = dataclasses.replace(frame)  # a Frame made by hand: its values' keys, no attributes
    assert made.split_cp()[0].keys == ("a21026-Rtd", "a21026-Flag", "SB1-RS")
    assert made.split_cp()[1] == ("1.50", "N", "1")
    with pytest.raises(AttributeError, match="no attribute 'valeus'"):
        frame.valeus  # noqa: B018


@pytest.mark.parametrize(
    "text",
    [
        "QN=1;CP=&&a=1&&",
        "QN=1;cp=&&x;CP=&&a=1&&",  # another case first: it is the one
        "QN=1;Cp=&&CP=&&&&",
        "QN=1;X=&&;CP=&&a=1&&",  # "=&&" before CP=&& that is not a CP=&&
        "QN=1;CP=&&&",
        "QN=1;cP=&&a=1&&",
        "QN=1;CP=&=&&",
        "CP=&&",
        "",
    ],
)
def test_cp_open_is_the_first_case_blind_match(text: str) -> None:
    # _cp_open finds "CP=&&" by a substring search unless another spelling may come first
    first = re.search(r"(?i)CP=&&", text)
    assert _cp_open(text) == (-1 if first is None else first.start())


def test_cp_open_agrees_with_the_regex_on_generated_text() -> None:
    rng = random.Random(16)
    pieces = ["CP=&&", "cp=&&", "cP=&&", "=&&", "&&", "C", "P", "c", "=", "&", ";", "a"]
    for _ in range(20_000):
        text = "".join(rng.choices(pieces, k=rng.randrange(0, 8)))
        first = re.search(r"(?i)CP=&&", text)
        assert _cp_open(text) == (-1 if first is None else first.start()), text


def test_a_loggers_next_cp_is_read_alike_with_or_without_its_last_shape() -> None:
    # _build hands split_cp the shape of the same MN's last CP (frame._SHAPE_HINTS): frames
    # whose keys change, or whose raws are not plain, read as they read without that hint
    cps = [
        "DataTime=20240101000000;a21026-Rtd=1.5,a21026-Flag=N",
        "DataTime=20240101000030;a21026-Rtd=2.5,a21026-Flag=N",  # the hint's keys
        "DataTime=20240101000100;a21026-Rtd= 3,a21026-Flag=N",  # whitespace: not plain
        "DataTime=20240101000130;a21026-Rtd=//4//,a21026-Flag=N",  # an Info "//"
        "DataTime=20240101000200;a21026-Rtd=5,a21026-Flag=的",  # not ASCII
        "DataTime=20240101000230;a21026-Rtd=6;a21026-Flag=N,a21026-ZsRtd=6",  # a key more
        "DataTime=20240101000300;a21026-Rtd=7,a21026-Flag=N",
        "DataTime=20240101000330;a21026-Rtd=8=9,a21026-Flag=N",  # a second "="
    ]
    packets = [
        build_packet(build_segment(qn=str(i), st="31", cn="2011", pw="1", mn=mn, flag=4, cp=cp))
        for i, cp in enumerate(cps)
        for mn in (MN, "OTHER")
    ]
    hinted = [parse_packet(packet) for packet in packets]
    unhinted = []
    for packet in packets:
        _SHAPE_HINTS.clear()
        unhinted.append(parse_packet(packet))
    for a, b in zip(hinted, unhinted, strict=True):
        assert a == b
        assert (a.attributes, a.values, a.split_cp()[1]) == (
            b.attributes,
            b.values,
            b.split_cp()[1],
        )
        assert a.split_cp()[0].keys == b.split_cp()[0].keys


def test_a_loggers_shape_is_a_hint_only_once_repeated_so_ever_new_keys_compile_nothing() -> None:
    # a template costs a compile (as much as reading dozens of frames): a sender whose keys
    # change every frame must not pay it per frame; a logger that repeats its keys is hinted
    # from its third frame on
    _SHAPE_HINTS.clear()
    shape_template.cache_clear()

    def parse(i: int, cp: str) -> None:
        segment = build_segment(qn=str(i), st="31", cn="2011", pw="1", mn=MN, flag=4, cp=cp)
        parse_packet(build_packet(segment))

    for i in range(20):
        parse(i, f"DataTime=20240101000000;k{i}-Rtd=1,k{i}-Flag=N")
    assert shape_template.cache_info().currsize == 0
    parse(20, "DataTime=20240101000000;a21026-Rtd=1,a21026-Flag=N")
    parse(21, "DataTime=20240101000100;a21026-Rtd=2,a21026-Flag=N")
    assert shape_template.cache_info().currsize == 0
    parse(22, "DataTime=20240101000200;a21026-Rtd=3,a21026-Flag=N")
    info = shape_template.cache_info()
    assert (info.currsize, info.misses) == (1, 1)
    parse(23, "DataTime=20240101000300;a21026-Rtd=4,a21026-Flag=N")
    assert shape_template.cache_info().hits == 1
