"""Judging one value against one limit: does it exceed, which bound it crossed, and by how much
(docs/regulations.md#exceedance).

The one rule behind every verdict the service gives: the evaluator's cases, the API's series
points, the published daily summaries and exceedance notices, and the supervisory monitoring
records staff enter. Pure arithmetic on decimals; rounding is the caller's (display) business.

* **Upper limit** ``value`` (SO₂ 100 mg/m³): a value above it exceeds, a value equal to it does
  not. The exceedance multiple (超标倍数) is (value − limit) / limit: 150 against 100 → 0.5.
* **Range** ``value_min``–``value`` (pH 6–9): a value below the lower or above the upper bound
  exceeds; both bounds comply. A range has **no multiple**: pH is a logarithmic, dimensionless
  index, and Chinese assessment practice computes no 超标倍数 for it (环办〔2011〕22号). The
  judgement says which bound was crossed instead; a case without multiples is graded by how
  many periods exceeded (:func:`schemas.cases.policy.severity_for`).
* **Zero limit** (不得检出, "not detectable"; or a non-positive value in a table): any value
  above it exceeds, and there is no multiple, since a ratio to zero is not defined.
* A compliant value has no multiple.

What is judged of a mean (:func:`value_to_judge`): the concentration converted to the limit's
reference O₂ where the limit has one (flue gas), else the measured mean (water).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, Protocol

from schemas.limits.rules import Limit

__all__ = ["Bound", "Bounds", "Judgement", "LimitBounds", "judge", "value_to_judge"]

Bound = Literal["upper", "lower"]


class Bounds(Protocol):
    """What judging needs of a limit; :class:`schemas.limits.rules.Limit` is one."""

    @property
    def value(self) -> Decimal:
        """The upper bound."""
        ...

    @property
    def value_min(self) -> Decimal | None:
        """The lower bound of a range (pH 6–9); None for an upper limit."""
        ...


@dataclass(frozen=True, slots=True)
class LimitBounds:
    """Bounds given as numbers, where there is no :class:`~schemas.limits.rules.Limit` row
    (a supervisory monitoring record states its limit)."""

    value: Decimal
    value_min: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict on ``value``: ``bound`` is the bound it crossed (None when it complies);
    ``multiple`` is (value − limit) / limit above a positive upper limit, else None."""

    value: Decimal
    exceeds: bool
    bound: Bound | None = None
    multiple: Decimal | None = None


def judge(value: Decimal, limit: Bounds) -> Judgement:
    """Judge ``value`` against ``limit`` by the rules in this module's docstring."""
    if limit.value_min is not None:
        if value < limit.value_min:
            return Judgement(value, exceeds=True, bound="lower")
        if value > limit.value:
            return Judgement(value, exceeds=True, bound="upper")
        return Judgement(value, exceeds=False)
    if value <= limit.value:
        return Judgement(value, exceeds=False)
    multiple = (value - limit.value) / limit.value if limit.value > 0 else None
    return Judgement(value, exceeds=True, bound="upper", multiple=multiple)


def value_to_judge(
    limit: Limit, measured: Decimal | None, converted: Decimal | None
) -> Decimal | None:
    """The value of a mean that ``limit`` judges: converted where the limit has a reference O₂,
    else measured. None (a valid mean that cannot be converted) is not judged."""
    return converted if limit.reference_o2 is not None else measured
