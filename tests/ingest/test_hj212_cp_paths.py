"""The CP parser's fast paths give what the general rules give (issue 16).

parse_cp splits a plain CP (ASCII, no whitespace, one "=" per token, no Info "//") on all its
delimiters at once; every other CP goes token by token. Values are built without the frozen
dataclass's __init__ and their Decimal is computed on first use. These tests generate many CP
texts from the characters that matter and compare the two paths, and the lazy Value with one
built the ordinary way.
"""

from __future__ import annotations

import dataclasses
import random
import re
from decimal import Decimal

import pytest

from ingest.hj212 import Value, parse_cp, parse_number
from ingest.hj212.cp import _pairs, _plain

# the characters that steer the grammar, and a few ordinary ones
ALPHABET = ["a", "1", "R", "-", "=", ";", ",", ".", " ", "/", "//", "\t", "的", "+", "N"]


def general(text: str) -> tuple[dict[str, str], tuple[Value, ...]]:
    """What the token-by-token rules give, Values built by their dataclass __init__."""
    attributes: dict[str, str] = {}
    values = []
    for key, raw in _pairs(text):
        code, dash, field = key.partition("-")
        if dash:
            values.append(Value(code, field, raw, parse_number(raw)))
        else:
            attributes[key] = raw
    return attributes, tuple(values)


def random_cps(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(count):
        if rng.random() < 0.5:  # mostly well-formed pairs, as loggers send
            pairs = [
                f"{rng.choice(['a21026', 'DataTime', 'w01018', ''])}"
                f"{rng.choice(['-Rtd', '-Flag', '', '-Zs-Rtd'])}="
                f"{rng.choice(['12.5', 'N', '', '-0.1', '1=2', ' 3 '])}"
                for _ in range(rng.randrange(1, 8))
            ]
            texts.append("".join(p + rng.choice([";", ","]) for p in pairs)[:-1])
        else:
            texts.append("".join(rng.choices(ALPHABET, k=rng.randrange(0, 24))))
    return texts


def test_plain_and_general_paths_agree_on_generated_cp() -> None:
    texts = random_cps(16, 20_000)
    assert sum(map(_plain, texts)) > 2_000  # the fast path is exercised
    for text in texts:
        assert parse_cp(text) == general(text), text


@pytest.mark.parametrize(
    "text",
    [
        "DataTime=20240101000000;a21026-Rtd=1.5,a21026-Flag=N",
        "a=1;;b=2",  # empty token
        "a=1;b=2;",  # trailing separator
        "=1;a=2",  # empty key
        "a=1=2;b=3",  # a second "=" in the value
        "a=1;b",  # a token with no "="
        "a=1; b=2",  # whitespace
        "i11001-Info=//a;b//;a21026-Rtd=1",  # an Info log
        "污染物-Rtd=1",  # not ASCII
        "",
    ],
)
def test_fast_path_decision_on_edge_cases(text: str) -> None:
    assert parse_cp(text) == general(text)


def test_a_parsed_value_is_an_ordinary_frozen_value() -> None:
    (value,) = parse_cp("a21026-Rtd=12.50")[1]
    built = Value("a21026", "Rtd", "12.50", Decimal("12.50"))
    assert type(value) is Value
    assert value == built and hash(value) == hash(built) and repr(value) == repr(built)
    assert value.number == Decimal("12.50") and str(value.number) == "12.50"
    assert dataclasses.replace(value, raw="1") == Value("a21026", "Rtd", "1", Decimal("12.50"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.raw = "13"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="no attribute 'nmuber'"):
        value.nmuber  # noqa: B018


# The grammar of §6.3.3.2.2 as a regular expression: the oracle for the str-method check.
NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")


def test_parse_number_follows_the_grammar() -> None:
    rng = random.Random(212)
    pieces = ["1", "0", "9", ".", "+", "-", "e", " ", "N", "١", "_", "²", "inf"]
    texts = ["".join(rng.choices(pieces, k=rng.randrange(0, 7))) for _ in range(50_000)]
    for text in texts:
        expected = Decimal(text) if NUMBER.fullmatch(text) else None
        assert parse_number(text) == expected, text
