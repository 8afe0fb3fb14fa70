"""ingest/exact_pairs.py splits a Decimal exactly as migration 0024's SQL functions do.

The writer sends measurement_rows' pairs itself (split in Python); everything else (the view's
triggers, the migration) splits in SQL with exact_mantissa, exact_scale and exact_wide. Both
run here on the same values, the Decimals sent in binary as the writer would have sent them
before (a numeric): mantissa, scale and wide value must agree exactly, NULL as NULL."""

from __future__ import annotations

import random
from decimal import Decimal

import psycopg

from ingest.exact_pairs import split, split_text

_TEXTS = [
    "10.00",
    "10",
    "10.0",
    "0",
    "-0",
    "-0.00",
    "0.000",
    "0E-5",
    "0E+5",
    "0E-19",
    "-0.5",
    "-12.340",
    "1000",
    "1E+3",
    "-1E+3",
    "1.5E+2",
    "1E+17",
    "1E+18",
    "9E+17",
    "1E-7",
    "-2.50E-6",
    "1E-18",
    "1E-19",
    "123E-20",
    "0.000000000000000001",  # 18 decimal places
    "-0.000000000000000001",
    "0.0000000000000000001",  # 19 decimal places
    "0.1000000000000000000",
    "999999999999999999",  # 18 digits
    "-999999999999999999",
    "1000000000000000000",  # 19 digits
    "-1000000000000000000",
    "9223372036854775807",  # bigint's largest: 19 digits, wide
    "99999999.9999999999",
    "9.99999999999999999",
    "1.0000000000000000000",
    "20.61855670103092783505154639",
    "123456789012345678901234567890.123",  # huge
    "1E+40",
    "-7E-30",  # tiny
    "00.58",  # zero padding, as real loggers send
    "024.0",
    ".5",
    "5.",
    "NaN",
    "Infinity",
    "-Infinity",
]


def _values() -> list[Decimal]:
    values = [Decimal(t) for t in _TEXTS]
    rng = random.Random(16)
    for digits in range(1, 22):
        for scale in range(21):
            for sign in ("", "-"):
                for _ in range(3):
                    mantissa = "".join(rng.choice("0123456789") for _ in range(digits))
                    values.append(Decimal(f"{sign}{mantissa}E-{scale}"))
                values.append(Decimal(f"{sign}{'9' * digits}E-{scale}"))
                values.append(Decimal(f"{sign}1{'0' * (digits - 1)}E-{scale}"))
    return values


def test_the_python_split_agrees_with_the_sql_split(db: psycopg.Connection) -> None:
    values = _values()
    rows = db.execute(
        "SELECT exact_mantissa(v), exact_scale(v), exact_wide(v)::text, v::text"
        " FROM unnest(%b::numeric[]) WITH ORDINALITY AS u(v, i) ORDER BY i",
        (values,),
    ).fetchall()
    assert len(rows) == len(values)
    wide_seen = pairs_seen = 0
    for v, (mantissa, scale, wide, text) in zip(values, rows, strict=True):
        m, s, w = split(v)
        assert w is None or w is v, v
        assert (m, s, None if w is None else text) == (mantissa, scale, wide), v
        wide_seen += w is not None
        pairs_seen += m is not None
    assert wide_seen > 100 and pairs_seen > 100  # both sides of the rule were exercised


def test_null_stays_null(db: psycopg.Connection) -> None:
    row = db.execute(
        "SELECT exact_mantissa(NULL::numeric), exact_scale(NULL::numeric),"
        " exact_wide(NULL::numeric)"
    ).fetchone()
    assert split(None) == row == (None, None, None)


def test_the_pair_is_the_digits_and_the_decimal_places() -> None:
    assert split(Decimal("10.00")) == (1000, 2, None)
    assert split(Decimal("-12.340")) == (-12340, 3, None)
    assert split(Decimal("1E+3")) == (1000, 0, None)
    assert split(Decimal("1E-7")) == (1, 7, None)


# Numbers as loggers send them (what ingest.hj212.parse_number takes), beyond what str() of a
# Decimal prints: signs, zero padding, a bare point; and texts for split_text's fallback.
_SENT = [
    "+1",
    "+0",
    "-0",
    "-0.000",
    "+.0",
    ".5",
    "-.5",
    "5.",
    "-5.",
    "00.58",
    "-000024.0",
    "0000000000000000000000000001.5",  # 28 digits, 2 significant: a pair
    "000000000000000000999999999999999999",
    "0000000000000000001000000000000000000",  # 19 significant: wide
    "1234567890123456789",
    "12345678901234567890123456789012345678901234567890",
    "1." + "0" * 18,
    "1." + "0" * 19,
    "." + "0" * 17 + "1",
    "." + "0" * 18 + "1",
    "1" + "0" * 5000,  # longer than int() reads from text
    "0" * 5000 + "7.25",
    "1E+3",
    "1e3",
    "-2.5E-6",
    "NaN",
    "-Infinity",
]


def _texts() -> list[str]:
    """_SENT, each value of _values() as str() prints it and plain random numbers as sent."""
    texts = _SENT + [str(v) for v in _values()]
    rng = random.Random(212)
    for _ in range(2000):
        whole = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 21)))
        fraction = "".join(rng.choice("0123456789") for _ in range(rng.randrange(0, 21)))
        point = "." if rng.random() < 0.8 or not whole else ""
        if not whole and not fraction:
            fraction = "0"
        texts.append(f"{rng.choice(('', '+', '-'))}{whole}{point}{fraction if point else ''}")
    return texts


def test_the_split_of_a_text_agrees_with_split_and_the_sql_split(
    db: psycopg.Connection,
) -> None:
    texts = _texts()
    rows = db.execute(
        "SELECT exact_mantissa(v), exact_scale(v), exact_wide(v)::text, v::text"
        " FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, i), LATERAL (SELECT t::numeric) n(v)"
        " ORDER BY i",
        (texts,),
    ).fetchall()
    assert len(rows) == len(texts)
    wide_seen = pairs_seen = 0
    for t, (mantissa, scale, wide, text) in zip(texts, rows, strict=True):
        m, s, w = split_text(t)
        m2, s2, w2 = split(Decimal(t))
        assert (m, s, str(w)) == (m2, s2, str(w2)), t  # str(): NaN is not NaN
        assert (m, s, None if w is None else text) == (mantissa, scale, wide), t
        wide_seen += w is not None
        pairs_seen += m is not None
    assert wide_seen > 100 and pairs_seen > 1000


def test_the_split_of_a_text_reads_any_decimal_digit() -> None:
    assert (
        split_text("\u0661\u0662.\u0663") == split(Decimal("\u0661\u0662.\u0663")) == (123, 1, None)
    )
    assert split_text("\u0660" * 30 + "5") == (5, 0, None)
    assert split_text("1_000") == (1000, 0, None)  # "_" is not a digit: split as Decimal("1_000")


def test_a_value_too_long_for_int_is_wide() -> None:
    # int() reads at most 4,300 digits from a text: such a value (a frame of 9,999 characters
    # can carry one) is wide, not an error in the writer.
    for text in ("1" * 5000, "-" + "9" * 4301, "1" * 5000 + "E-3", "1" * 5000 + "E+3"):
        v = Decimal(text)
        assert split(v) == (None, None, v)
        assert split_text(text) == (None, None, v)
