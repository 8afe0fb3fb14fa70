"""What a case is about and how serious it is: the closed vocabularies the evaluator, the
notifications, the API and the staff console share (``cases.kind``, ``cases.severity``)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["CASE_KINDS", "SEVERITIES", "CaseKind", "Severity", "higher_severity"]

CaseKind = Literal["exceedance", "outage", "fault", "pattern"]
Severity = Literal["info", "warning", "major", "critical"]

CASE_KINDS: tuple[CaseKind, ...] = get_args(CaseKind)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # lowest first


def higher_severity(a: str, b: str) -> str:
    """The more serious of two severities."""
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b
