"""The notification of one case transition: the contract between the evaluator and delivery.

The evaluator appends a ``case_events`` row for every transition of a case (opened, escalated,
closed, reopened, unack-escalated), builds a :class:`Notification` from it and hands it to
:func:`alerts.notify.enqueue` in the same transaction. ``event_id`` is that row's id: the unit
of "one notification per case transition".

The outbox stores :meth:`Notification.to_json`; the dispatcher reads it back with
:meth:`Notification.from_json`, so the JSON is the wire format of webhooks and MQTT too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from alerts.notify.errors import InvalidNotification
from schemas.cases.kinds import CASE_KINDS, KIND_LABELS, SEVERITIES, SEVERITY_LABELS
from schemas.core.localtime import LOCAL_TZ

__all__ = [
    "ACTIONS",
    "Notification",
    "action_label",
    "kind_label",
    "severity_label",
]


# Ordered from least to most severe (cases.severity).
# The transitions the evaluator notifies about; other actions are shown as they are.
ACTIONS = ("opened", "escalated", "closed", "reopened", "unack-escalated")

_SEVERITY = SEVERITY_LABELS
_KIND = KIND_LABELS
_ACTION = {
    "opened": ("新立案", "opened"),
    "escalated": ("已升级", "escalated"),
    "closed": ("已解除", "closed"),
    "reopened": ("重新打开", "reopened"),
    "unack-escalated": ("未确认升级", "escalated, not acknowledged"),
}


def severity_label(code: str) -> tuple[str, str]:
    """(zh, en) label of a severity."""
    return _SEVERITY.get(code, (code, code))


def kind_label(code: str) -> tuple[str, str]:
    """(zh, en) label of a case kind."""
    return _KIND.get(code, (code, code))


def action_label(code: str) -> tuple[str, str]:
    """(zh, en) label of a transition."""
    return _ACTION.get(code, (code, code))


@dataclass(frozen=True, slots=True)
class Notification:
    event_id: int
    case_id: int
    kind: str
    action: str
    severity: str
    occurred_at: datetime
    enterprise_id: int
    enterprise_name_zh: str
    enterprise_name_en: str | None
    district: str | None
    outlet_id: int
    outlet_name_zh: str
    mn: str
    pollutant: str | None
    pollutant_name_zh: str | None
    pollutant_name_en: str | None
    title_zh: str
    title_en: str
    # mean, limit, unit, multiple, period, limit_source …; normalised to JSON values.
    details: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if self.occurred_at.tzinfo is None or self.occurred_at.utcoffset() is None:
            raise InvalidNotification("occurred_at must be timezone-aware")
        if self.kind not in CASE_KINDS:
            raise InvalidNotification(
                f"kind must be one of {', '.join(CASE_KINDS)}, got {self.kind!r}"
            )
        if self.severity not in SEVERITIES:
            raise InvalidNotification(
                f"severity must be one of {', '.join(SEVERITIES)}, got {self.severity!r}"
            )
        object.__setattr__(self, "details", _jsonable(dict(self.details)))

    @property
    def occurred_utc(self) -> datetime:
        return self.occurred_at.astimezone(UTC)

    @property
    def occurred_local(self) -> datetime:
        return self.occurred_at.astimezone(LOCAL_TZ)

    def to_json(self) -> dict[str, Any]:
        """The bilingual JSON document (webhook body, MQTT payload, outbox row)."""
        severity, kind, action = (
            severity_label(self.severity),
            kind_label(self.kind),
            action_label(self.action),
        )
        return {
            "type": "case_event",
            "event_id": self.event_id,
            "case_id": self.case_id,
            "kind": self.kind,
            "action": self.action,
            "severity": self.severity,
            "labels": {
                "zh": {"kind": kind[0], "action": action[0], "severity": severity[0]},
                "en": {"kind": kind[1], "action": action[1], "severity": severity[1]},
            },
            "occurred_at": {
                "utc": self.occurred_utc.isoformat().replace("+00:00", "Z"),
                "local": self.occurred_local.isoformat(),
                "timezone": str(LOCAL_TZ),
            },
            "enterprise": {
                "id": self.enterprise_id,
                "name_zh": self.enterprise_name_zh,
                "name_en": self.enterprise_name_en,
                "district": self.district,
            },
            "outlet": {"id": self.outlet_id, "name_zh": self.outlet_name_zh, "mn": self.mn},
            "pollutant": None
            if self.pollutant is None
            else {
                "code": self.pollutant,
                "name_zh": self.pollutant_name_zh,
                "name_en": self.pollutant_name_en,
            },
            "title": {"zh": self.title_zh, "en": self.title_en},
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Notification:
        """The inverse of :meth:`to_json`."""
        try:
            enterprise, outlet = doc["enterprise"], doc["outlet"]
            pollutant = doc.get("pollutant") or {}
            return cls(
                event_id=int(doc["event_id"]),
                case_id=int(doc["case_id"]),
                kind=doc["kind"],
                action=doc["action"],
                severity=doc["severity"],
                occurred_at=datetime.fromisoformat(doc["occurred_at"]["utc"]),
                enterprise_id=int(enterprise["id"]),
                enterprise_name_zh=enterprise["name_zh"],
                enterprise_name_en=enterprise.get("name_en"),
                district=enterprise.get("district"),
                outlet_id=int(outlet["id"]),
                outlet_name_zh=outlet["name_zh"],
                mn=outlet["mn"],
                pollutant=pollutant.get("code"),
                pollutant_name_zh=pollutant.get("name_zh"),
                pollutant_name_en=pollutant.get("name_en"),
                title_zh=doc["title"]["zh"],
                title_en=doc["title"]["en"],
                details=doc.get("details") or {},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidNotification(f"not a notification document: {exc!r}") from exc


_AS_IS = frozenset({str, int, bool, type(None)})  # exact types that are JSON values as they are


def _jsonable(value: Any) -> Any:
    """Decimals become numbers, datetimes ISO strings, tuples lists; the rest must be JSON.
    (A case's details are mostly strings: those, and plain dicts of them, are taken without
    the chain of isinstance checks.)"""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {k if type(k) is str else str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise InvalidNotification(f"details value {value!r} is not JSON-able")
