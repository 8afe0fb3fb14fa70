"""Fuzzing the HJ 212 codec and the uplink decoder (issue 15), with hypothesis.

Whatever a logger or an attacker sends, the codec raises nothing but its documented errors
(:class:`~ingest.hj212.HJ212Error` and its subclasses, ingest/hj212/errors.py), the stream
framer and the uplink decoder raise nothing at all (they turn everything into packets, garbage,
accepted frames or rejections), and memory stays bounded on large garbage.

``make test`` runs a bounded, derandomized budget (the same examples every run, a few seconds);
``make fuzz`` runs it at length with fresh random examples: SOURCEWATCH_FUZZ_EXAMPLES sets the
number of examples per property (docs/security.md#fuzzing).
"""

from __future__ import annotations

import json
import os
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ingest.hj212 import (
    CRCPolicy,
    FrameError,
    HJ212Error,
    Reassembler,
    StreamReader,
    build_packet,
    build_segment,
    encode_cp,
    iter_packets,
    parse_cp,
    parse_packet,
)
from ingest.outlets import Outlet
from ingest.records import Accepted, Rejected
from ingest.uplink import decode_message

_LONG = os.environ.get("SOURCEWATCH_FUZZ_EXAMPLES")
FUZZ = settings(
    max_examples=int(_LONG) if _LONG else 50,
    derandomize=not _LONG,  # make test: the same examples every run
    deadline=None,
    database=None,  # nothing written next to the sources
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

MN = "010000A8900016F000169DC1"
OUTLETS = {
    policy: Outlet(1, MN, "gas", "123456", policy, "hj212-2017", ZoneInfo("Asia/Shanghai"))
    for policy in CRCPolicy
}
NOW = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


def valid_frame(values: dict[str, dict[str, str]], cn: str = "2011", flag: int = 5) -> bytes:
    cp = encode_cp({"DataTime": "20261128080000"}, values)
    seg = build_segment(
        qn="20261128080000000", st="31", cn=cn, pw="123456", mn=MN, flag=flag, cp=cp
    )
    return build_packet(seg)


# --- inputs: raw bytes, and valid frames mutated ---------------------------------------------

_FIELD = st.text(alphabet="0123456789.-+eE,;=&NDTabcXYZ", max_size=12)
_VALUES = st.dictionaries(
    st.sampled_from(["a21026", "a21002", "a34013", "w01018", "a19001", "x", ""]),
    st.dictionaries(st.sampled_from(["Rtd", "Avg", "Flag", "ZsRtd", "SampleTime", "Q"]), _FIELD),
    max_size=4,
)
_TOKENS = st.sampled_from(
    [
        b"##",
        b"&&",
        b"\r\n",
        b"\n",
        b"CP=&&",
        b";",
        b"=",
        b",",
        b"QN=",
        b"PNUM=2;PNO=1",
        b"\x00",
        b"\xff\xfe",
        "汉字".encode("gb18030"),
        b"9999",
        b"0000",
        b"Flag=7;",
        b"DataTime=",
    ]
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid frame with bytes flipped, cut, repeated or spliced with protocol tokens."""
    packet = bytearray(
        valid_frame(draw(_VALUES), cn=draw(st.sampled_from(["2011", "2051", "9014", "1013"])))
    )
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.integers(0, 3))
        at = draw(st.integers(0, len(packet)))
        if op == 0 and at < len(packet):
            packet[at] = draw(st.integers(0, 255))
        elif op == 1:
            del packet[at : at + draw(st.integers(1, 20))]
        elif op == 2:
            packet[at:at] = draw(_TOKENS)
        else:
            packet[at:at] = packet[: draw(st.integers(0, len(packet)))]
    return bytes(packet)


PAYLOADS = st.one_of(
    st.binary(max_size=600),
    mutated(),
    st.lists(st.one_of(_TOKENS, st.binary(max_size=8)), max_size=40).map(b"".join),
)


# --- the codec ---------------------------------------------------------------------------------


@FUZZ
@given(PAYLOADS, st.sampled_from(list(CRCPolicy)))
@example(b"##0000&&0000", CRCPolicy.STRICT)
@example(b"##9999" + b"x" * 50, CRCPolicy.LENIENT)
def test_parse_packet_raises_only_the_codec_errors(packet: bytes, policy: CRCPolicy) -> None:
    try:
        frame = parse_packet(packet, crc_policy=policy)
    except HJ212Error as exc:
        assert exc.kind in {"format", "length", "crc"}
        str(exc), repr(exc)
        return
    frame.items()  # what ingest reads of an accepted frame
    frame.data_time  # noqa: B018


@FUZZ
@given(st.text(max_size=300))
def test_parse_cp_raises_only_the_codec_errors(cp: str) -> None:
    try:
        parse_cp(cp)
    except HJ212Error:
        pass


@FUZZ
@given(st.lists(PAYLOADS, max_size=5).map(b"".join), st.lists(st.integers(1, 64), max_size=12))
def test_the_stream_framer_raises_nothing_and_cuts_alike_in_any_chunks(
    stream: bytes, cuts: list[int]
) -> None:
    """Cut into reads of any sizes, the stream gives the packets of the whole stream at once."""
    whole = [p for p in iter_packets(stream) if isinstance(p, bytes)]
    reader = StreamReader()
    found: list[bytes | FrameError] = []
    at = 0
    for size in cuts:
        found += reader.feed(stream[at : at + size])
        at += size
    found += reader.feed(stream[at:])
    found += reader.finish()
    assert [p for p in found if isinstance(p, bytes)] == whole
    for p in whole:
        assert p in stream


@FUZZ
@given(st.lists(mutated(), min_size=1, max_size=6))
def test_split_packets_raise_nothing_in_reassembly(packets: list[bytes]) -> None:
    reassembler = Reassembler(timeout_s=60)
    for n, packet in enumerate(packets):
        try:
            frame = parse_packet(packet, crc_policy=CRCPolicy.LENIENT)
        except HJ212Error:
            continue
        reassembler.add(frame, float(n))
    reassembler.expire(1e9)


# --- the uplink decoder: MQTT raw and JSON topics ----------------------------------------------


def find(policy: CRCPolicy) -> Callable[[str], Outlet | None]:
    return lambda mn: OUTLETS[policy] if mn == MN else None


def _decoded(topic: str, payload: bytes, policy: CRCPolicy) -> list[Accepted | Rejected]:
    records = decode_message(topic, payload, NOW, find(policy))
    assert records or not payload.strip(b" \t\r\n\x00")  # only a blank message leaves nothing
    assert all(isinstance(r, Accepted | Rejected) for r in records)
    return records


@FUZZ
@given(PAYLOADS, st.sampled_from(list(CRCPolicy)))
def test_raw_uplink_decodes_anything_into_records(payload: bytes, policy: CRCPolicy) -> None:
    _decoded(f"hj212/{MN}/up", payload, policy)


JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def json_uploads(draw: st.DrawFn) -> bytes:
    """A valid JSON upload with fields replaced by anything, or anything at all."""
    body: dict[str, Any] = {
        "mn": MN,
        "pw": "123456",
        "cn": draw(st.sampled_from(["2011", "2061", "9999", "20111"])),
        "data_time": draw(
            st.sampled_from(
                ["2026-11-28T08:00:00+08:00", "2026-11-28T08:00:00", "9999-12-31T23:59:59", "x"]
            )
        ),
        "values": draw(
            st.dictionaries(
                st.text(max_size=17),
                st.dictionaries(st.text(max_size=6), JSON, max_size=3),
                max_size=3,
            )
        ),
    }
    for key in draw(
        st.lists(
            st.sampled_from(["mn", "pw", "cn", "data_time", "values", "ack", "extra"]), max_size=3
        )
    ):
        body[key] = draw(JSON)
    return json.dumps(body).encode()


@FUZZ
@given(
    st.one_of(json_uploads(), JSON.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200))
)
def test_json_uplink_decodes_anything_into_records(payload: bytes) -> None:
    _decoded(f"sourcewatch/v1/{MN}/data", payload, CRCPolicy.STRICT)


# --- memory stays bounded on large garbage -----------------------------------------------------


def peak_bytes(work: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# Up to 256 KiB of near-packets: "##" with a length that lies, CP that never ends, GB18030 lead
# bytes, and short runs of "## #" (each a garbage item of its own).
GARBAGE = ((b"##9999QN=1;CP=&&" + b"\xa1" * 300 + b"&&ZZZZ" + b"## #" * 50) * 800)[: 1 << 18]


def _raw(data: bytes) -> object:
    return decode_message(f"hj212/{MN}/up", data, NOW, find(CRCPolicy.LENIENT))


def _nested_json(data: bytes) -> object:
    return decode_message(
        f"sourcewatch/v1/{MN}/data", b"[" * len(data), NOW, find(CRCPolicy.STRICT)
    )


def _wide_json(data: bytes) -> object:
    values = {str(i): "1" * 50 for i in range(len(data) // 64)}
    payload = json.dumps({"mn": MN, "cn": "2011", "values": {"a21026": values}}).encode()
    return decode_message(f"sourcewatch/v1/{MN}/data", payload, NOW, find(CRCPolicy.STRICT))


@pytest.mark.parametrize(
    "work",
    [
        pytest.param(lambda data: list(iter_packets(data)), id="iter_packets"),
        pytest.param(_raw, id="raw-uplink"),
        pytest.param(_nested_json, id="json-nesting"),
        pytest.param(_wide_json, id="json-wide"),
    ],
)
def test_memory_grows_linearly_and_stays_bounded(work: Callable[[bytes], object]) -> None:
    """The peak of Python allocations on 16 KiB and on 64 KiB of garbage: four times the
    input costs at most about four times the memory (a copy per item, as the raw uplink made
    before issue 15, or a runaway structure, would not), and at most 160 bytes per input
    byte — the worst case is one small object per garbage run of 4 bytes here."""
    small, large = GARBAGE[: 1 << 14], GARBAGE[: 1 << 16]
    peak_small = peak_bytes(lambda: work(small))
    peak_large = peak_bytes(lambda: work(large))
    assert peak_large < 5 * peak_small + (1 << 18)
    assert peak_large < 160 * len(large)


def test_a_stream_of_garbage_read_in_chunks_keeps_the_framer_small() -> None:
    """A TCP stream without a valid packet, read 16 KiB at a time: the framer holds at most
    one maximal packet between reads however long the stream goes on, and the memory of a read
    is that of its own items."""
    reader = StreamReader()
    chunk = GARBAGE[: 1 << 14]
    held = 0

    def run() -> None:
        nonlocal held
        for _ in range(8):
            reader.feed(chunk)
            held = max(held, reader.pending)
        reader.finish()

    peak = peak_bytes(run)
    assert held <= 2 + 4 + 9999 + 4 + 2 + len(chunk)
    assert peak < 160 * len(chunk)


def test_a_message_of_many_garbage_runs_is_one_dead_letter() -> None:
    """Found by the fuzzing above: each garbage run of a raw MQTT message became a dead letter
    carrying (and hashing) the whole message, so 64 KiB of short runs hashed 64 KiB twelve
    thousand times. Now the runs are one dead letter with the whole message."""
    payload = GARBAGE[: 1 << 16]
    records = _raw(payload)
    assert isinstance(records, list)
    whole = [r for r in records if isinstance(r, Rejected) and r.raw == payload]
    assert len(whole) == 1
    assert "more unframed chunks" in whole[0].detail
    assert all(len(r.raw) <= 2 + 4 + 9999 + 4 + 2 for r in records if r not in whole)
