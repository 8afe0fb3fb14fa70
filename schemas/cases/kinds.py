"""What a case is about and how serious it is: the closed vocabularies the evaluator, the
notifications, the API and the staff console share (``cases.kind``, ``cases.severity``)."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "CASE_KINDS",
    "KIND_LABELS",
    "SEVERITIES",
    "SEVERITY_LABELS",
    "CaseKind",
    "Severity",
    "higher_severity",
]

CaseKind = Literal["exceedance", "outage", "fault", "pattern"]
Severity = Literal["info", "warning", "major", "critical"]

CASE_KINDS: tuple[CaseKind, ...] = get_args(CaseKind)
SEVERITIES: tuple[Severity, ...] = get_args(Severity)  # lowest first

# (zh, en) names, the one home of them for notifications and the staff console.
KIND_LABELS: dict[str, tuple[str, str]] = {
    "exceedance": ("超标", "Exceedance"),
    "outage": ("数据中断", "Outage"),
    "fault": ("仪器故障", "Instrument fault"),
    "pattern": ("异常数据特征", "Suspicious pattern"),
}
SEVERITY_LABELS: dict[str, tuple[str, str]] = {
    "info": ("提示", "Info"),
    "warning": ("警告", "Warning"),
    "major": ("严重", "Major"),
    "critical": ("紧急", "Critical"),
}


def higher_severity(a: str, b: str) -> str:
    """The more serious of two severities."""
    return a if SEVERITIES.index(a) >= SEVERITIES.index(b) else b
