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

__all__ = ["MAX_MANTISSA", "MAX_SCALE", "Split", "split"]

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
    # ±Infinity) goes to _split_tuple().
    text = str(v)
    point = text.find(".")
    if point < 0:
        if not text.lstrip("-").isdigit():
            return _split_tuple(v)
        mantissa, scale = int(text), 0
    else:
        if "E" in text:
            return _split_tuple(v)
        mantissa, scale = int(text.replace(".", "")), len(text) - point - 1
    if scale > MAX_SCALE or not -MAX_MANTISSA <= mantissa <= MAX_MANTISSA:
        return (None, None, v)
    return (mantissa, scale, None)


def _split_tuple(v: Decimal) -> Split:
    """:func:`split` of a value printed with an exponent (1E+3, 1E-7), NaN or ±Infinity."""
    sign, digits, exponent = v.as_tuple()
    if not isinstance(exponent, int):  # 'n', 'N' (NaN), 'F' (±Infinity)
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
