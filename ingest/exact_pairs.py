"""An exact decimal split into the columns of ``measurement_rows``, in Python, for the writer.

``measurement_rows`` (migration 0024) keeps each exact decimal as ``<column>_mantissa`` (bigint)
and ``<column>_scale`` (smallint), or as ``<column>_wide`` (numeric) when no such pair holds it.
The representation's home is that migration: ``exact_mantissa``, ``exact_scale`` and
``exact_wide`` split a numeric (``exact_fits`` decides pair or wide), ``exact_decimal`` joins.
:func:`split` is the same split done here, so that the writer sends the pairs as int8/int2
(which psycopg dumps far more cheaply than a Decimal as numeric) instead of the numeric for
the server to split. It MUST give exactly what those SQL functions give for the numeric that
psycopg makes of the same Decimal: tests/ingest/test_exact_pairs.py runs both on a wide set of
values and fails if either drifts.

The rule, as exact_fits: a value is a pair when it has at most 18 decimal places and 18
significant digits (|mantissa| < 10^18); the scale is its number of decimal places as sent
(10.00 is (1000, 2)), a positive exponent counting none (1E+3 is (1000, 0), as numeric keeps
it); NULL stays NULL; anything else (more digits or places, NaN, ±Infinity) is wide, as sent.
"""

from __future__ import annotations

from decimal import Decimal

__all__ = ["MAX_MANTISSA", "MAX_SCALE", "Split", "split", "split_text"]

MAX_SCALE = 18
MAX_MANTISSA = 10**18 - 1  # 18 digits

Split = tuple[int | None, int | None, Decimal | None]
_NULL: Split = (None, None, None)


def split(v: Decimal | None) -> Split:
    """(mantissa, scale, wide) of ``v``, as exact_mantissa, exact_scale and exact_wide."""
    if v is None:
        return _NULL
    # The usual value prints as plain digits with an optional point ("-12.340"): read the pair
    # from that text (cheaper than Decimal.as_tuple()); anything else (an exponent, NaN,
    # ±Infinity, more than 18 significant digits or places) goes to _split_tuple().
    pair = _plain_pair(str(v))
    return _split_tuple(v) if pair is None else pair


def split_text(text: str) -> Split:
    """``split(Decimal(text))``, for the text of a number: as str() prints a Decimal, or as a
    logger sent it (what ingest.hj212.parse_number takes: a sign, leading zeros, ".5", "5.").
    A plain number of at most 18 significant digits and places is read from its digits, with
    no Decimal made; anything else is split as its Decimal."""
    pair = _plain_pair(text)
    return split(Decimal(text)) if pair is None else pair


def _plain_pair(text: str) -> Split | None:
    """The pair of ``text`` when it is  [+-]? digits? "." ? digits?  with some digit, at most 18
    significant digits and at most 18 decimal places; None for anything else."""
    negative = text[:1] == "-"
    whole, _, fraction = (text[1:] if negative or text[:1] == "+" else text).partition(".")
    digits = whole + fraction
    # isdecimal(): digits only (no "_", space or sign that int() would take); int() reads any
    # Unicode decimal digit as Decimal() does. At most 18 digits after the leading ASCII zeros
    # keeps |mantissa| <= MAX_MANTISSA, and int() away from texts too long for it.
    if not digits.isdecimal() or len(fraction) > MAX_SCALE:
        return None
    significant = digits.lstrip("0")
    if len(significant) > 18:
        return None
    mantissa = int(significant) if significant else 0
    return (-mantissa if negative else mantissa, len(fraction), None)


def _split_tuple(v: Decimal) -> Split:
    """:func:`split` of a value printed with an exponent (1E+3, 1E-7), NaN or ±Infinity, or
    with more than 18 significant digits or decimal places."""
    sign, digits, exponent = v.as_tuple()
    if not isinstance(exponent, int):  # 'n', 'N' (NaN), 'F' (±Infinity)
        return (None, None, v)
    if len(digits) > 18:  # (digits hold no leading zero; and no int() of 4,300 digits or more)
        return (None, None, v)
    mantissa = int("".join(map(str, digits)))
    if exponent > 0:  # numeric keeps no exponent: 1E+3 is 1000, scale 0
        if mantissa and len(digits) + exponent > 18:  # (no power of 10^200000 to compute)
            return (None, None, v)
        mantissa *= 10**exponent
        exponent = 0
    if -exponent > MAX_SCALE or mantissa > MAX_MANTISSA:
        return (None, None, v)
    return (-mantissa if sign else mantissa, -exponent, None)
