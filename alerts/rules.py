"""The regulator's arithmetic: valid data, hourly and daily means, 折算. No I/O.

What it implements (docs/regulations.md#validity, docs/regulations.md#volume-weighted-means,
docs/regulations.md#o2-conversion):

* Only valid data count: a sample counts when its HJ 212 flag is in ``valid_flags`` (``{"N"}``
  by default, as in the ``data_flags`` table) and it has a value. F, M, S, D, C, T, B and
  samples without a flag do not count; every sample is counted per flag in ``flags``.
* An hourly mean is valid with at least ``rules.hour_min_valid_minutes`` valid minutes
  (HJ 75-2017, HJ 212-2017 Appendix D). From minute data (CN 2051) each record is one minute
  (or ``interval_minutes`` minutes). From real-time data (CN 2011), used when there is no
  minute data, samples are bucketed into clock minutes and **a minute is valid when it holds
  at least one valid sample**; its value is the mean of its valid samples. (HJ 212 uploads
  real-time data at most every 30 s, so the analyser-level "12 valid samples per minute" rule
  cannot be checked here.)
* 折算: ``C × (21 − O₂ref) / (21 − O₂)``, minute by minute with that minute's O₂ (HJ 75-2017
  appendix formulas). At or above ``rules.o2_max_for_conversion`` no conversion is made. The
  hourly converted mean needs as many converted minutes as the hour needs valid minutes.
* A daily mean is the mean of the valid hourly means, valid with at least
  ``rules.day_min_valid_hours`` valid hours.
* Wastewater means are volume-weighted (HJ 212-2017 Appendix D): given the outlet's flow
  (w00000), the hourly mean is Σ(Cᵢ·Qᵢ)/ΣQᵢ over its valid minutes and the daily mean weights each
  valid hour by its mean flow. When a valid minute (hour) has no valid flow, or no water flowed,
  the mean is arithmetic and ``reason`` says why.
* Whether a mean exceeds its limit, and by how much, is :func:`schemas.limits.judgement.judge`.

Every threshold comes from :class:`schemas.limits.rules.ValidityRules` (versioned tables with
their sources), never from a constant here. Means are returned even when
the period is not valid (for display, then over whatever data there is); judge exceedance only
when ``valid`` is true.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import (
    MAX_EMAX,
    MAX_PREC,
    MIN_EMIN,
    ROUND_CEILING,
    ROUND_FLOOR,
    Context,
    Decimal,
    getcontext,
    localcontext,
)
from itertools import compress, islice, repeat
from operator import add, and_, floordiv, is_, is_not, lt, mod, mul, ne, sub, truediv
from typing import Any, Literal, NamedTuple, cast, overload

from schemas.limits.rules import ValidityRules

__all__ = [
    "DEFAULT_VALID_FLAGS",
    "HOUR_US",
    "MINUTE_US",
    "DayResult",
    "Exact",
    "MeanResult",
    "MinuteMemo",
    "Sample",
    "SampleColumns",
    "convert_o2",
    "daily_mean",
    "epoch_micros",
    "hourly_mean",
    "pair_decimals",
    "zs_mismatch",
]

# The flags marked valid in data_flags (HJ 212-2017 Table 8); pass the table's set if it differs.
DEFAULT_VALID_FLAGS = frozenset({"N"})
NO_FLAG = "none"  # key in ``flags`` for samples sent without a flag


class Sample(NamedTuple):
    """One measurement: ``value`` is Rtd (real-time) or Avg (minute), ``zs_value`` the logger's
    折算 value (ZsRtd / ZsAvg), ``flag`` the HJ 212 data flag as sent. A named tuple: the
    evaluator builds one per minute read, so it must be cheap to make and to unpack."""

    ts: datetime
    value: Decimal | None
    zs_value: Decimal | None = None
    flag: str | None = None


class Exact(NamedTuple):
    """A column of stored decimals as the database keeps them, when every one is a pair (the
    usual series): value k is ``mantissas[k]`` × 10^−scale, the Decimal
    ``Decimal(f"{mantissas[k]}E-{scale}")`` (coefficient and exponent), with ``scale`` one for
    all or each value's. Sums of such values are sums of integers (Summing pairs)."""

    mantissas: Sequence[int]
    scale: int | Sequence[int]  # 0 … 18

    def decimals(self) -> list[Decimal]:
        """The values as Decimals (each mantissa × 10^−scale, an exact product)."""
        ms, scale = self
        if isinstance(scale, int):
            if not scale:
                return list(map(Decimal, ms))
            with localcontext(_WHOLE):
                return list(map(mul, map(Decimal, ms), repeat(_UNITS[scale])))
        with localcontext(_WHOLE):
            return list(map(mul, map(Decimal, ms), map(_UNITS.__getitem__, scale)))

    def aligned(self) -> tuple[Sequence[int], int]:
        """The mantissas at the largest scale, and that scale: m × 10^(S − s) each."""
        ms, scale = self
        if isinstance(scale, int):
            return ms, scale
        top = max(scale, default=0)
        return list(map(mul, ms, map(_TENS.__getitem__, map(sub, repeat(top), scale)))), top

    def part(self, i: int, j: int) -> Exact:
        """Values ``i`` to ``j`` (a slice)."""
        scale = self.scale
        return Exact(self.mantissas[i:j], scale if isinstance(scale, int) else scale[i:j])

    def kept(self, keep: Sequence[bool]) -> Exact:
        """The values where ``keep`` is true, in order (the valid ones of a series)."""
        scale = self.scale
        return Exact(
            list(compress(self.mantissas, keep)),
            scale if isinstance(scale, int) else list(compress(scale, keep)),
        )


def pair_decimals(
    mantissas: Sequence[int | None],
    scales: Sequence[int | None],
    wide: Iterable[Decimal] = (),
) -> list[Decimal | None]:
    """Each pair's Decimal as :meth:`Exact.decimals` makes it, None where the scale is None;
    where the scale is negative (a value too wide for a pair), the next of ``wide``."""
    wides = iter(wide)
    with localcontext(_WHOLE):
        return [
            None if s is None else next(wides) if s < 0 else Decimal(cast("int", m)) * _UNITS[s]
            for m, s in zip(mantissas, scales, strict=True)
        ]


# Exact for any product of a mantissa and a power of ten (nothing it computes is rounded).
_WHOLE = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[])
_UNITS = [Decimal(f"1E-{s}") for s in range(19)]
_TENS = [10**s for s in range(19)]


class SampleColumns(Sequence[Sample]):
    """Samples kept as the columns they were read in (times, values, Zs values, flags, each in
    time order): iterating gives (ts, value, zs_value, flag) tuples, as a list of
    :class:`Sample` would, without building one object per minute; indexing gives a
    :class:`Sample`. The evaluator keeps the minutes it reads like this.

    The times are given as ``ts`` (aware datetimes) or as ``micros`` (whole microseconds since
    the Unix epoch: what the evaluator reads, cheaper to decode and to compare); each is made
    from the other when first asked for, ``ts`` in UTC. The values (and Zs values) may be
    given as ``value_exact`` (``zs_exact``) instead, when every one is a pair (see
    :class:`Exact`): their Decimals are then made when first asked for, and the rules sum the
    integers where that gives the same Decimal (Summing pairs)."""

    __slots__ = (
        *("_counts", "_micros", "_ts", "_valid", "_value", "_zs_value"),
        *("flag", "value_exact", "zs_exact"),
    )

    def __init__(
        self,
        ts: Sequence[datetime] | None,
        value: Sequence[Decimal | None] | None,
        zs_value: Sequence[Decimal | None] | None,
        flag: Sequence[str | None],
        *,
        micros: Sequence[int] | None = None,
        value_exact: Exact | None = None,
        zs_exact: Exact | None = None,
    ) -> None:
        times = ts if ts is not None else micros
        if times is None:
            raise ValueError("sample columns without times")
        values = value if value is not None else value_exact and value_exact.mantissas
        zs_values = zs_value if zs_value is not None else zs_exact and zs_exact.mantissas
        if values is None or zs_values is None:
            raise ValueError("sample columns without values")
        if not len(times) == len(values) == len(zs_values) == len(flag):
            raise ValueError("sample columns of different lengths")
        self._ts, self._micros = ts, micros
        self._value, self._zs_value, self.flag = value, zs_value, flag
        self.value_exact, self.zs_exact = value_exact, zs_exact
        self._valid: tuple[frozenset[str], Sequence[bool] | None, Exact] | None = None
        self._counts: Mapping[str | None, int] | None = None

    def flag_counts(self) -> Mapping[str | None, int]:
        """The samples per flag, in the order first seen (remembered: the spreads and the
        mean both ask)."""
        if self._counts is None:
            self._counts = _counted(self.flag)
        return self._counts

    def valid_pairs(self, valid_flags: frozenset[str]) -> tuple[Sequence[bool] | None, Exact]:
        """Of values given as pairs (``value_exact``): which samples have a flag in
        ``valid_flags`` (None: all of them) and those samples' pairs, in order; remembered for
        the set last asked about (the flat-line spreads and the mean ask about the same)."""
        exact = self.value_exact
        if exact is None:
            raise ValueError("no pairs")
        known = self._valid
        if known is None or known[0] is not valid_flags:
            counts = self.flag_counts()
            if valid_flags.issuperset(counts):
                known = self._valid = (valid_flags, None, exact)
            else:
                keep = _valid_mask(self.flag, counts, valid_flags)
                known = self._valid = (valid_flags, keep, exact.kept(keep))
        return known[1], known[2]

    @property
    def ts(self) -> Sequence[datetime]:
        if self._ts is None:
            assert self._micros is not None
            self._ts = [_EPOCH + timedelta(microseconds=us) for us in self._micros]
        return self._ts

    @property
    def micros(self) -> Sequence[int]:
        if self._micros is None:
            assert self._ts is not None
            self._micros = [epoch_micros(t) for t in self._ts]
        return self._micros

    @property
    def value(self) -> Sequence[Decimal | None]:
        if self._value is None:
            assert self.value_exact is not None
            self._value = self.value_exact.decimals()
        return self._value

    @property
    def zs_value(self) -> Sequence[Decimal | None]:
        if self._zs_value is None:
            assert self.zs_exact is not None
            self._zs_value = self.zs_exact.decimals()
        return self._zs_value

    def __len__(self) -> int:
        return len(self.flag)

    def __iter__(self) -> Iterator[Sample]:
        # zip's tuples unpack as Samples do (and are reused when unpacked at once)
        return cast(
            "Iterator[Sample]", zip(self.ts, self.value, self.zs_value, self.flag, strict=True)
        )

    @overload
    def __getitem__(self, i: int) -> Sample: ...
    @overload
    def __getitem__(self, i: slice) -> SampleColumns: ...
    def __getitem__(self, i: int | slice) -> Sample | SampleColumns:
        if isinstance(i, slice):
            ts = None if self._ts is None else self._ts[i]
            micros = None if self._micros is None else self._micros[i]
            start, stop, step = i.indices(len(self))
            value, zs = self.value_exact, self.zs_exact
            if step != 1:  # (not taken by the evaluator) the Decimals, sliced
                return SampleColumns(
                    ts, self.value[i], self.zs_value[i], self.flag[i], micros=micros
                )
            return SampleColumns(
                ts,
                None if self._value is None else self._value[i],
                None if self._zs_value is None else self._zs_value[i],
                self.flag[i],
                micros=micros,
                value_exact=None if value is None else value.part(start, stop),
                zs_exact=None if zs is None else zs.part(start, stop),
            )
        return Sample(self.ts[i], self.value[i], self.zs_value[i], self.flag[i])

    def __repr__(self) -> str:
        return f"SampleColumns({list(self)!r})"


_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
MINUTE_US, HOUR_US = 60_000_000, 3_600_000_000  # a minute and an hour in microseconds
_MINUTES = HOUR_US // MINUTE_US
_EVERY_MINUTE = tuple(range(_MINUTES))  # the offsets of a whole hour of minutes


def epoch_micros(t: datetime) -> int:
    """An aware datetime as whole microseconds since the Unix epoch (how the evaluator reads
    the times of samples)."""
    return (t - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class MeanResult:
    """An hourly mean; the fields are the columns of ``hourly_means`` (without outlet_id,
    pollutant and computed_at, which the caller adds)."""

    hour_start: datetime
    source: Literal["min", "rtd", "hour"]
    mean: Decimal | None  # measured concentration, valid minutes only
    zs_reported: Decimal | None  # mean of the logger's Zs values over the valid minutes
    converted: Decimal | None  # recomputed at the reference O₂ (None for water)
    o2_mean: Decimal | None  # O₂ over the valid minutes that have a valid O₂
    valid_count: int  # valid minutes
    expected_count: int
    valid: bool  # enough valid data for a regulatory mean
    reason: str | None
    flags: Mapping[str, int]  # samples per flag


@dataclass(frozen=True, slots=True)
class DayResult:
    """A daily mean; the fields are the columns of ``daily_means`` (without outlet_id,
    pollutant and computed_at)."""

    day: date
    source: Literal["hour", "day"]
    mean: Decimal | None
    zs_reported: Decimal | None
    converted: Decimal | None
    o2_mean: Decimal | None
    valid_count: int  # valid hours
    expected_count: int
    valid: bool
    reason: str | None


def _weighted(
    values: Mapping[Any, Decimal], flows: Mapping[Any, Decimal], unit: str
) -> tuple[Decimal | None, str | None]:
    """Σ(v·q)/Σq over the keys of ``values``, or None and why the mean stays arithmetic."""
    if any(flows[k] < 0 for k in values if k in flows):
        return None, "arithmetic mean: negative flow"
    missing = [k for k in values if k not in flows]
    if missing:
        return None, (
            f"arithmetic mean: no valid flow in {len(missing)} of {len(values)} valid {unit}"
        )
    total = sum((flows[k] for k in values), Decimal(0))
    if total <= 0:
        return None, "arithmetic mean: no flow (volume weighting needs some)"
    return sum((v * flows[k] for k, v in values.items()), Decimal(0)) / total, None


def _mean(values: Iterable[Decimal]) -> Decimal | None:
    items = list(values)
    return sum(items, Decimal(0)) / len(items) if items else None


def _mean_of(values: Sequence[Decimal], exact: Exact | None) -> Decimal | None:
    """:func:`_mean` of ``values``, which are ``exact``'s when it is given: then their sum is
    that of the integers, one Decimal (Summing pairs)."""
    if exact is None or not exact.mantissas or not _sums_exactly(getcontext()):
        return _mean(values)
    scale = exact.scale
    if not isinstance(scale, int):
        # Several scales: aligning the integers costs more than adding the Decimals (made
        # already), so the Decimals are added.
        return _mean(values)
    return Decimal(sum(exact.mantissas)).scaleb(-scale) / len(exact.mantissas)


def _sums_exactly(context: Context) -> bool:
    """Whether this context adds pairs without rounding (Summing pairs)."""
    return (
        context.prec >= 28
        and context.rounding != ROUND_FLOOR
        and context.Emax >= 99
        and context.Emin <= -99
    )


# Summing pairs: a pair m × 10⁻ˢ (|m| < 10¹⁸, 0 ≤ s ≤ 18) is the Decimal of coefficient |m| and
# exponent −s, never a negative zero. 0 plus n of them of one scale, as _mean adds, is exact
# while no partial sum has more digits than the precision, which none has below n × 10¹⁸ < 10²⁸
# (n < 10¹⁰, a context of 28 digits or more): its exponent is min(0, −s) = −s, its coefficient
# Σm, and it is zero only as +0 unless the context rounds towards −∞ (then x + (−x) is −0). So
# Decimal(Σm) scaled by −s is that sum, coefficient, exponent and sign, and divided by n gives
# _mean's result. Likewise 0 + v is v itself for a pair (Normalising a minute): 18 digits at
# most.


def convert_o2(c: Decimal, o2: Decimal | None, o2_ref: Decimal, o2_max: Decimal) -> Decimal | None:
    """折算浓度 C × (21 − O₂ref) / (21 − O₂); None when O₂ is missing or ≥ ``o2_max``."""
    converted = _converted(((c, o2),), o2_ref, o2_max)
    return converted[0] if converted else None


def _converted(
    pairs: Iterable[tuple[Decimal, Decimal | None]], o2_ref: Decimal, o2_max: Decimal
) -> list[Decimal]:
    """:func:`convert_o2` of each (C, O₂) that converts, in order; the formula's one home
    (21 − O₂ref computed once for all: an hour's minutes are converted here)."""
    scale = 21 - o2_ref
    # O₂ < o2_max and O₂ < 21 as one comparison (a NaN o2_max stays, and comparing an O₂ with
    # it raises as before); 21 − O₂ with the Decimal 21, not the int converted for every
    # minute: the same operations on the same operands.
    below = o2_max if o2_max.is_nan() or o2_max < _21 else _21
    return [c * scale / (_21 - o2) for c, o2 in pairs if o2 is not None and o2 < below]


class _Minutes(NamedTuple):
    """An hour's valid minutes as columns: the minutes' offsets in the hour (multiples of the
    width, increasing), each one's value (the mean of its valid values) and, in the same
    order, the Zs values of those that have one (the mean of theirs). Columns rather than a
    dict of (value, Zs) pairs: the usual hour's 60 minutes then need no tuple each, and what
    the mean needs of them (the values, the Zs values) is a list already."""

    offsets: tuple[int, ...]
    values: Sequence[Decimal]
    zs: Sequence[Decimal]
    exact: Exact | None = None  # the values as pairs of one scale (Summing pairs)
    zs_exact: Exact | None = None  # the Zs values alike
    # Of minutes of pairs with some invalid: every sample's offset, which are valid, and every
    # value as a pair (the series these minutes were kept from: _converted_pairs)
    grid: tuple[tuple[int, ...], Sequence[bool], Exact] | None = None


def _minutes(
    samples: Iterable[Sample],
    hour_start: datetime,
    width: int,
    valid_flags: frozenset[str],
    flags: dict[str, int],
) -> _Minutes:
    """The valid minutes (offsets in the hour, multiples of ``width``) and their values;
    samples outside the hour are ignored."""
    if width == 1 and isinstance(samples, SampleColumns):
        usual = _one_per_minute(samples, hour_start, valid_flags, flags)
        if usual is not None:
            return usual
    buckets: dict[int, list[tuple[Decimal, Decimal | None]]] = {}
    seen: list[str | None] = []  # the flags of the samples in the hour, counted at the end
    step = 60 * width
    for ts, value, zs, flag in samples:
        offset = ts - hour_start
        if offset.days or offset >= _HOUR:  # days is -1 before the hour
            continue
        seen.append(flag)
        if value is not None and flag in valid_flags:
            minute = offset.seconds // step * width
            pairs = buckets.get(minute)
            if pairs is None:
                buckets[minute] = [(value, zs)]
            else:
                pairs.append((value, zs))
    _add_counts(flags, Counter(seen))
    offsets = tuple(sorted(buckets))
    values: list[Decimal] = []
    zs_values: list[Decimal] = []
    for m in offsets:
        pairs = buckets[m]
        if len(pairs) == 1:  # the usual minute record: as below (see Normalising a minute)
            v, z = pairs[0]
            values.append(_ZERO_D + v)
            if z is not None:
                zs_values.append(_ZERO_D + z)
        else:
            values.append(sum((v for v, _ in pairs), Decimal(0)) / len(pairs))
            z_mean = _mean(z for _, z in pairs if z is not None)
            if z_mean is not None:
                zs_values.append(z_mean)
    return _Minutes(offsets, values, zs_values)


_ZERO, _HOUR, _ZERO_D, _21 = timedelta(0), timedelta(hours=1), Decimal(0), Decimal(21)
# Normalising a minute: one valid sample's minute is its value v normalised as the mean of one
# value is, (0 + v) / 1, which is 0 + v to the last digit (the division by 1 of a result of this
# context is exact, and its ideal exponent is the dividend's; zeros keep their sign, NaN and
# infinities stay what they are): so the division, nearly as costly as the rest of the minute,
# is left out. Tested on many values in tests/alerts/test_rules.py.


def _one_per_minute(
    samples: SampleColumns,
    hour_start: datetime,
    valid_flags: frozenset[str],
    flags: dict[str, int],
) -> _Minutes | None:
    """:func:`_minutes` of one-minute buckets for the usual minute record - every sample on a
    whole minute of the hour, one per minute, in time order - with the same arithmetic, without
    its per-sample steps; None for any other series (then the general path takes it)."""
    # Every step at C speed, on whole microseconds: the samples' offsets in the hour, whole
    # minutes, one per minute in time order. A whole hour of them is every minute's time.
    start, micros = epoch_micros(hour_start), samples.micros
    offsets: tuple[int, ...]
    whole = range(start, start + HOUR_US, MINUTE_US)
    if isinstance(micros, range):  # (the evaluator reads a series of every minute so)
        every_minute = micros == whole  # compared at once
    else:
        every_minute = len(micros) == _MINUTES and micros == list(whole)
    if every_minute:
        offsets = _EVERY_MINUTE
    else:
        in_hour = list(map(sub, micros, repeat(start)))
        if in_hour and (in_hour[0] < 0 or in_hour[-1] >= HOUR_US):
            return None  # (the offsets increase, or the last check says no)
        if any(map(mod, in_hour, repeat(MINUTE_US))):
            return None
        offsets = tuple(map(floordiv, in_hour, repeat(MINUTE_US)))
        if not all(map(lt, offsets, islice(offsets, 1, None))):
            return None
    counted = samples.flag_counts()
    _add_counts(flags, counted)
    # One sample per minute: its value alone, normalised as a mean of one (Normalising a minute).
    exact = samples.value_exact
    if exact is not None and _sums_exactly(getcontext()):
        # every value a pair, which 0 + v leaves as it is (Summing pairs)
        zs_exact, zs = samples.zs_exact, samples.zs_value
        if valid_flags.issuperset(counted):  # all valid
            pairs = _Decimals(functools.partial(getattr, samples, "value"), len(offsets))
            if zs_exact is not None:
                zs_pairs = _Decimals(functools.partial(getattr, samples, "zs_value"), len(offsets))
                return _Minutes(offsets, pairs, zs_pairs, exact, zs_exact)
            if _no_zs(zs):
                return _Minutes(offsets, pairs, [], exact)
            return _Minutes(offsets, pairs, [_ZERO_D + z for z in zs if z is not None], exact)
        # some minutes invalid: the valid ones, also as pairs, so that their mean sums the
        # integers; their Decimals made only if asked for (the 折算 of pairs needs none:
        # _converted_pairs)
        keep, kept = samples.valid_pairs(valid_flags)
        assert keep is not None  # (some are invalid)
        grid = (offsets, keep, exact)
        kept_values = _Decimals(kept.decimals, len(kept.mantissas))
        if zs_exact is not None:
            zs_kept = zs_exact.kept(keep)
            zs_pairs = _Decimals(zs_kept.decimals, len(zs_kept.mantissas))
            return _Minutes(
                tuple(compress(offsets, keep)), kept_values, zs_pairs, kept, zs_kept, grid
            )
        return _Minutes(
            tuple(compress(offsets, keep)),
            kept_values,
            [] if _no_zs(zs) else [_ZERO_D + z for z in compress(zs, keep) if z is not None],
            kept,
            None,
            grid,
        )
    values, zs = samples.value, samples.zs_value
    # (Identity tests: comparing a Decimal with None is slow.)
    if valid_flags.issuperset(counted) and not any(map(is_, values, repeat(None))):
        normalised = list(map(add, repeat(_ZERO_D), values))  # all valid
        if _no_zs(zs):
            return _Minutes(offsets, normalised, [])
        return _Minutes(offsets, normalised, [_ZERO_D + z for z in zs if z is not None])
    rows = [
        (m, v, z)
        for m, v, z, f in zip(offsets, values, zs, samples.flag, strict=True)
        if v is not None and f in valid_flags
    ]
    return _Minutes(
        tuple(m for m, _, _ in rows),
        [_ZERO_D + v for _, v, _ in rows],
        [_ZERO_D + z for _, _, z in rows if z is not None],
    )


def _add_counts(flags: dict[str, int], counted: Mapping[str | None, int]) -> None:
    """Add the samples per flag ``counted`` to ``flags`` (a sample without one as NO_FLAG)."""
    for flag, n in counted.items():
        key = flag or NO_FLAG
        flags[key] = flags.get(key, 0) + n


def _no_zs(zs: Sequence[Decimal | None]) -> bool:
    """Whether none of these Zs values is given (the usual series: every one None), counted at
    C speed (None is found by identity first: comparing a Decimal with it is slow)."""
    return not zs or (zs[0] is None and zs.count(None) == len(zs))


class _Decimals(Sequence[Decimal]):
    """A column of pairs' Decimals, made by ``make`` when first read (their mean, and the
    折算 of pairs, need none: Summing pairs, _converted_pairs); ``n`` of them."""

    __slots__ = ("_made", "_make", "_n")

    def __init__(self, make: Callable[[], Sequence[Decimal | None]], n: int) -> None:
        self._make, self._n = make, n
        self._made: Sequence[Decimal] | None = None

    def _decimals(self) -> Sequence[Decimal]:
        if self._made is None:
            self._made = cast("Sequence[Decimal]", self._make())
        return self._made

    def __len__(self) -> int:
        return self._n

    def __iter__(self) -> Iterator[Decimal]:
        return iter(self._decimals())

    @overload
    def __getitem__(self, i: int) -> Decimal: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Decimal]: ...
    def __getitem__(self, i: int | slice) -> Decimal | Sequence[Decimal]:
        return self._decimals()[i]


def _counted(flags: Sequence[str | None]) -> Mapping[str | None, int]:
    """The samples per flag, in the order first seen: usually one flag for all, or two (an
    hour with a fault or a calibration among its minutes), or a few (HJ 212's are few), each
    counted at C speed."""
    n = len(flags)
    if not n:
        return {}
    first = flags[0]
    ones = flags.count(first)
    if ones == n:
        return {first: n}
    # the second flag seen: the first sample not of the first flag
    second = next(compress(flags, map(ne, flags, repeat(first))))
    twos = flags.count(second)
    if ones + twos == n:
        return {first: ones, second: twos}
    seen = dict.fromkeys(flags)
    if len(seen) > _FEW_FLAGS:
        return Counter(flags)
    return {flag: flags.count(flag) for flag in seen}


_FEW_FLAGS = 8  # more different flags in one series are counted in one pass (Counter)


def _valid_mask(
    flags: Sequence[str | None], counts: Mapping[str | None, int], valid_flags: frozenset[str]
) -> list[bool]:
    """Whether each sample's flag is in ``valid_flags``, of flags counted in ``counts``
    (:func:`_counted`): where few samples are invalid (an hour's fault or calibration minute),
    those are found by their flags (``index``, at C speed), not every flag looked up."""
    invalid = [(flag, n) for flag, n in counts.items() if flag not in valid_flags]
    if sum(n for _, n in invalid) > _FEW_INVALID:
        return list(map(valid_flags.__contains__, flags))
    keep = [True] * len(flags)
    for flag, n in invalid:
        at = -1
        for _ in range(n):
            at = flags.index(flag, at + 1)
            keep[at] = False
    return keep


_FEW_INVALID = 6  # more invalid samples in one series are found by looking every flag up


# (id of a samples list, width) → the list, its minutes and its samples per flag
MinuteMemo = dict[tuple[int, int], tuple[Sequence[Sample], _Minutes, dict[str, int]]]


def _bucketed(
    samples: Sequence[Sample],
    hour_start: datetime,
    width: int,
    valid_flags: frozenset[str],
    memo: MinuteMemo | None,
) -> tuple[_Minutes, dict[str, int]]:
    """:func:`_minutes` and the samples per flag it counted, remembered in ``memo`` (when
    given) for the same list and width: the count is then shared, and only read."""
    if memo is None:
        counted: dict[str, int] = {}
        return _minutes(samples, hour_start, width, valid_flags, counted), counted
    key = (id(samples), width)
    hit = memo.get(key)
    if hit is None or hit[0] is not samples:
        counted = {}
        hit = samples, _minutes(samples, hour_start, width, valid_flags, counted), counted
        memo[key] = hit
    return hit[1], hit[2]


def _o2_of(minutes: _Minutes, o2: _Minutes) -> tuple[Sequence[Decimal | None], Sequence[Decimal]]:
    """Per valid minute (in the order of ``minutes``) its valid O₂ or None, and the O₂ of
    those that have one, in that order. Usually every minute has one: the O₂ series itself
    (``o2`` is ``minutes``, as the memo gives it), or the same minutes."""
    if o2 is minutes:
        return minutes.values, minutes.values
    if o2.offsets is minutes.offsets or o2.offsets == minutes.offsets:
        return o2.values, o2.values
    by_minute = dict(zip(o2.offsets, o2.values, strict=True))
    o2_of = [by_minute.get(m) for m in minutes.offsets]
    return o2_of, [v for v in o2_of if v is not None]


def _converted_pairs(
    minutes: _Minutes, o2: _Minutes, o2_ref: Decimal, o2_max: Decimal
) -> tuple[list[Decimal], Exact] | None:
    """:func:`_converted` of the valid minutes that have a valid O₂, and those O₂ values (as
    :class:`Exact`, in the minutes' order), when both series are pairs of one scale each and
    the context adds pairs exactly (:func:`_sums_exactly`); None otherwise (then
    :func:`_o2_of` and :func:`_converted` take them). The same Decimals, made from the
    integers (Converting pairs), with no Decimal of a value or of an O₂ made."""
    exact, o2_exact = minutes.exact, o2.exact
    if exact is None or o2_exact is None or o2 is minutes:
        return None
    s, t = exact.scale, o2_exact.scale
    if not isinstance(s, int) or not isinstance(t, int) or not _sums_exactly(getcontext()):
        return None
    scale = 21 - o2_ref
    below = o2_max if o2_max.is_nan() or o2_max < _21 else _21
    if not below.is_finite() or not scale.is_finite():
        return None  # (as _converted: a NaN o2_max raises there, once there is an O₂)
    mantissas, o2s = exact.mantissas, o2_exact.mantissas
    if minutes.offsets is not o2.offsets and minutes.offsets != o2.offsets:
        mantissas, o2s = _with_o2(minutes, o2)
    # O₂ < below, on the integers: o × 10⁻ᵗ < below ⇔ o < ⌈below × 10ᵗ⌉ (o an integer)
    top = below.scaleb(t, _WHOLE)
    if top <= _LEAST_PAIR:
        ceiling = -_PAIR_BOUND  # (no pair's mantissa is below)
    else:
        ceiling = int(top.to_integral_value(ROUND_CEILING, _WHOLE))
    converting, o2_converting = mantissas, o2s
    if o2s and max(o2s) >= ceiling:  # (some O₂ at or above o2_max: those minutes stay out)
        below_max = list(map(lt, o2s, repeat(ceiling)))
        converting = list(compress(mantissas, below_max))
        o2_converting = list(compress(o2s, below_max))
    try:
        divisors = list(map(_DIVISORS[t].__getitem__, o2_converting))
    except KeyError:  # an O₂ not seen lately
        divisors = _divisors(o2_converting, t)
    by = scale.scaleb(-s, _WHOLE)  # C × scale = Decimal(c) × (scale × 10⁻ˢ): Converting pairs
    # by × c: the int made a Decimal exactly by the multiplication itself (Converting pairs, 3)
    done = list(map(truediv, map(mul, repeat(by), converting), divisors))
    return done, Exact(o2s, t)


def _with_o2(minutes: _Minutes, o2: _Minutes) -> tuple[Sequence[int], Sequence[int]]:
    """The mantissas of the valid minutes of pairs (of one scale) that have a valid O₂ (pairs
    of one scale), and those O₂ mantissas: the minutes valid in both series, in order."""
    offsets, keep, exact = _grid(minutes)
    o2_offsets, o2_keep, o2_exact = _grid(o2)
    if offsets is o2_offsets or offsets == o2_offsets:
        # the same minutes, some invalid in either: those valid in both
        both = (
            o2_keep if keep is None else keep if o2_keep is None else list(map(and_, keep, o2_keep))
        )
        assert both is not None  # (the valid offsets differ)
        return list(compress(exact.mantissas, both)), list(compress(o2_exact.mantissas, both))
    # both offsets increase, each minute once
    by_minute = dict(zip(o2.offsets, cast("Exact", o2.exact).mantissas, strict=True))
    of = list(map(by_minute.get, minutes.offsets))
    has = list(map(is_not, of, repeat(None)))
    mantissas = cast("Exact", minutes.exact).mantissas
    return list(compress(mantissas, has)), list(compress(cast("list[int]", of), has))


def _grid(minutes: _Minutes) -> tuple[tuple[int, ...], Sequence[bool] | None, Exact]:
    """Of minutes of pairs: the offsets of the samples they were kept from, which of those
    are valid (None: all) and all of their pairs."""
    if minutes.grid is not None:
        return minutes.grid
    return minutes.offsets, None, cast("Exact", minutes.exact)


_PAIR_BOUND = 10**18  # |m| of a pair is below it
_LEAST_PAIR = Decimal(-_PAIR_BOUND)
# Converting pairs: in a context that adds pairs exactly (_sums_exactly: 28 digits or more,
# exponents to ±99), with C = c × 10⁻ˢ and O₂ = o × 10⁻ᵗ pairs (|c|, |o| < 10¹⁸, s, t ≤ 18),
# _converted's C × (21 − O₂ref) / (21 − O₂) is computed on the same operands without making the
# Decimals of C and O₂: (1) O₂ < below (o2_max or 21, finite) is o < ⌈below × 10ᵗ⌉, as o is an
# integer (an exact comparison either way); (2) 21 − O₂ for such an O₂ is exact (at most 20
# digits), positive, of exponent min(0, −t) = −t and coefficient 21 × 10ᵗ − o: the Decimal
# made of that integer times 10⁻ᵗ, exactly; (3) C × (21 − O₂ref) has the exact value, the
# exponent (−s + e) and the sign (c's, +0 for 0, times the scale's) of Decimal(c) × S with
# S = (21 − O₂ref) × 10⁻ˢ (exact: only the exponent moves), so the context rounds both alike,
# signals alike, and gives the same Decimal; S × c is that product (a Decimal times an int
# makes the int's Decimal exactly, as Decimal(c) does, and the product's value, exponent and
# sign do not depend on the operands' order), without a call per minute to make Decimal(c);
# (4) the division then has the same operands. The O₂ of the minutes (for the hour's O₂ mean)
# are kept as pairs too: their mean sums the integers (Summing pairs). Tested against
# _converted on many values in tests/alerts/test_rules_converting_pairs.py.


# Per scale t, O₂ mantissa o → 21 − o × 10⁻ᵗ (Converting pairs), for the O₂ values seen lately: an
# analyser's readings (0–21 % in steps of 0.01 or 0.1) take few different values.
_DIVISORS: list[dict[int, Decimal]] = [{} for _ in range(19)]
_DIVISORS_KEPT = 4096  # per scale; more, and the scale's are forgotten


def _divisors(o2s: Sequence[int], t: int) -> list[Decimal]:
    """21 − O₂ for each of these O₂ mantissas of scale t, exactly (Converting pairs), each
    remembered in _DIVISORS."""
    known = _DIVISORS[t]
    if len(known) > _DIVISORS_KEPT:
        known.clear()
    whole, unit = 21 * _TENS[t], _UNITS[t]
    for o in o2s:
        if o not in known:
            known[o] = _WHOLE.multiply(Decimal(whole - o), unit)
    return list(map(known.__getitem__, o2s))


def _exact_of(values: Sequence[Decimal], minutes: _Minutes) -> Exact | None:
    """``minutes.exact`` when ``values`` are those minutes' values, else None."""
    return minutes.exact if values is minutes.values else None


def _flag_summary(flags: Mapping[str, int]) -> str:
    return ", ".join(f"{flag} {n}" for flag, n in sorted(flags.items()))


def hourly_mean(
    pollutant_samples: Sequence[Sample],
    o2_samples: Sequence[Sample],
    *,
    hour_start: datetime,
    source: Literal["min", "rtd"],
    o2_ref: Decimal | None,
    rules: ValidityRules,
    valid_flags: frozenset[str] = DEFAULT_VALID_FLAGS,
    interval_minutes: int = 1,
    flow_samples: Sequence[Sample] | None = None,
    memo: MinuteMemo | None = None,
) -> MeanResult:
    """The hourly mean of one pollutant from minute (``"min"``) or real-time (``"rtd"``) data.

    ``o2_samples`` are the O₂ (a19001) samples of the same source, and ``o2_ref`` the limit's
    reference O₂ (None for water: no conversion). ``interval_minutes`` is the logger's minute
    data interval (HJ 212 MinInterval: 1–30); real-time data always use 1-minute buckets.
    ``flow_samples`` (wastewater: the w00000 samples of the same source) weight the mean by
    volume. ``memo``: a dict the caller keeps for the calls of one hour (same ``hour_start``
    and ``valid_flags``), so that a series given again (O₂ for every pollutant, the flow) is
    put into minutes once."""
    width = interval_minutes if source == "min" else 1
    expected = rules.expected_minutes_per_hour
    if width < 1 or expected % width:
        raise ValueError(f"interval_minutes must divide {expected}, got {interval_minutes}")
    minutes, flags = _bucketed(pollutant_samples, hour_start, width, valid_flags, memo)
    o2, _ = _bucketed(o2_samples, hour_start, width, valid_flags, memo)
    required = rules.hour_min_valid_minutes
    values = minutes.values
    valid_count = min(len(values) * width, expected)
    valid = valid_count >= required
    converted, note, o2_max, pairs = None, None, None, None
    if o2_ref is not None:
        o2_max = rules.o2_max_for_conversion
        if o2_max is None:
            raise ValueError(f"{rules.medium} rules have no o2_max_for_conversion")
        pairs = _converted_pairs(minutes, o2, o2_ref, o2_max)
    done: list[Decimal] = []
    o2_values: Sequence[Decimal]
    o2_exact: Exact | None
    if pairs is not None:
        done, o2_exact = pairs
        o2_values = _Decimals(o2_exact.decimals, len(o2_exact.mantissas))
    else:
        o2_of, o2_values = _o2_of(minutes, o2)
        o2_exact = _exact_of(o2_values, o2)
        if o2_ref is not None and o2_max is not None:
            done = _converted(zip(values, o2_of, strict=True), o2_ref, o2_max)
    if o2_ref is not None:
        if len(done) * width >= required or not valid:
            converted = _mean(done)
        else:
            note = (
                f"no converted value: {len(done) * width} valid minutes with a valid O₂"
                f" below {o2_max} % (≥{required} required)"
            )
    if not valid:
        where = " from real-time data" if source == "rtd" else ""
        note = f"{valid_count} valid minutes of {expected}{where} (≥{required} required)"
        if flags:
            note += f"; samples by flag: {_flag_summary(flags)}"
    mean = _mean_of(values, minutes.exact)
    if flow_samples is not None and values:
        flows, _ = _bucketed(flow_samples, hour_start, width, valid_flags, memo)
        weighted, why = _weighted(
            dict(zip(minutes.offsets, values, strict=True)),
            dict(zip(flows.offsets, flows.values, strict=True)),
            "minutes",
        )
        mean = weighted if weighted is not None else mean
        note = note or why
    return MeanResult(
        hour_start=hour_start,
        source=source,
        mean=mean,
        zs_reported=_mean_of(minutes.zs, minutes.zs_exact),
        converted=converted,
        o2_mean=mean if o2_values is values else _mean_of(o2_values, o2_exact),
        valid_count=valid_count,
        expected_count=expected,
        valid=valid,
        reason=note,
        flags=dict(sorted(flags.items())),
    )


def daily_mean(
    hours: Sequence[MeanResult],
    *,
    day: date,
    rules: ValidityRules,
    flow_hours: Sequence[MeanResult] | None = None,
) -> DayResult:
    """The daily mean from the hourly means of one local calendar day.

    Mean of the valid hourly means; with ``flow_hours`` (wastewater: the day's hourly means of
    w00000) weighted by each hour's mean flow, i.e. its volume (HJ 212-2017 Appendix D). In a
    valid day the converted mean needs as many converted hours as the day needs valid hours."""
    starts = [h.hour_start for h in hours]
    if len(set(starts)) != len(starts):
        raise ValueError(f"{day}: the same hour is given twice")
    good = [h for h in hours if h.valid and h.mean is not None]
    required, expected = rules.day_min_valid_hours, rules.expected_hours_per_day
    valid = len(good) >= required
    done = [h.converted for h in good if h.converted is not None]
    converted = _mean(done) if len(done) >= required or not valid else None
    reason = None
    if not valid:
        reason = f"{len(good)} valid hours of {expected} (≥{required} required)"
    elif done and converted is None:
        reason = f"no converted value: {len(done)} valid hours converted (≥{required} required)"
    means = {h.hour_start: h.mean for h in good if h.mean is not None}
    mean = _mean(means.values())
    if flow_hours is not None and means:
        flows = {h.hour_start: h.mean for h in flow_hours if h.valid and h.mean is not None}
        weighted, why = _weighted(means, flows, "hours")
        mean = weighted if weighted is not None else mean
        reason = reason or why
    return DayResult(
        day=day,
        source="hour",
        mean=mean,
        zs_reported=_mean(h.zs_reported for h in good if h.zs_reported is not None),
        converted=converted,
        o2_mean=_mean(h.o2_mean for h in good if h.o2_mean is not None),
        valid_count=len(good),
        expected_count=expected,
        valid=valid,
        reason=reason,
    )


def zs_mismatch(
    reported: Decimal | None, recomputed: Decimal | None, tolerance_pct: Decimal
) -> bool:
    """True when the logger's Zs value differs from ours by more than ``tolerance_pct`` % of
    ours (ECO-Audit R068 screening indicator); False when either is missing."""
    if reported is None or recomputed is None:
        return False
    return abs(reported - recomputed) > abs(recomputed) * tolerance_pct / 100
