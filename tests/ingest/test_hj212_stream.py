"""Framing a byte stream (iter_packets, StreamReader) and reassembling split packets."""

from __future__ import annotations

import random

import pytest

from ingest.hj212 import (
    Frame,
    FrameError,
    LengthError,
    Reassembler,
    StreamReader,
    build_packet,
    build_segment,
    iter_packets,
    parse_packet,
)
from ingest.hj212.stream import _scan

OFFICIAL = (
    b"##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;"
    b"Flag=5;CP=&&RtdInterval=30&&1C80"
)
RTD = (
    b"##0121QN=20241203172533074;ST=31;CN=2011;PW=123456;MN=Abc;Flag=4;"
    b"CP=&&DataTime=20241203172530;a00000-Rtd=0.0000,a00000-Flag=D&&7700"
)
ACK = b"##0077QN=20210409103207980;ST=21;CN=9014;PW=123456;MN=DXCBZ000000005;Flag=5;CP=&&&&2640"
WRONG_LENGTH = b"##0100" + OFFICIAL[6:]  # CRC fine, length 1 short
SCAIR = (  # the forwarding tool's 2-digit length
    b"##81QN=;ST=23;CN=1012;PW=123456;MN=0507A010003242;CP=&&SystemTime=20250221141050696&&1DC0"
)
TRUNCATED = OFFICIAL[:70]

Item = bytes | tuple[str, int]  # a packet, or ("error", position) for a FrameError


def shape(items: list[bytes | FrameError]) -> list[Item]:
    return [("error", i.position or 0) if isinstance(i, FrameError) else i for i in items]


# (id, payload, expected items)
STREAMS: list[tuple[str, bytes, list[Item]]] = [
    ("one-crlf", OFFICIAL + b"\r\n", [OFFICIAL]),
    ("one-no-terminator", OFFICIAL, [OFFICIAL]),
    ("glued-no-crlf", OFFICIAL + RTD + ACK, [OFFICIAL, RTD, ACK]),
    ("bare-lf", OFFICIAL + b"\n" + RTD + b"\n", [OFFICIAL, RTD]),
    ("blank-lines", b"\r\n\r\n" + OFFICIAL + b"\r\n\r\n\n" + RTD, [OFFICIAL, RTD]),
    ("garbage-before", b"GET / HTTP/1.1\r\n" + OFFICIAL, [("error", 0), OFFICIAL]),
    (
        "garbage-between",
        OFFICIAL + b"\r\nhello\r\n" + RTD + b"\r\n",
        [OFFICIAL, ("error", 113), RTD],
    ),
    ("garbage-glued-after", OFFICIAL + b"XYZ", [OFFICIAL, ("error", 111)]),
    ("wrong-length-then-glued", WRONG_LENGTH + RTD, [WRONG_LENGTH, RTD]),
    ("wrong-length-crlf", WRONG_LENGTH + b"\r\n" + RTD, [WRONG_LENGTH, RTD]),
    ("wrong-length-last", RTD + WRONG_LENGTH, [RTD, WRONG_LENGTH]),
    ("two-digit-length", ACK + b"\r\n" + SCAIR + b"\r\n" + SCAIR + RTD, [ACK, SCAIR, SCAIR, RTD]),
    ("truncated-then-good", TRUNCATED + OFFICIAL + b"\r\n", [TRUNCATED, OFFICIAL]),
    ("truncated-at-end", RTD + b"\r\n" + TRUNCATED, [RTD, TRUNCATED]),
    ("triple-hash", b"#" + OFFICIAL, [("error", 0), OFFICIAL]),
    ("only-blank", b"\r\n \n", []),
    ("empty", b"", []),
]


@pytest.mark.parametrize(
    ("payload", "expected"), [s[1:] for s in STREAMS], ids=[s[0] for s in STREAMS]
)
def test_iter_packets(payload: bytes, expected: list[Item]) -> None:
    assert shape(list(iter_packets(payload))) == expected


@pytest.mark.parametrize(
    ("payload", "expected"), [s[1:] for s in STREAMS], ids=[s[0] for s in STREAMS]
)
def test_stream_reader_cut_anywhere_across_two_feeds(payload: bytes, expected: list[Item]) -> None:
    for cut in range(len(payload) + 1):
        reader = StreamReader()
        items = reader.feed(payload[:cut]) + reader.feed(payload[cut:]) + reader.finish()
        packets = [i for i in shape(items) if isinstance(i, bytes)]
        assert packets == [i for i in expected if isinstance(i, bytes)], cut
        assert reader.pending == 0


def test_stream_reader_byte_by_byte() -> None:
    payload = OFFICIAL + b"\r\n" + RTD + ACK + b"\n" + WRONG_LENGTH + b"\r\n" + SCAIR + b"\r\n"
    reader = StreamReader()
    items: list[bytes | FrameError] = []
    for i in range(len(payload)):
        items += reader.feed(payload[i : i + 1])
    assert items == [OFFICIAL, RTD, ACK, WRONG_LENGTH, SCAIR]
    assert reader.close() == []


def test_a_packet_is_released_as_soon_as_its_declared_length_is_in() -> None:
    reader = StreamReader()
    assert reader.feed(OFFICIAL[:50]) == []
    assert reader.pending == 50
    assert reader.feed(OFFICIAL[50:]) == [OFFICIAL]  # no CR LF needed
    assert reader.feed(b"\r\n") == []


def test_a_wrong_length_packet_waits_for_its_terminator() -> None:
    reader = StreamReader()
    assert reader.feed(WRONG_LENGTH) == []  # could still be "…&&1C80…" of a longer packet
    assert reader.feed(b"\r") == [WRONG_LENGTH]
    reader = StreamReader()
    assert reader.feed(WRONG_LENGTH) == []
    assert reader.finish() == [WRONG_LENGTH]


def test_close_reports_an_incomplete_tail_with_its_stream_position() -> None:
    reader = StreamReader()
    assert reader.feed(OFFICIAL + b"\r\n") == [OFFICIAL]
    assert reader.feed(RTD[:40]) == []
    [error] = reader.close()
    assert isinstance(error, FrameError) and error.kind == "format"
    assert error.position == len(OFFICIAL) + 2
    assert reader.close() == []


def test_garbage_positions_are_stream_offsets() -> None:
    reader = StreamReader()
    assert reader.feed(OFFICIAL + b"\r\n") == [OFFICIAL]
    [error] = reader.feed(b"junk\r\n")
    assert isinstance(error, FrameError) and error.position == len(OFFICIAL) + 2
    assert "junk" in error.detail


def test_runaway_packet_without_end_is_cut() -> None:
    reader = StreamReader()
    items = reader.feed(b"##ABCD" + b"x" * 20000)
    assert len(items) == 1 and isinstance(items[0], bytes)
    with pytest.raises(FrameError):
        parse_packet(items[0])


def test_undelimitable_chunks_are_classified_by_parse_packet() -> None:
    truncated, good = list(iter_packets(TRUNCATED + OFFICIAL))
    assert isinstance(truncated, bytes) and good == OFFICIAL
    with pytest.raises(LengthError):
        parse_packet(truncated)
    with pytest.raises(FrameError):
        parse_packet(SCAIR)


def test_random_chunking_of_a_mixed_stream() -> None:
    frames = [OFFICIAL, RTD, ACK, WRONG_LENGTH, SCAIR] * 20
    rng = random.Random(70)
    payload = b"".join(f + rng.choice([b"", b"\r\n", b"\n"]) for f in frames)
    reader = StreamReader()
    items: list[bytes | FrameError] = []
    i = 0
    while i < len(payload):
        step = rng.randint(1, 200)
        items += reader.feed(payload[i : i + step])
        i += step
    items += reader.finish()
    assert items == frames


# ---- split packets (拆分包), Tables C.49/C.50 -------------------------------------------

MN = "010000A8900016F000169DC0"


def part(
    qn: str,
    pno: int,
    cp: str,
    *,
    pnum: int = 2,
    cn: str = "2061",
    flag: int | None = 7,
    padded: bool = False,
) -> Frame:
    segment = build_segment(
        qn=qn, st="32", cn=cn, pw="100000", mn=MN, flag=flag, pnum=pnum, pno=pno, cp=cp
    )
    if padded:
        segment = segment.replace(f"PNUM={pnum};PNO={pno}", f"PNUM={pnum:04d};PNO={pno:04d}")
    return parse_packet(build_packet(segment))


PART1 = part(
    "20160801085857534",
    1,
    "DataTime=20160801080000;w00000-Cou=10.5,w00000-Avg=17.5,w00000-Flag=N;"
    "w01001-Avg=7.5,w01001-Flag=N",
)
PART2 = part("20160801085857535", 2, "DataTime=20160801080000;w01018-Avg=21.5,w01018-Flag=N")
MERGED_CP = (
    "DataTime=20160801080000;w00000-Cou=10.5,w00000-Avg=17.5,w00000-Flag=N;"
    "w01001-Avg=7.5,w01001-Flag=N;w01018-Avg=21.5,w01018-Flag=N"
)


def test_unsplit_frames_pass_straight_through() -> None:
    reassembler = Reassembler(timeout_s=60)
    frame = parse_packet(OFFICIAL)
    assert reassembler.add(frame, now=0.0) is frame
    single = part("1", 1, "DataTime=20160801080000;w01018-Avg=1", pnum=1)
    assert reassembler.add(single, now=0.0) is single
    assert reassembler.pending == 0


@pytest.mark.parametrize("order", [(PART1, PART2), (PART2, PART1)])
def test_split_parts_merge_into_one_frame(order: tuple[Frame, Frame]) -> None:
    reassembler = Reassembler(timeout_s=60)
    assert reassembler.add(order[0], now=0.0) is None
    assert reassembler.pending == 1
    merged = reassembler.add(order[1], now=1.0)
    assert merged is not None and reassembler.pending == 0
    assert merged.cp == MERGED_CP
    assert merged.qn == "20160801085857534"  # the first part's; each part has its own QN
    assert (merged.pnum, merged.pno, merged.cn, merged.mn) == (None, None, "2061", MN)
    assert list(merged.items()) == ["w00000", "w01001", "w01018"]
    assert merged.data_time == PART1.data_time
    assert merged.crc.ok and merged.crc.algorithm == "hj212" and merged.length_ok


def test_a_resent_part_replaces_the_first_copy() -> None:
    reassembler = Reassembler(timeout_s=60)
    assert reassembler.add(PART1, now=0.0) is None
    assert reassembler.add(PART1, now=1.0) is None
    merged = reassembler.add(PART2, now=2.0)
    assert merged is not None and merged.cp == MERGED_CP


def test_zero_padded_pnum_pno_without_flag() -> None:
    reassembler = Reassembler(timeout_s=60)
    first = part("1", 1, "DataTime=20200924101000;112-Avg=0.000", flag=None, padded=True)
    second = part("2", 2, "DataTime=20200924101000;121-Avg=1.000", flag=None, padded=True)
    assert (first.pnum, first.pno, first.flag.raw) == (2, 1, None)
    assert reassembler.add(first, now=0.0) is None
    merged = reassembler.add(second, now=0.0)
    assert merged is not None
    assert [(v.code, v.raw) for v in merged.values] == [("112", "0.000"), ("121", "1.000")]


def test_uploads_with_different_datatime_do_not_mix() -> None:
    reassembler = Reassembler(timeout_s=60)
    a1 = part("a1", 1, "DataTime=20160801080000;w00000-Avg=1")
    b1 = part("b1", 1, "DataTime=20160801090000;w00000-Avg=2")
    b2 = part("b2", 2, "DataTime=20160801090000;w01018-Avg=3")
    a2 = part("a2", 2, "DataTime=20160801080000;w01018-Avg=4")
    assert reassembler.add(a1, now=0) is None
    assert reassembler.add(b1, now=0) is None
    merged_b = reassembler.add(b2, now=0)
    merged_a = reassembler.add(a2, now=0)
    assert (
        merged_b is not None and merged_b.cp == "DataTime=20160801090000;w00000-Avg=2;w01018-Avg=3"
    )
    assert (
        merged_a is not None and merged_a.cp == "DataTime=20160801080000;w00000-Avg=1;w01018-Avg=4"
    )


def test_expire_returns_partial_uploads_after_the_timeout() -> None:
    reassembler = Reassembler(timeout_s=30)
    assert reassembler.add(PART1, now=100.0) is None
    assert reassembler.expire(now=129.0) == []
    [partial] = reassembler.expire(now=130.0)
    assert partial.cp == PART1.cp
    assert list(partial.items()) == ["w00000", "w01001"]
    assert reassembler.pending == 0 and reassembler.expire(now=1000.0) == []


def test_text_split_parts_are_concatenated() -> None:
    # IceCoffee/HJ212Interpreter style: the CP text is cut anywhere, even inside a pair.
    cp = "DataTime=20160801080000;w00000-Avg=17.5,w00000-Flag=N;w01018-Avg=21.5,w01018-Flag=N"
    cut1, cut2 = 44, 66
    parts = [
        part("t", 1, cp[:cut1], pnum=3),
        part("t", 2, cp[cut1:cut2], pnum=3),
        part("t", 3, cp[cut2:], pnum=3),
    ]
    assert parts[1].cp == "00-Flag=N;w01018-Avg=2"
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        reassembler = Reassembler(timeout_s=60)
        results = [reassembler.add(parts[i], now=0.0) for i in order]
        assert results[:2] == [None, None]
        merged = results[2]
        assert merged is not None and merged.cp == cp, order
        assert merged.flag_of("w00000") == "N" and merged.items()["w01018"]["Avg"].raw == "21.5"


def test_merged_crc_is_ok_only_if_every_part_was() -> None:
    from ingest.hj212 import CRCPolicy

    bad = parse_packet(PART2.packet[:-4] + b"0000", crc_policy=CRCPolicy.LENIENT)
    assert not bad.crc.ok
    reassembler = Reassembler(timeout_s=60)
    assert reassembler.add(PART1, now=0) is None
    merged = reassembler.add(bad, now=0)
    assert merged is not None and merged.crc.ok is False and merged.crc.algorithm is None


def test_a_one_packet_payload_frames_as_the_general_scan_does() -> None:
    """iter_packets takes a short cut for a payload of one packet and blanks; whatever the
    payload, it gives what scanning it in general gives (packets, errors and their text)."""
    rng = random.Random(212)
    heads = [OFFICIAL, RTD, ACK, WRONG_LENGTH, SCAIR, TRUNCATED, b"##", b"###" + OFFICIAL[2:]]
    tails = [b"", b"\r\n", b"\n", b" \t\x00\r\n", b"x", b"\r\nJUNK", b"\r\n" + RTD, RTD, b"##"]
    for _ in range(3_000):
        payload = rng.choice(heads) + rng.choice(tails)
        if rng.random() < 0.3:  # a byte changed anywhere
            i = rng.randrange(len(payload))
            payload = payload[:i] + bytes([rng.choice(b"#&0a;\r ")]) + payload[i + 1 :]
        general, _ = _scan(payload, True, 0)
        got = list(iter_packets(payload))
        assert [str(i) if isinstance(i, FrameError) else i for i in got] == [
            str(i) if isinstance(i, FrameError) else i for i in general
        ], payload
