"""The header after a plain QN is remembered (ingest/hj212/frame.py, _header): what it gives is
what reading the whole header gives, errors and their positions included, and never shared."""

from __future__ import annotations

import random

import pytest

from ingest.hj212 import build_packet, parse_packet, parse_segment
from ingest.hj212.errors import FrameError
from ingest.hj212.frame import HEADER_MAX_CHARS, _BadNumber, _header, _read_header

HEADS = [
    "QN=20261101000000000;ST=31;CN=2011;PW=123456;MN=BENCH01;Flag=4;",
    "QN=20261101000000001;ST=31;CN=2011;PW=123456;MN=BENCH01;Flag=4;",  # the same rest
    "QN=1;ST=31;QN=2;CN=2011;",  # a QN again: its value wins, the key stays first
    "QN=1;qn=3;st=32;flag=5;pnum=2;pno=1;",  # keys in another case
    "QN=;ST=31;",  # an empty QN
    "QN=a=b;ST=31;",  # an "=" in the QN
    "QN=1,ST=31;CN=2011;",  # a "," ends the QN token: read in full
    "QN= 1;ST=31;",  # whitespace in the QN: read in full
    "QN=1 ;ST = 31 ;",
    "QN=1",  # no ";"
    "QN=1;;,;ST=31;,MN=x;Flag=;",
    "QN=1;Flag=300;",  # out of range
    "QN=1;Flag=x;PNUM=1;",
    "QN=1;Flag=4;PNUM=10000;",
    "QN=1;PNO=12a;",
    "ST=31;QN=1;CN=2011;",  # QN not first: read in full
    "QN=1;MN=" + "M" * HEADER_MAX_CHARS + ";",  # a rest too long to remember
    "",
]


def _order(parsed: object) -> list[str] | None:
    """The header's keys in order (dict equality ignores it), None for an error."""
    return None if isinstance(parsed, _BadNumber) else list(parsed[0])  # type: ignore[index]


@pytest.mark.parametrize("head", HEADS)
def test_a_remembered_header_is_the_header_read_in_full(head: str) -> None:
    for _ in range(2):  # the second time from what was remembered
        assert _header(head) == _read_header(head), head
        assert _order(_header(head)) == _order(_read_header(head)), head


def test_random_headers_are_read_alike() -> None:
    rng = random.Random(16)
    pieces = ["QN=1", "QN=2", "QN=", "ST=31", "qn=9", "Flag=4", "FLAG=5", "Flag=x", "PNUM=3",
              "PNO=99999", "MN=a", " ", ",", ";", "=", "CN=2011", "X=1"]  # fmt: skip
    for _ in range(20_000):
        head = "".join(rng.choices(pieces, k=rng.randrange(0, 8)))
        if rng.random() < 0.7:
            head = "QN=" + str(rng.randrange(100)) + ";" + head
        first, second = _header(head), _header(head)
        full = _read_header(head)
        assert first == second == full, head
        assert _order(first) == _order(full), head


def test_frames_do_not_share_a_remembered_header() -> None:
    segment = b"QN=20261101000000000;ST=31;CN=2011;PW=123456;MN=SHARED;Flag=4;CP=&&&&"
    one = parse_segment(segment)
    two = parse_segment(segment.replace(b"000000000", b"000000001", 1))
    assert one.header is not two.header
    assert one.qn == "20261101000000000" and two.qn == "20261101000000001"
    assert dict(two.header) == {**one.header, "QN": "20261101000000001"}


def test_a_bad_number_after_a_qn_is_an_error_at_its_place() -> None:
    segment = "QN=20261101000000000;ST=31;Flag=300;CP=&&&&"
    for _ in range(2):
        with pytest.raises(FrameError, match=r"Flag='300' is not an integer 0\.\.255") as e:
            parse_segment(segment.encode())
        assert e.value.position == segment.index("Flag")
    packet = build_packet(segment)
    with pytest.raises(FrameError) as e:
        parse_packet(packet)
    assert e.value.position == 6 + segment.index("Flag")
