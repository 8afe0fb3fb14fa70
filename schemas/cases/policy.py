"""How serious an exceedance case is: the thresholds of :class:`CasePolicy` (from the alerts
settings, ``SOURCEWATCH_CASE_*``) applied to how many periods exceeded and by how much."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from schemas.cases.kinds import Severity

__all__ = ["CasePolicy", "severity_for"]


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """When exceedance cases close and escalate (the ``case_*`` settings): ``close_after``
    consecutive compliant means close a case; a case is major (critical) from ``major_multiple``
    (``critical_multiple``) or ``major_periods`` (``critical_periods``) exceeding periods on."""

    close_after: int
    major_multiple: Decimal
    critical_multiple: Decimal
    major_periods: int
    critical_periods: int


def severity_for(
    exceeding_periods: int, max_multiple: Decimal | None, policy: CasePolicy
) -> Severity:
    """The severity of an exceedance case. ``max_multiple`` is None when no exceeding period has
    a multiple (a range limit such as pH 6–9, a zero limit): the count of periods decides."""
    multiple = Decimal("-Infinity") if max_multiple is None else max_multiple
    if multiple >= policy.critical_multiple or exceeding_periods >= policy.critical_periods:
        return "critical"
    if multiple >= policy.major_multiple or exceeding_periods >= policy.major_periods:
        return "major"
    return "warning"
