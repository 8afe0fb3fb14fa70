"""The codec's full output on the 12,529 corpus frames, pinned by a digest.

The digest was taken from the parser as it stood before the codec was made faster (issue 16), so
any change in what a frame parses to - a header field, a value, a Decimal, a CRC verdict, an
error's text or position - under any CRC policy changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial

import pytest

from ingest.hj212 import CRCPolicy, HJ212Error, parse_packet, parse_segment
from tests.ingest.test_hj212_corpus import CORPUS

# sha256 of every line's outcome under strict, lenient and alt, and of its bare segment.
DIGEST = "626e4d7c679fdd8b85b517591aafc0895519ab17b2079347587d8605ca3a6b99"


def outcome(call: Callable[[], object]) -> str:
    try:
        return repr(call())
    except HJ212Error as error:
        return f"{type(error).__name__} {error.detail!r} at {error.position!r}"


def corpus_digest(lines: list[bytes]) -> str:
    digest = hashlib.sha256()
    for line in lines:
        for policy in CRCPolicy:
            digest.update(outcome(partial(parse_packet, line, crc_policy=policy)).encode())
            digest.update(b"\n")
        segment = line[6:-4]  # what a bare-segment upload of the same frame would carry
        digest.update(outcome(partial(parse_segment, segment)).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def test_every_corpus_frame_parses_as_before() -> None:
    if not CORPUS.is_file():
        pytest.skip(f"corpus not present: {CORPUS}")
    assert corpus_digest(CORPUS.read_bytes().splitlines()) == DIGEST
