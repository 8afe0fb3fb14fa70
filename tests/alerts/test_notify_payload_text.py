"""The outbox's payload text, written by orjson: the text json.dumps wrote before, but for how
a float is spelt, and then the same number in the same jsonb (what is kept of the text)."""

from __future__ import annotations

import json
import math
import random
import struct
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from alerts.notify.outbox import _dumps, _payload

STRINGS = [
    *("", "a", '"quoted"', "back\\slash", "/", "\x7f", "\u2028\u2029", "二氧化硫 mg/m³", "𝄞"),
    *(chr(i) for i in range(32)),
    'mixed \x00\x1f"\\ 中 \U0001f600',
]
INTEGERS = [0, -1, 1, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, 2**64, -(2**63) - 1, 10**40]


def _floats(n: int) -> list[float]:
    rng = random.Random(16)
    special = [0.0, -0.0, 0.1, 1.5, 100.0, 1e16, 1e-5, 2.5e-7, 1e22, 1e300, 5e-324, 1e-4]
    # finite doubles of every magnitude (random bit patterns), and short decimals as Decimals
    # of measurements become floats (_jsonable)
    bits = [struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(n)]
    short = [
        float(Decimal(rng.randrange(-(10**6), 10**6)).scaleb(-rng.randrange(0, 12)))
        for _ in range(n)
    ]
    return special + [f for f in bits if math.isfinite(f)] + short


def _exactly(doc: str) -> Any:
    """The document with every number as a Decimal (its digits and exponent as written)."""
    return json.loads(doc, parse_float=lambda s: Decimal(s).as_tuple())


def test_the_text_is_json_dumps_text_for_strings_integers_and_the_rest() -> None:
    docs: list[Any] = [{"s": s, "k" + s: [s]} for s in STRINGS]
    docs += [{"i": i, "nested": {"l": [i, None, True, False, (1, "t")]}} for i in INTEGERS]
    for doc in docs:
        assert _payload(doc) == _dumps(doc)


def test_a_float_is_the_same_number_with_the_same_digits_and_exponent() -> None:
    for f in _floats(3000):
        ours, theirs = _payload({"x": f, "l": [f]}), _dumps({"x": f, "l": [f]})
        assert _exactly(ours) == _exactly(theirs), (f, ours, theirs)


def test_what_orjson_refuses_is_written_or_refused_by_json_dumps() -> None:
    assert _payload({"big": 2**64}) == _dumps({"big": 2**64})
    assert _payload({1: "key not a string"}) == _dumps({1: "key not a string"})
    with pytest.raises(TypeError):
        _payload({"x": Decimal(1)})  # as json.dumps refuses it


@pytest.mark.integration
def test_the_database_keeps_the_same_jsonb(db: psycopg.Connection) -> None:
    texts = [s for s in STRINGS if "\x00" not in s]  # (jsonb refuses U+0000, either way)
    docs = [{"x": f, "s": s} for f, s in zip(_floats(200), texts * 20, strict=False)]
    ours = [_payload(d) for d in docs]
    theirs = [_dumps(d) for d in docs]
    rows = db.execute(
        "SELECT bool_and(jsonb_send(a::jsonb) = jsonb_send(b::jsonb)), count(*) "
        "FROM unnest(%s::text[], %s::text[]) AS t(a, b)",
        (ours, theirs),
    ).fetchone()
    assert rows == (True, len(docs))
