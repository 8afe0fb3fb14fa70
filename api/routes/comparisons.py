"""``GET /v1/outlets/{outlet_id}/comparisons``: supervisory monitoring beside online data.

The authority's supervisory (on-site, manual) results published as disclosure records of type
``supervisory_monitoring``, each next to the outlet's online daily mean of the same pollutant
and day, with the relative difference. When the two disagree, on-site data taken by legal
methods are the preferred evidence (MEP reply to Tianjin, 2016-05-13;
docs/regulations.md#supervisory-monitoring).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from api.db import Database, Row, get_database
from api.errors import ERROR_RESPONSES, NOT_FOUND_RESPONSE
from api.params import reject_nul
from api.queries import disclosures as queries
from api.render import json_response
from api.responses import Names
from api.routes.outlets import OutletId, find_outlet

__all__ = ["router"]

router = APIRouter(
    tags=["disclosures"], responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul)]
)

PREFERENCE = Names(
    zh="同时段现场监督性监测数据与自动监测数据不一致时，以符合法定监测方法的现场监测数据为准",
    en="When same-period on-site supervisory data and online data disagree, on-site data taken "
    "by legal methods are the preferred evidence",
)


class Online(BaseModel):
    mean: float | None = Field(description="Daily mean of the measured concentration.")
    converted: float | None = Field(description="Daily mean converted to the reference O₂.")
    valid: bool
    valid_hours: int
    expected_hours: int
    reason: str | None = Field(description="Why the daily mean is not valid.")


class Comparison(BaseModel):
    record_id: int = Field(description="The supervisory-monitoring disclosure record.")
    title: Names
    monitored_on: dt.date
    pollutant: str
    pollutant_name: str
    unit: str
    supervisory_value: float | None
    limit_value: float
    evaluation: str | None
    online: Online | None = Field(description="Null when there is no online daily mean that day.")
    relative_difference: float | None = Field(
        description="(online − supervisory) / supervisory, using the converted online mean when "
        "there is one; null when either value is missing or the mean is not valid."
    )


class Comparisons(BaseModel):
    outlet_id: int
    preference: Names = Field(description="The rule when the two disagree, and its source.")
    results: list[Comparison]


def _number(value: Any) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def _comparison(row: Row) -> Comparison:
    c = row["content"]
    online = None
    if row["online_valid"] is not None:
        online = Online(
            mean=_number(row["online_mean"]),
            converted=_number(row["online_converted"]),
            valid=row["online_valid"],
            valid_hours=row["online_valid_hours"],
            expected_hours=row["online_expected_hours"],
            reason=row["online_reason"],
        )
    supervisory = _number(c.get("value"))
    difference = None
    if online is not None and online.valid and supervisory:
        measured = online.converted if online.converted is not None else online.mean
        if measured is not None:
            difference = round((measured - supervisory) / supervisory, 4)
    return Comparison(
        record_id=row["id"],
        title=Names(zh=row["title_zh"], en=row["title_en"]),
        monitored_on=dt.date.fromisoformat(c["monitored_on"]),
        pollutant=c["pollutant"],
        pollutant_name=c["pollutant_name"],
        unit=c["unit"],
        supervisory_value=supervisory,
        limit_value=float(Decimal(str(c["limit_value"]))),
        evaluation=c.get("evaluation"),
        online=online,
        relative_difference=difference,
    )


@router.get(
    "/v1/outlets/{outlet_id}/comparisons",
    response_model=Comparisons,
    responses=NOT_FOUND_RESPONSE,
    summary="Supervisory monitoring results beside the online daily means",
)
def list_comparisons(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    outlet_id: OutletId,
) -> Response:
    """Newest first: each published supervisory result and the online daily mean that day."""
    find_outlet(db, outlet_id)
    rows = db.fetch_all(queries.comparisons(outlet_id))
    body = Comparisons(
        outlet_id=outlet_id, preference=PREFERENCE, results=[_comparison(r) for r in rows]
    )
    return json_response(request, body)
