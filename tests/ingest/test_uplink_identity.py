"""What ingest stores from a frame (``ingest.uplink``: the rows, dead letters and their
reasons), pinned by a digest over the public corpus and over generated fields.

The digest was taken from ``decode_message`` as it stood before its rows were built from a
cached plan per field set (issue 16), so any change in a row - a value, a Decimal, a flag kept
or moved to ``extra``, a SampleTime, the order of ``extra`` - changes it.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from ingest.hj212 import CRCPolicy, build_packet, build_segment
from ingest.outlets import Outlet
from ingest.uplink import decode_message
from tests.ingest.test_hj212_corpus import CORPUS

CORPUS_DIGEST = "c933d52f8e68d61a8d18690a02fe352ebfc7fd3d7e74b50a1ada483b217f974e"
GENERATED_DIGEST = "b80cd18470427b2175355dc9d0b342b2fba614e673d00081e89348c21a495b6c"

AT = datetime(2030, 1, 1, tzinfo=UTC)  # after every corpus DataTime: none is "future"
TZ = ZoneInfo("Asia/Shanghai")


def outlets(mn: str) -> list[Outlet]:
    """The same MN as a gas and a water outlet, under each protocol profile."""
    return [
        Outlet(1, mn, kind, None, CRCPolicy.LENIENT, profile, TZ)
        for kind in ("gas", "water")
        for profile in ("hj212-2005", "hj212-2017")
    ]


def the(outlet: Outlet, mn: str) -> Outlet:
    return outlet


def digest_of(packets: list[bytes]) -> str:
    digest = hashlib.sha256()
    for packet in packets:
        start = packet.find(b"MN=")
        mn = packet[start + 3 :].split(b";", 1)[0].decode("utf-8", "replace") if start >= 0 else ""
        for outlet in outlets(mn):
            out = decode_message(f"hj212/{mn}/up", packet, AT, partial(the, outlet))
            digest.update(repr(out).encode())
            digest.update(b"\n")
    return digest.hexdigest()


FIELDS = ["Rtd", "Avg", "ZsRtd", "ZsAvg", "Min", "Max", "Cou", "ZsMin", "ZsMax", "Flag"]
FIELDS += ["EFlag", "SampleTime", "Info", "SN", "rtd", "FLAG", "zsavg", "Other"]
RAWS = ["12.5", "-0.12", "+3", ".5", "5.", "1e3", "1E-2", "abc", "", "-", "007", "N", "D"]
RAWS += ["T", "x!", "B1", "TOOLONGFLAG9", "20240101120000", "202401011200", "1.5.2"]


def generated_packets(n: int, seed: int = 16) -> list[bytes]:
    """n 2011/2051/2061/2031 frames with random fields of random codes (duplicates in any
    case, numbers with exponents and signs, non-numbers, flags that are no code, …)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        cn = rng.choice(["2011", "2051", "2061", "2031", "1011"])
        parts = ["DataTime=20240101120000"]
        for _ in range(rng.randint(0, 6)):
            code = rng.choice(["a21026", "a34013", "w01018", "011", "B02", "a01012"])
            for f in rng.sample(FIELDS, rng.randint(1, 5)):
                parts.append(f"{code}-{f}={rng.choice(RAWS)}")
        cp = rng.choice([";", ","]).join(parts)
        segment = build_segment(
            qn=f"20240101120000{i % 1000:03d}",
            st="22",
            cn=cn,
            pw="123456",
            mn="GEN0000000000000000001",
            flag=4,
            cp=cp,
        )
        out.append(build_packet(segment))
    return out


def test_corpus_frames_store_as_before() -> None:
    if not CORPUS.is_file():
        pytest.skip(f"corpus not present: {CORPUS}")
    assert digest_of(CORPUS.read_bytes().splitlines()) == CORPUS_DIGEST


def test_generated_fields_store_as_before() -> None:
    assert digest_of(generated_packets(3000)) == GENERATED_DIGEST
