"""The HJ 212 check value (Appendix A), CRC-16/MODBUS, and the three CRC policies."""

from __future__ import annotations

import random

import pytest

from ingest.hj212 import CRCError, CRCPolicy, CRCResult, check_crc, crc16, modbus_crc16

OFFICIAL = (
    b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&"
)


def appendix_a(data: bytes) -> int:
    """The Appendix A C routine, transcribed bit by bit (the oracle for the fast table form)."""
    crc = 0xFFFF
    for b in data:
        crc = (crc >> 8) ^ b
        for _ in range(8):
            lsb = crc & 1
            crc >>= 1
            if lsb:
                crc ^= 0xA001
    return crc


# (data segment, CRC as printed after it) - the Appendix A vector and real packets.
CRC_CASES = [
    (OFFICIAL, "1C80"),  # Appendix A; its prose misprints "1C08"
    (
        (
            b"QN=20241203172533074;ST=31;CN=2011;PW=123456;MN=Abc;Flag=4;"
            b"CP=&&DataTime=20241203172530;a00000-Rtd=0.0000,a00000-Flag=D&&"
        ),
        "7700",
    ),
    (
        (
            b"QN=20210407112025768;ST=21;CN=2021;PW=123456;MN=DXCBZ000000005;Flag=5;"
            b"CP=&&DataTime=20210407112000;SB1-RS=1;SB2-RS=1&&"
        ),
        "A001",
    ),
    (b"QN=1617936069734;ST=21;CN=9011;PW=123456;MN=DXCBZ000000005;Flag=5;CP=&&QnRtn=1&&", "9841"),
    (
        b"QN=20160801085857115;ST=91;CN=9014;PW=100000;MN=010000A8900016F000169DC0;Flag=4;CP=&&&&",
        "0000",  # 0000 is a real, valid value
    ),
    (
        "i11001-Info=//清洗管路;开始,结束//".encode(),  # over UTF-8 bytes, not characters
        f"{appendix_a('i11001-Info=//清洗管路;开始,结束//'.encode()):04X}",
    ),
]


@pytest.mark.parametrize(("segment", "printed"), CRC_CASES)
def test_crc16_matches_printed_value(segment: bytes, printed: str) -> None:
    assert f"{crc16(segment):04X}" == printed


def test_crc16_equals_the_appendix_a_routine_on_random_input() -> None:
    rng = random.Random(212)
    for size in [0, 1, 2, 3, *range(4, 700, 37)]:
        data = rng.randbytes(size)
        assert crc16(data) == appendix_a(data), data


def test_crc16_equals_the_appendix_a_routine_at_every_length_modulo_8() -> None:
    # the fast form folds the segment 8 bytes wide: every length and alignment, short and long
    rng = random.Random(16)
    for size in [*range(70), 1023, 1024, 1025, 9999, 20_000]:
        for _ in range(3):
            data = rng.randbytes(size)
            assert crc16(data) == appendix_a(data), data
    assert crc16(bytes(64)) == appendix_a(bytes(64))  # zeros: only the initial 0xFF remains
    assert crc16(b"\xff" * 33) == appendix_a(b"\xff" * 33)


def test_crc16_low_byte_is_always_one_of_eight_values() -> None:
    rng = random.Random(2017)
    lows = {crc16(rng.randbytes(rng.randrange(1, 64))) & 0xFF for _ in range(2000)}
    assert lows <= {0x00, 0x01, 0x40, 0x41, 0x80, 0x81, 0xC0, 0xC1}


def test_modbus_crc16_catalogue_check_value() -> None:
    assert modbus_crc16(b"123456789") == 0x4B37  # CRC-16/MODBUS check value
    assert modbus_crc16(OFFICIAL) == 0x0759
    assert modbus_crc16(b"") == 0xFFFF


def test_policy_values() -> None:
    assert [p.value for p in CRCPolicy] == ["strict", "lenient", "alt"]
    assert CRCPolicy("alt") is CRCPolicy.ALT


# (received, policy) -> CRCResult, or the error it raises
POLICY_CASES = [
    ("1C80", CRCPolicy.STRICT, CRCResult("1C80", "1C80", "hj212", True)),
    ("1c80", CRCPolicy.STRICT, CRCResult("1c80", "1C80", "hj212", True)),
    ("1C80", CRCPolicy.LENIENT, CRCResult("1C80", "1C80", "hj212", True)),
    ("1C80", CRCPolicy.ALT, CRCResult("1C80", "1C80", "hj212", True)),
    ("1C81", CRCPolicy.LENIENT, CRCResult("1C81", "1C80", None, False)),
    ("0759", CRCPolicy.LENIENT, CRCResult("0759", "1C80", None, False)),
    ("0759", CRCPolicy.ALT, CRCResult("0759", "1C80", "modbus-hi", True)),
    ("5907", CRCPolicy.ALT, CRCResult("5907", "1C80", "modbus-lo", True)),
    ("5907", CRCPolicy.STRICT, CRCError),
    ("1C81", CRCPolicy.STRICT, CRCError),
    ("1C81", CRCPolicy.ALT, CRCError),
]


@pytest.mark.parametrize(("received", "policy", "expected"), POLICY_CASES)
def test_check_crc_policies(
    received: str, policy: CRCPolicy, expected: CRCResult | type[CRCError]
) -> None:
    if isinstance(expected, CRCResult):
        assert check_crc(OFFICIAL, received, policy) == expected
        return
    with pytest.raises(CRCError) as caught:
        check_crc(OFFICIAL, received, policy, position=107)
    assert caught.value.kind == "crc"
    assert caught.value.position == 107
    assert caught.value.received == received
    assert caught.value.computed == "1C80"
    assert received in caught.value.detail and "1C80" in caught.value.detail
