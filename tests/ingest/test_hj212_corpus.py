"""The 12,529 public frames of hj212-public-traffic, classified as its README says."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.hj212 import (
    CRCError,
    CRCPolicy,
    Frame,
    FrameError,
    HJ212Error,
    StreamReader,
    iter_packets,
    parse_packet,
)

CORPUS = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "hj212-public-traffic"
    / "frames.txt"
)
REAL_DEVICES = range(7726)  # lines 1-7726 (0-based indices)
SOURCES = {
    "skylakezf": range(7634),
    "gj0312": range(7634, 7720),
    "tonyxia2016": range(7720, 7726),
    "mutoushirana": range(7726, 12229),
    "sCair": range(12229, 12529),
}


@dataclass
class Verdict:
    frame: Frame | None  # parsed under LENIENT, None if MALFORMED
    error: HJ212Error | None
    alt: str | None  # the algorithm that matched under ALT, None if none


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    if not CORPUS.is_file():
        pytest.skip(f"corpus not present: {CORPUS}")
    return CORPUS.read_bytes().splitlines()


@pytest.fixture(scope="module")
def verdicts(lines: list[bytes]) -> list[Verdict]:
    out = []
    for line in lines:
        try:
            frame = parse_packet(line, crc_policy=CRCPolicy.LENIENT)
        except HJ212Error as error:
            out.append(Verdict(None, error, None))
            continue
        alt = frame.crc.algorithm
        if not frame.crc.ok:
            try:
                alt = parse_packet(line, crc_policy=CRCPolicy.ALT).crc.algorithm
            except CRCError:
                alt = None
        out.append(Verdict(frame, None, alt))
    return out


def row(verdicts: list[Verdict], indices: range) -> dict[str, object]:
    chosen = [verdicts[i] for i in indices]
    frames = [v.frame for v in chosen if v.frame is not None]
    return {
        "total": len(chosen),
        "length ok": sum(f.length_ok for f in frames),
        "HJ212 CRC ok": sum(f.crc.ok for f in frames),
        "both ok": sum(f.crc.ok and f.length_ok for f in frames),
        "MODBUS lo/hi": (
            sum(v.alt == "modbus-lo" for v in chosen),
            sum(v.alt == "modbus-hi" for v in chosen),
        ),
        "other CRC mismatch": sum(v.frame is not None and v.alt is None for v in chosen),
        "MALFORMED": sum(v.frame is None for v in chosen),
    }


# The README's classification table, row by row.
TABLE = {
    "all": (range(12529), 12529, 12228, 12225, 12225, (3, 0), 2, 299),
    "real devices": (REAL_DEVICES, 7726, 7724, 7721, 7721, (3, 0), 2, 0),
    "skylakezf": (SOURCES["skylakezf"], 7634, 7632, 7632, 7632, (0, 0), 2, 0),
    "gj0312": (SOURCES["gj0312"], 86, 86, 86, 86, (0, 0), 0, 0),
    "tonyxia2016": (SOURCES["tonyxia2016"], 6, 6, 3, 3, (3, 0), 0, 0),
    "mutoushirana": (SOURCES["mutoushirana"], 4503, 4503, 4503, 4503, (0, 0), 0, 0),
    "sCair": (SOURCES["sCair"], 300, 1, 1, 1, (0, 0), 0, 299),
}


@pytest.mark.parametrize("name", TABLE)
def test_classification_table(verdicts: list[Verdict], name: str) -> None:
    indices, *counts = TABLE[name]
    keys = ["total", "length ok", "HJ212 CRC ok", "both ok", "MODBUS lo/hi"]
    keys += ["other CRC mismatch", "MALFORMED"]
    assert row(verdicts, indices) == dict(zip(keys, counts, strict=True))


def test_the_details_behind_the_table(lines: list[bytes], verdicts: list[Verdict]) -> None:
    # the two other mismatches also have a bad length; the MODBUS CRCs are these three
    others = [v.frame for v in verdicts if v.frame is not None and v.alt is None]
    assert [(f.mn, f.length_ok) for f in others] == [("81733553213013", False), ("Abbc", False)]
    modbus = [v.frame.crc.received for v in verdicts if v.frame and v.alt == "modbus-lo"]
    assert modbus == ["A6EC", "7865", "0681"]
    # all 299 MALFORMED are the forwarding tool's 2-digit length "##81", a format error
    malformed = [(i, v.error) for i, v in enumerate(verdicts) if v.error is not None]
    assert len(malformed) == 299
    assert all(isinstance(e, FrameError) and e.kind == "format" for _, e in malformed)
    assert all(lines[i].startswith(b"##81QN=;ST=23;CN=1012;") for i, _ in malformed)
    assert {e.position for _, e in malformed} == {2}


def test_by_cn_st_flag_and_mn(verdicts: list[Verdict]) -> None:
    frames = [v.frame for v in verdicts if v.frame is not None]
    real = [v.frame for v in verdicts[: len(REAL_DEVICES)] if v.frame is not None]
    # README "By CN" counts the 299 malformed CN=1012 commands too: 301 = 299 + 2
    assert Counter(f.cn for f in frames) == {
        "2011": 7337,
        "2051": 2532,
        "2061": 43,
        "2031": 2,
        "9014": 2083,
        "1012": 301 - 299,
        "2081": 85,
        "1011": 59,
        "9011": 32,
        "9012": 31,
        "9021": 12,
        "1013": 7,
        "2021": 5,
    }
    assert Counter(f.cn for f in real) == {"2011": 5149, "2051": 2532, "2061": 43, "2031": 2}
    assert Counter(f.st for f in frames) == {
        "31": 7637,
        "21": 4503,
        "22": 87,
        "32": 1,
        "101": 1,
        "39": 1,
    }  # plus ST=23 x 299 among the malformed
    assert Counter(f.flag.raw for f in frames) == {4: 7635, 5: 4504, None: 390 - 299}
    assert Counter(f.flag.raw for f in real) == {4: 7634, 5: 1, None: 91}
    assert len({f.mn for f in frames}) == 10
    assert len({f.mn for f in real}) == 8


_EXCLUDED = {"DataTime", "SystemTime", "BeginTime", "EndTime", "RtdInterval", "QN", "ExeRtn"}
_EXCLUDED |= {"PolId", "QnRtn", "RestartTime", "OverTime", "ReCount"}
_BUCKETS = [(0, 0), (1, 1), (2, 2), (3, 5), (6, 10), (11, 20), (21, 50), (51, 10**6)]


def _histogram(numbers: list[int]) -> list[int]:
    return [sum(lo <= n <= hi for n in numbers) for lo, hi in _BUCKETS]


def test_value_fields_and_codes_per_frame(verdicts: list[Verdict]) -> None:
    fields, codes, fields_real, codes_real = [], [], [], []
    for i, verdict in enumerate(verdicts):
        frame = verdict.frame
        n_fields = 0 if frame is None else len(frame.values)
        n_fields += 0 if frame is None else sum(k not in _EXCLUDED for k in frame.attributes)
        n_codes = 0 if frame is None else len(frame.items())
        fields.append(n_fields)
        codes.append(n_codes)
        if i in REAL_DEVICES:
            fields_real.append(n_fields)
            codes_real.append(n_codes)
    #                                  0     1     2    3-5  6-10 11-20 21-50 >50
    assert _histogram(fields) == [2610, 0, 5065, 2574, 2189, 2, 85, 4]
    assert _histogram(fields_real) == [0, 0, 5059, 2574, 2, 2, 85, 4]
    assert _histogram(codes) == [2610, 7634, 5, 2190, 2, 84, 4, 0]
    assert _histogram(codes_real) == [0, 7633, 0, 3, 2, 84, 4, 0]


def test_payload_sizes(verdicts: list[Verdict]) -> None:
    sizes = [len(v.frame.segment) for v in verdicts if v.frame is not None]
    assert (min(sizes), statistics.median(sizes), max(sizes)) == (77, 121, 1623)
    assert sum(size > 1024 for size in sizes) == 2


def test_strict_decoding_raises_nothing_but_hj212_errors(lines: list[bytes]) -> None:
    kinds: Counter[str] = Counter()
    for line in lines:
        try:
            parse_packet(line)
        except HJ212Error as error:  # anything else fails the test
            kinds[error.kind] += 1
        else:
            kinds["ok"] += 1
    assert kinds == {"ok": 12225, "crc": 5, "format": 299}


def test_the_corpus_as_one_glued_stream(lines: list[bytes]) -> None:
    glued = b"".join(lines)  # no CR LF at all: the hardest case for framing
    assert list(iter_packets(glued)) == lines
    reader = StreamReader()
    packets: list[bytes | FrameError] = []
    for start in range(0, len(glued), 1460):  # TCP-segment-sized reads
        packets += reader.feed(glued[start : start + 1460])
    packets += reader.finish()
    assert packets == lines
