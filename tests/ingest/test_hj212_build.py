"""Serialising: segments, CP text, packets, replies; and parse(build(x)) == x."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.hj212 import (
    CRCResult,
    LengthError,
    build_packet,
    build_segment,
    encode_cp,
    parse_packet,
    reply_9013,
    reply_9014,
)

MN = "010000A8900016F000169DC0"
OFFICIAL_SEGMENT = (
    f"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN={MN};Flag=5;CP=&&RtdInterval=30&&"
)
OFFICIAL_PACKET = b"##0101" + OFFICIAL_SEGMENT.encode() + b"1C80\r\n"


def test_build_packet_of_the_appendix_a_vector() -> None:
    assert build_packet(OFFICIAL_SEGMENT) == OFFICIAL_PACKET
    assert build_packet(OFFICIAL_SEGMENT.encode()) == OFFICIAL_PACKET


def test_build_packet_counts_utf8_bytes() -> None:
    segment = (
        "QN=20160801085857223;ST=32;CN=3020;PW=123456;MN=010000A8900016F000169DC1;Flag=5;"
        "CP=&&DataTime=20160801085857;PolId=w01018;i11001-Info=//清洗管路;开始,结束//&&"
    )
    assert len(segment) == 150 and len(segment.encode()) == 166
    assert build_packet(segment) == b"##0166" + segment.encode() + b"1F40\r\n"


def test_build_packet_refuses_a_segment_longer_than_9999_bytes() -> None:
    with pytest.raises(LengthError):
        build_packet(b"x" * 10000)


# (keyword arguments, segment)
SEGMENTS: list[tuple[dict[str, Any], str]] = [
    (
        {
            "qn": "20160801085857223",
            "st": "32",
            "cn": "1062",
            "pw": "100000",
            "mn": MN,
            "flag": 5,
            "cp": "RtdInterval=30",
        },
        OFFICIAL_SEGMENT,
    ),
    (
        {"st": "32", "cn": "2011", "pw": "123456", "mn": "8888888880000001", "cp": "B01-Rtd=100"},
        "ST=32;CN=2011;PW=123456;MN=8888888880000001;CP=&&B01-Rtd=100&&",
    ),
    (
        {
            "qn": "20160801085857534",
            "st": "32",
            "cn": "2061",
            "pw": "100000",
            "mn": MN,
            "flag": 7,
            "pnum": 2,
            "pno": 1,
            "cp": "DataTime=20160801080000;w00000-Avg=17.5",
        },
        (
            f"QN=20160801085857534;ST=32;CN=2061;PW=100000;MN={MN};Flag=7;PNUM=2;PNO=1;"
            "CP=&&DataTime=20160801080000;w00000-Avg=17.5&&"
        ),
    ),
    (
        {"qn": "1", "st": "91", "cn": "9014", "pw": "", "mn": "", "flag": 4},
        "QN=1;ST=91;CN=9014;PW=;MN=;Flag=4;CP=&&&&",
    ),
]


@pytest.mark.parametrize(("kwargs", "segment"), SEGMENTS)
def test_build_segment_canonical_order(kwargs: dict[str, Any], segment: str) -> None:
    assert build_segment(**kwargs) == segment


@pytest.mark.parametrize(("kwargs", "segment"), SEGMENTS)
def test_parse_of_build_gives_the_fields_back(kwargs: dict[str, Any], segment: str) -> None:
    frame = parse_packet(build_packet(build_segment(**kwargs)))
    assert frame.length_ok and frame.crc.ok
    assert frame.segment == segment.encode()
    got = {
        "qn": frame.qn,
        "st": frame.st,
        "cn": frame.cn,
        "pw": frame.pw,
        "mn": frame.mn,
        "flag": frame.flag.raw,
        "pnum": frame.pnum,
        "pno": frame.pno,
        "cp": frame.cp,
    }
    assert {k: v for k, v in got.items() if k in kwargs} == kwargs
    assert {k for k, v in got.items() if v is None} == {
        "qn",
        "flag",
        "pnum",
        "pno",
    } - kwargs.keys()


def test_encode_cp() -> None:
    assert (
        encode_cp(
            {"DataTime": "20160801085857"},
            {"a21026": {"Rtd": "1.2", "Flag": "N"}, "a21002": {"Rtd": "1.230", "Flag": "N"}},
        )
        == "DataTime=20160801085857;a21026-Rtd=1.2,a21026-Flag=N;a21002-Rtd=1.230,a21002-Flag=N"
    )
    assert encode_cp({}, {}) == ""
    assert encode_cp({"QnRtn": "1"}, {}) == "QnRtn=1"


# Canonical real packets (as in frames.txt): build(parse(x)) == x, byte for byte.
REAL = [
    (
        b"##0121QN=20241203172533074;ST=31;CN=2011;PW=123456;MN=Abc;Flag=4;"
        b"CP=&&DataTime=20241203172530;a00000-Rtd=0.0000,a00000-Flag=D&&7700\r\n"
    ),
    (
        b"##0175QN=20241203172603223;ST=31;CN=2051;PW=123456;MN=Abc;Flag=4;"
        b"CP=&&DataTime=20241203172500;a00000-Cou=0.0000,a00000-Min=0.0000,a00000-Avg=0.0000,"
        b"a00000-Max=0.0000,a00000-Flag=D&&FD81\r\n"
    ),
    (
        b"##0118QN=20210407112025768;ST=21;CN=2021;PW=123456;MN=DXCBZ000000005;Flag=5;"
        b"CP=&&DataTime=20210407112000;SB1-RS=1;SB2-RS=1&&A001\r\n"
    ),
    (
        b"##0304QN=20210409171942861;ST=21;CN=2011;PW=123456;MN=DXCBZ000000005;Flag=5;"
        b"CP=&&DataTime=20210409171900;w01018-Rtd=234.018202176,w01018-Flag=N;"
        b"w21003-Rtd=34.34143380059,w21003-Flag=N;w21011-Rtd=3.39932101884359,w21011-Flag=N;"
        b"w21001-Rtd=33.969578236467,w21001-Flag=N;w01001-Rtd=7.82610135461488,w01001-Flag=N&&B981\r\n"
    ),
    (
        b"##0080QN=1617936069734;ST=21;CN=9011;PW=123456;MN=DXCBZ000000005;Flag=5;"
        b"CP=&&QnRtn=1&&9841\r\n"
    ),
    b"##0077QN=20210409103207980;ST=21;CN=9014;PW=123456;MN=DXCBZ000000005;Flag=5;CP=&&&&2640\r\n",
    OFFICIAL_PACKET,
]


@pytest.mark.parametrize("packet", REAL)
def test_build_of_parse_gives_the_packet_back(packet: bytes) -> None:
    frame = parse_packet(packet)
    assert build_packet(frame.segment) == packet
    assert frame.qn is not None and frame.st is not None and frame.cn is not None
    assert frame.pw is not None and frame.mn is not None
    segment = build_segment(
        qn=frame.qn,
        st=frame.st,
        cn=frame.cn,
        pw=frame.pw,
        mn=frame.mn,
        flag=frame.flag.raw,
        cp=encode_cp(
            frame.attributes,
            {code: {f: v.raw for f, v in fields.items()} for code, fields in frame.items().items()},
        ),
    )
    assert build_packet(segment) == packet


# docs/protocol.md#replies: replies echo QN/PW/MN byte for byte, with ST=91, Flag=4, CP=&&&&.
REPLIES = [
    (
        OFFICIAL_PACKET,
        (
            b"##0087QN=20160801085857223;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=4;CP=&&&&71C0\r\n"
        ),
        (
            b"##0087QN=20160801085857223;ST=91;CN=9013;PW=100000;MN=010000A8900016F000169DC0;"
            b"Flag=4;CP=&&&&6900\r\n"
        ),
    ),
    (  # a 13-digit (epoch ms) QN and a short MN are echoed as they are
        (
            b"##0089QN=20210407112025761;ST=21;CN=1013;PW=123456;MN=DXCBZ000000005;Flag=5;"
            b"CP=&&PolId=w01018&&E681"
        ),
        (
            b"##0077QN=20210407112025761;ST=91;CN=9014;PW=123456;MN=DXCBZ000000005;Flag=4;"
            b"CP=&&&&F9C1\r\n"
        ),
        (
            b"##0077QN=20210407112025761;ST=91;CN=9013;PW=123456;MN=DXCBZ000000005;Flag=4;"
            b"CP=&&&&84C1\r\n"
        ),
    ),
]


@pytest.mark.parametrize(("request_packet", "expected_9014", "expected_9013"), REPLIES)
def test_replies(request_packet: bytes, expected_9014: bytes, expected_9013: bytes) -> None:
    frame = parse_packet(request_packet)
    assert reply_9014(frame) == expected_9014
    assert reply_9013(frame) == expected_9013
    reply = parse_packet(reply_9014(frame))
    assert (reply.qn, reply.pw, reply.mn) == (frame.qn, frame.pw, frame.mn)
    assert (reply.st, reply.cn, reply.flag.raw, reply.cp) == ("91", "9014", 4, "")
    assert reply.crc == CRCResult(reply.crc.received, reply.crc.computed, "hj212", True)
