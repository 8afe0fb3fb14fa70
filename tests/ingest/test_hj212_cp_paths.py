"""The CP parser's fast paths give what the general rules give (issue 16).

split_cp (and parse_cp through it) splits a plain CP (ASCII, no whitespace, one "=" per token, no Info "//") on all its
delimiters at once; every other CP goes token by token. Values are built without the frozen
dataclass's __init__ and their Decimal is computed on first use. These tests generate many CP
texts from the characters that matter and compare the two paths, and the lazy Value with one
built the ordinary way.
"""

from __future__ import annotations

import dataclasses
import itertools
import random
import re
from decimal import Decimal, InvalidOperation, localcontext

import pytest

from ingest.hj212 import Value, cp, parse_cp, parse_number, plain_numbers, split_cp
from ingest.hj212.cp import _pairs, _plain_keys, shape_template

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
    assert (
        sum(_plain_keys(text) is not None for text in texts) > 2_000
    )  # the fast path is exercised
    for text in texts:
        assert parse_cp(text) == general(text), text


@pytest.mark.parametrize(
    "text",
    [
        "DataTime=20240101000000;a21026-Rtd=1.5,a21026-Flag=N",
        "a=1;;b=2",  # empty token
        "a=1;b=2;",  # trailing separator
        "=1;a=2",  # empty key
        "a=1;=2",  # empty key after a ';'
        "a=1,=2",  # empty key after a ','
        "a=1/2;b=/",  # a "/" that opens no Info
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


def test_plain_numbers_take_what_parse_number_takes() -> None:
    rng = random.Random(2026)
    pieces = ["1", "0", ".", "+", "-", "e", " ", "١", "_", "\x00", "1.5", "-0.25"]
    for _ in range(20_000):
        raws = [
            "".join(rng.choices(pieces, k=rng.randrange(0, 5))) for _ in range(rng.randrange(0, 5))
        ]
        one_by_one = [parse_number(raw) for raw in raws]
        together = plain_numbers(raws)
        if None in one_by_one:
            assert together is None, raws
        else:
            assert together is not None, raws
            assert list(map(repr, together)) == list(map(repr, one_by_one)), raws


def test_plain_numbers_keep_each_scale() -> None:
    raws = ["0.0000", "1074", "-0.12", "+3", ".5", "5.", "١٢", "-0"]
    numbers = plain_numbers(raws)
    assert numbers is not None
    assert [str(n) for n in numbers] == ["0.0000", "1074", "-0.12", "3", "0.5", "5", "12", "-0"]
    assert plain_numbers([]) == []
    assert plain_numbers(["1\x002"]) is None  # a NUL inside one raw is not two numbers


def test_plain_numbers_of_digits_signs_and_points_follow_the_grammar() -> None:
    # Every text of up to 6 of these characters (the ASCII path that lets Decimal() judge),
    # alone and beside a plain number, against the grammar.
    for size in range(7):
        for chars in itertools.product("01+-.", repeat=size):
            text = "".join(chars)
            expected = [Decimal(text)] if NUMBER.fullmatch(text) else None
            assert plain_numbers([text]) == expected, text
            together = plain_numbers(["1.5", text])
            assert together == (None if expected is None else [Decimal("1.5"), *expected]), text
    assert plain_numbers(["1", ""]) is None
    assert plain_numbers(["1\x00", "2"]) is None


def test_plain_numbers_do_not_rely_on_the_context_trapping() -> None:
    # Under a context that does not trap InvalidOperation, Decimal("1+") is NaN, not an error.
    with localcontext() as ctx:
        ctx.traps[InvalidOperation] = False
        assert plain_numbers(["1+"]) is None
        assert plain_numbers(["+", "1"]) is None
        numbers = plain_numbers(["-0.25", "3."])
        assert numbers is not None
        assert [str(n) for n in numbers] == ["-0.25", "3"]


def test_split_cp_gives_the_shape_parse_cp_reads() -> None:
    shape, raws = split_cp("DataTime=20240101000000;a21026-Rtd=1.5,a21026-Flag=N;PolId=x")
    assert shape.keys == ("DataTime", "a21026-Rtd", "a21026-Flag", "PolId")
    assert shape.attributes == (("DataTime", 0), ("PolId", 3))
    assert shape.values == (("a21026", "Rtd", 1), ("a21026", "Flag", 2))
    assert raws == ("20240101000000", "1.5", "N", "x")
    # the same keys in the next frame: the remembered shape, whatever the values
    again, _ = split_cp("DataTime=20240101000100;a21026-Rtd=2,a21026-Flag=D;PolId=y")
    assert again is shape


def test_shapes_stay_within_their_bound_whatever_the_keys() -> None:
    cp._remembered_shape.cache_clear()
    for i in range(cp.SHAPE_CACHE_SIZE * 2):
        split_cp(f"DataTime=20240101000000;a{i:05d}-Rtd=1")
    assert cp._remembered_shape.cache_info().currsize <= cp.SHAPE_CACHE_SIZE
    many = ";".join(f"a{k:05d}-Rtd=1" for k in range(cp.SHAPE_MAX_KEYS + 1))
    cp._remembered_shape.cache_clear()
    shape, raws = split_cp(many)
    assert len(shape.values) == len(raws) == cp.SHAPE_MAX_KEYS + 1
    assert cp._remembered_shape.cache_info().currsize == 0


def test_a_hint_gives_what_splitting_without_it_gives() -> None:
    # split_cp with the shape of an earlier CP (frame.py: the same logger's last one) reads the
    # raws in one regex match when the keys are the same; every raw that steers the grammar
    rng = random.Random(212)
    raws = [
        "12.5",
        "N",
        "",
        "-0.1",
        "1=2",
        " 3",
        "4 ",
        "a/b",
        "//x//",
        "//x",
        "x//",
        "的",
        "\x1c",
        "5;6",
    ]
    layouts = [
        ("DataTime", "a21026-Rtd", "a21026-Flag"),
        ("a21026-Rtd", "a21026-Rtd", "w01018-Zs-Rtd"),
        ("DataTime",),
        ("a b", "c"),  # a key that no plain CP has: no template
    ]
    matched = 0
    for _ in range(20_000):
        keys = rng.choice(layouts)
        text = "".join(
            f"{key}={rng.choice(raws)}" + rng.choice([";", ","])
            for key in rng.sample(keys, len(keys))
            if rng.random() < 0.95
        )[:-1]
        for layout in layouts:
            hint = split_cp(";".join(f"{key}=1" for key in layout))[0]
            shape, values = split_cp(text, hint)
            expected_shape, expected_values = split_cp(text)
            assert (shape.keys, values) == (expected_shape.keys, expected_values), (text, layout)
            matched += shape is hint
    assert matched > 5_000  # the hinted path is exercised


def test_no_template_for_keys_that_no_plain_cp_has() -> None:
    assert shape_template(split_cp("a=1;b=2")[0]) is not None
    for keys in ["a b=1", "的=1", "a\x1cb=1", "a=1;b\tc=2"]:
        assert shape_template(split_cp(keys)[0]) is None, keys
