"""Database rows → response models, for the pieces several resources share."""

from __future__ import annotations

from typing import Any

from api.db import Row
from api.responses import (
    EnterpriseRef,
    EnterpriseSummary,
    FlagRef,
    LimitRef,
    Location,
    Names,
    NotJudged,
    OpenCases,
    Outlet,
    OutletRef,
    OutletStatus,
    PollutantRef,
    StaffOutletRef,
    optional_instant,
)
from schemas.limits.coverage import gaps
from schemas.limits.rules import Limit

__all__ = [
    "enterprise",
    "enterprise_ref",
    "flag_ref",
    "limit_ref",
    "location",
    "names",
    "not_judged",
    "number",
    "open_cases",
    "outlet",
    "outlet_ref",
    "pollutant_ref",
    "staff_outlet_ref",
]


def number(value: Any) -> float | None:
    """A numeric column (Decimal) as a JSON number."""
    return None if value is None else float(value)


def names(row: Row, prefix: str = "name_") -> Names:
    return Names(zh=row.get(f"{prefix}zh"), en=row.get(f"{prefix}en"))


def location(row: Row) -> Location | None:
    if row.get("longitude") is None or row.get("latitude") is None:
        return None
    return Location(longitude=row["longitude"], latitude=row["latitude"])


def pollutant_ref(row: Row, code_column: str = "pollutant", prefix: str = "p_") -> PollutantRef:
    return PollutantRef(
        code=row[code_column],
        name=names(row, f"{prefix}name_"),
        unit=names(row, f"{prefix}unit_"),
    )


def flag_ref(row: Row) -> FlagRef | None:
    if row.get("flag") is None:
        return None
    known = row.get("flag_name_zh") is not None or row.get("flag_name_en") is not None
    return FlagRef(code=row["flag"], name=names(row, "flag_name_") if known else None)


def limit_ref(limit: Limit) -> LimitRef:
    return LimitRef(
        id=limit.id,
        source=limit.source,
        standard=limit.standard,
        category=limit.category,
        value=float(limit.value),
        value_min=number(limit.value_min),
        unit=limit.unit,
        period=limit.period,
        reference_o2=number(limit.reference_o2),
        source_document=limit.source_document,
        clause=limit.clause,
        confirmed=limit.confirmed,
        version=limit.version,
    )


def enterprise(row: Row) -> EnterpriseSummary:
    return EnterpriseSummary(
        id=row["id"],
        uscc=row["uscc"],
        name=names(row),
        address=row["address"],
        district=row["district"],
        industry=row["industry"],
        control_level=row["control_level"],
        location=location(row),
        distance_m=None if row.get("distance_m") is None else round(row["distance_m"], 1),
    )


def outlet(row: Row) -> Outlet:
    """An outlet row of :mod:`api.queries.outlets` (with its status columns)."""
    reasons = not_judged(row)
    return Outlet(
        id=row["id"],
        enterprise_id=row["enterprise_id"],
        code=row["code"],
        name=names(row),
        kind=row["kind"],
        emission_standard=row["emission_standard"],
        permit_number=row["permit_number"],
        location=location(row),
        active=row["active"],
        status=OutletStatus(
            last_data=optional_instant(row["last_data_at"]),
            last_frame=optional_instant(row["last_frame_at"]),
            open_cases=open_cases([row]),
        ),
        judged=not reasons,
        not_judged=reasons,
    )


def not_judged(row: Row) -> list[NotJudged]:
    """Why the outlet of a :mod:`api.queries.outlets` row is not judged (empty: it is)."""
    return [
        NotJudged.model_validate(
            {"code": g.code, "pollutant": g.pollutant, "reason": {"zh": g.zh, "en": g.en}}
        )
        for g in gaps(row["has_limits"], row["unlimited"], row["judged_on"])
    ]


def open_cases(rows: list[Row]) -> OpenCases:
    """Open cases by public kind, summed over outlet rows."""
    return OpenCases(
        exceedance=sum(r["exceedance"] for r in rows), outage=sum(r["outage"] for r in rows)
    )


def enterprise_ref(row: Row) -> EnterpriseRef:
    """From ``enterprise_id``, ``enterprise_name_zh|en`` and ``district``."""
    return EnterpriseRef(
        id=row["enterprise_id"], name=names(row, "enterprise_name_"), district=row["district"]
    )


def outlet_ref(row: Row) -> OutletRef:
    """From ``outlet_id``, ``outlet_code`` and ``outlet_name_zh|en``."""
    return OutletRef(id=row["outlet_id"], name=names(row, "outlet_name_"), code=row["outlet_code"])


def staff_outlet_ref(row: Row) -> StaffOutletRef:
    """:func:`outlet_ref` and ``outlet_mn``."""
    return StaffOutletRef(**outlet_ref(row).model_dump(), mn=row["outlet_mn"])
