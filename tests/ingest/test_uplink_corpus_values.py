"""What ingest stores from real corpus frames, value by value: each Decimal as text (so its
scale counts), flags, times, CRC verdicts, replies and the reasons of dead letters. The digests
of ``test_uplink_identity`` pin every output; these name what a change would break."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ingest.hj212 import CRCPolicy
from ingest.outlets import Outlet
from ingest.records import Accepted, MeasurementRow, Rejected
from ingest.uplink import decode_message
from tests.ingest.test_hj212_corpus import CORPUS

TZ = ZoneInfo("Asia/Shanghai")
AT = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    if not CORPUS.is_file():
        pytest.skip(f"corpus not present: {CORPUS}")
    return CORPUS.read_bytes().splitlines()


def decode(
    line: bytes,
    kind: str = "gas",
    policy: CRCPolicy = CRCPolicy.STRICT,
    profile: str = "hj212-2017",
    at: datetime = AT,
) -> Accepted | Rejected:
    start = line.find(b"MN=") + 3
    mn = line[start:].split(b";", 1)[0].decode()
    outlet = Outlet(1, mn, kind, None, policy, profile, TZ)
    (out,) = decode_message(f"hj212/{mn}/up", line, at, lambda _: outlet)
    return out


def cells(row: MeasurementRow) -> tuple[str | None, ...]:
    """A row's pollutant, kind, numbers as text (scale included) and flags."""
    numbers = (row.value, row.min, row.max, row.cou, row.zs_value, row.zs_min, row.zs_max)
    text = tuple(None if n is None else str(n) for n in numbers)
    assert all(n is None or type(n) is Decimal for n in numbers)
    return (row.pollutant, row.kind, *text, row.flag, row.eflag)


def test_a_real_time_value_with_its_scale_and_flag(lines: list[bytes]) -> None:
    out = decode(lines[0])  # line 1: a00000-Rtd=0.0000,a00000-Flag=D
    assert isinstance(out, Accepted)
    assert out.data_time == datetime(2024, 12, 3, 17, 25, 30, tzinfo=TZ)
    assert (out.mn, out.st, out.cn, out.qn) == ("Abc", "31", "2011", "20241203172533074")
    assert (out.crc_received, out.crc_computed, out.crc_algorithm, out.crc_ok) == (
        "7700",
        "7700",
        "hj212",
        True,
    )
    assert out.length_ok and out.reply is None
    (row,) = out.rows
    assert cells(row) == ("a00000", "rtd", "0.0000", *[None] * 6, "D", None)
    assert row.ts == out.data_time and row.sample_time is None and row.extra is None


def test_minute_values_fill_min_max_and_cou(lines: list[bytes]) -> None:
    # line 7633: w00000-Cou,Min,Avg,Max,Flag=D; …, with a CRC that verifies by no algorithm
    out = decode(lines[7632], kind="water", policy=CRCPolicy.LENIENT)
    assert isinstance(out, Accepted)
    assert (out.crc_received, out.crc_computed, out.crc_algorithm, out.crc_ok) == (
        "42C0",
        "6240",
        None,
        False,
    )
    assert out.data_time == datetime(2021, 3, 20, 15, 50, tzinfo=TZ)
    first = out.rows[0]
    assert cells(first) == (
        "w00000",
        "min",
        "295.361",
        "292.286",
        "297.287",
        "177.217",
        None,
        None,
        None,
        "D",
        None,
    )


def test_long_decimals_and_the_9014_reply(lines: list[bytes]) -> None:
    out = decode(lines[7729], kind="water")  # line 7730: Flag=5, w01018-Rtd=234.883009999144
    assert isinstance(out, Accepted)
    assert cells(out.rows[0])[:3] == ("w01018", "rtd", "234.883009999144")
    assert out.rows[0].flag == "N"
    assert out.reply is not None and b"CN=9014" in out.reply
    assert b"QN=20210407112025759" in out.reply


def test_a_modbus_crc_under_alt_and_its_dead_letter_under_strict(lines: list[bytes]) -> None:
    line = lines[7725]  # line 7726: CN 2051 with 2005 codes (112-Min, …), a MODBUS CRC
    out = decode(line, kind="water", policy=CRCPolicy.ALT, profile="hj212-2005")
    assert isinstance(out, Accepted)
    assert (out.crc_algorithm, out.crc_ok, out.length_ok) == ("modbus-lo", True, True)
    assert len(out.rows) == 36
    assert cells(out.rows[0]) == ("112", "min", "0.000", "0.000", "0.000", *[None] * 6)
    refused = decode(line, kind="water", profile="hj212-2005")
    assert isinstance(refused, Rejected)
    assert refused.reason == "crc"
    assert refused.detail.startswith("CRC mismatch: received 0681, computed 6C00")


def test_dead_letters_say_why(lines: list[bytes]) -> None:
    bad_length = decode(lines[12528])  # a forwarding tool's 2-digit length field
    assert isinstance(bad_length, Rejected)
    assert (bad_length.reason, bad_length.detail) == (
        "format",
        "length field b'81QN' is not 4 decimal digits (at byte 2)",
    )
    early = decode(lines[0], at=datetime(2024, 12, 3, 9, 0, tzinfo=UTC))  # 25 min before
    assert isinstance(early, Rejected)
    assert early.reason == "future"
    assert early.detail.startswith("DataTime 2024-12-03T17:25:30+08:00 is 0:25:30 ahead")


def test_an_accepted_frame_and_its_rows_are_ordinary_frozen_records(lines: list[bytes]) -> None:
    out = decode(lines[7729], kind="water")  # filled as drafts: must not be told apart
    assert type(out) is Accepted
    fields = {f.name: getattr(out, f.name) for f in dataclasses.fields(Accepted)}
    built = Accepted(**{**fields, "digest": b""})  # its digest made by __post_init__
    assert out == built and repr(out) == repr(built) and hash(out) == hash(built)
    assert out.digest == built.digest == hashlib.sha256(lines[7729]).digest()
    row = out.rows[0]
    assert type(row) is MeasurementRow
    assert row == dataclasses.replace(row) and repr(row) == repr(dataclasses.replace(row))
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.mn = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.value = None  # type: ignore[misc]
