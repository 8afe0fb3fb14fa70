"""Response models of the public API (OpenAPI is generated from them).

Conventions (docs/architecture.md#api-conventions):

* names are bilingual ``{zh, en}``; units too;
* every time is ``{utc, local}``, local being Asia/Shanghai;
* means are **period-ending**: ``datetime`` is the end of ``period`` (the hour 02:00–03:00 is
  reported at 03:00), and ``period`` is given explicitly;
* every value carries its HJ 212 ``flag`` and whether it is ``valid``; every mean its
  ``coverage`` (valid vs expected minutes, hours or days);
* a point with a limit in force carries that ``limit`` (value, unit, averaging period, the
  source document and its version) and, for a valid mean, the ``exceedance`` judgement with
  the multiple (value − limit) / limit (:mod:`schemas.limits.judgement`);
* lists are ``{meta: {page, limit, found, next}, results: [...]}``; errors ``{error: {...}}``.
"""

from __future__ import annotations

import datetime as dt
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from schemas.core.localtime import LOCAL_TZ

__all__ = [
    "LOCAL_TZ",
    "Coverage",
    "DayPoint",
    "EnterpriseDetail",
    "EnterpriseRef",
    "EnterpriseSummary",
    "ErrorBody",
    "ErrorDetail",
    "Exceedance",
    "Flag",
    "FlagRef",
    "HourPoint",
    "Instant",
    "Latest",
    "LatestValue",
    "LimitRef",
    "Location",
    "Meta",
    "MonthPoint",
    "Names",
    "NotJudged",
    "OpenCases",
    "Outlet",
    "OutletDetail",
    "OutletRef",
    "OutletStatus",
    "Page",
    "Period",
    "Pollutant",
    "PollutantRef",
    "RawPoint",
    "Series",
    "SeriesMeta",
    "StaffOpenCases",
    "StaffOutletRef",
    "Status",
    "instant",
    "optional_instant",
]

T = TypeVar("T", bound=BaseModel)


# --- Building blocks ----------------------------------------------------------------------------


class Names(BaseModel):
    """A text in Chinese and English (either may be missing when the source gives none)."""

    zh: str | None
    en: str | None


class Instant(BaseModel):
    """One moment, in UTC and in Asia/Shanghai local time."""

    utc: dt.datetime = Field(examples=["2026-11-28T00:00:00Z"])
    local: dt.datetime = Field(examples=["2026-11-28T08:00:00+08:00"])


def instant(value: dt.datetime) -> Instant:
    return Instant(utc=value.astimezone(dt.UTC), local=value.astimezone(LOCAL_TZ))


def optional_instant(value: dt.datetime | None) -> Instant | None:
    return None if value is None else instant(value)


class Period(BaseModel):
    """A half-open period [start, end)."""

    start: Instant
    end: Instant


class Location(BaseModel):
    longitude: float
    latitude: float


class Meta(BaseModel):
    page: int = Field(description="This page's number, from 1.")
    limit: int = Field(description="Most results per page.")
    found: int = Field(description="Results matching the request, on all pages.")
    next: str | None = Field(None, description="URL of the next page; null on the last one.")


class Page(BaseModel, Generic[T]):
    meta: Meta
    results: list[T]


class ErrorDetail(BaseModel):
    status: int = Field(examples=[422])
    code: str = Field(examples=["invalid_parameter"])
    message: str = Field(examples=["limit: Input should be less than or equal to 1000"])
    parameter: str | None = Field(
        None, description="The parameter at fault; absent when the error is not about one."
    )


class ErrorBody(BaseModel):
    """The one error shape of every 4xx and 5xx response."""

    error: ErrorDetail


class Status(BaseModel):
    status: Literal["ok"] = "ok"


# --- Reference data -----------------------------------------------------------------------------


class Pollutant(BaseModel):
    """An HJ 212-2017 factor code (Appendix B) with the HJ/T 212-2005 code it replaces."""

    code: str = Field(examples=["a21026"])
    medium: str = Field(examples=["air"])
    name: Names
    unit: Names = Field(description="Concentration or instantaneous unit.")
    cou_unit: Names = Field(description="Emission amount (Cou) unit.")
    legacy_code: str | None = Field(description="HJ/T 212-2005 code (原编码).")
    data_type: str | None = Field(examples=["N3.3"])


class PollutantRef(BaseModel):
    code: str
    name: Names
    unit: Names


class Flag(BaseModel):
    """An HJ 212 data flag and whether data carrying it count (valid)."""

    standard: str = Field(examples=["HJ 212-2017"])
    code: str = Field(examples=["N"])
    name: Names
    valid: bool
    source: str


class FlagRef(BaseModel):
    code: str
    name: Names | None = Field(description="Null for a code the flag table does not know.")


# --- Enterprises and outlets --------------------------------------------------------------------


class EnterpriseRef(BaseModel):
    """The enterprise a resource belongs to, wherever one is named (outlets, cases)."""

    id: int
    name: Names
    district: str | None = Field(description="Administrative division.")


class OutletRef(BaseModel):
    """The outlet a resource belongs to, wherever one is named (cases)."""

    id: int
    name: Names
    code: str | None = Field(description="Outlet number in the permit, e.g. DA001.")


class StaffOutletRef(OutletRef):
    """The outlet as staff see it: with the data logger's MN, which is not published."""

    mn: str = Field(description="The data logger's MN (HJ 212 device identity).")


class OpenCases(BaseModel):
    """Open cases by kind (counts only: the public view). Open fault and pattern cases are not
    counted here: they would tip off an enterprise under screening (issue 15); staff see them
    in ``GET /v1/staff/outlets/{id}``."""

    exceedance: int = 0
    outage: int = 0


class StaffOpenCases(OpenCases):
    """Open cases by kind, every kind (staff)."""

    fault: int = 0
    pattern: int = 0


class OutletStatus(BaseModel):
    last_data: Instant | None = Field(description="Latest data time received (DataTime).")
    last_frame: Instant | None = Field(description="When the latest frame arrived.")
    open_cases: OpenCases


class NotJudged(BaseModel):
    """Why an outlet is not (fully) judged."""

    code: Literal["no_limits", "pollutant_without_limit"] = Field(
        description="no_limits: no limit in force at all; pollutant_without_limit: one"
        " measured pollutant has none."
    )
    pollutant: str | None = Field(description="HJ 212 code, for pollutant_without_limit.")
    reason: Names


class Outlet(BaseModel):
    id: int
    enterprise_id: int
    code: str | None = Field(description="Outlet number in the permit, e.g. DA001.")
    name: Names
    kind: Literal["gas", "water"]
    emission_standard: str | None
    permit_number: str | None
    location: Location | None
    active: bool
    status: OutletStatus
    judged: bool = Field(
        description="Whether the outlet has a limit in force today (Asia/Shanghai) and one for"
        " every regulated pollutant it reported in the last 30 days; when false, `not_judged`"
        " says why. Data of an outlet that is not judged are stored and published, but no"
        " exceedance is found in them."
    )
    not_judged: list[NotJudged] = Field(description="Empty when `judged` is true.")


class EnterpriseSummary(BaseModel):
    id: int
    uscc: str | None = Field(description="Unified social credit code (统一社会信用代码).")
    name: Names
    address: str | None
    district: str | None
    industry: str | None
    control_level: Literal["national", "provincial", "municipal", "other"] | None
    location: Location | None
    distance_m: float | None = Field(None, description="Distance from `near`, when given.")


class EnterpriseDetail(EnterpriseSummary):
    open_cases: OpenCases
    outlets: list[Outlet]


class LimitRef(BaseModel):
    """A limit in force and where it comes from: a bound standard or the outlet's own limit."""

    id: int
    source: Literal["standard", "outlet"]
    standard: str | None
    category: str | None
    value: float
    value_min: float | None = Field(description="Lower bound of a range limit (pH 6–9).")
    unit: str
    period: Literal["hour", "day"] = Field(description="Averaging period it applies to.")
    reference_o2: float | None = Field(description="Reference O₂ (%) of converted values.")
    source_document: str
    clause: str | None
    confirmed: bool = Field(description="Value checked against the cited source.")
    version: int


class OutletLimit(LimitRef):
    pollutant: PollutantRef


class OutletDetail(Outlet):
    enterprise: EnterpriseRef
    limits_on: dt.date = Field(description="The day the limits below are in force.")
    limits: list[OutletLimit]


class LatestValue(BaseModel):
    pollutant: PollutantRef
    kind: Literal["rtd", "min", "hour", "day"] = Field(description="Data kind as sent.")
    datetime: Instant = Field(description="Sampling time (rtd) or interval start as sent.")
    value: float | None
    converted: float | None = Field(description="折算 (Zs) value as sent.")
    flag: FlagRef | None
    valid: bool


class Latest(BaseModel):
    outlet_id: int
    results: list[LatestValue]


# --- Series -------------------------------------------------------------------------------------


class Coverage(BaseModel):
    valid: int = Field(description="Valid minutes (hourly), hours (daily) or days (monthly).")
    expected: int


class Exceedance(BaseModel):
    """The judgement of a valid mean against the limit: on the converted value where the
    limit has a reference O₂, else on the measured mean."""

    value: float
    exceeds: bool
    multiple: float | None = Field(
        description="(value − limit) / limit when exceeding an upper limit; null when compliant,"
        " and for a range limit such as pH 6–9, for which no multiple is defined."
    )


class RawPoint(BaseModel):
    pollutant: PollutantRef
    kind: Literal["rtd", "min", "hour", "day"]
    datetime: Instant = Field(description="Sampling time (rtd) or interval start, as sent.")
    value: float | None
    min: float | None
    max: float | None
    cou: float | None
    converted: float | None = Field(description="折算 (Zs) value as sent.")
    flag: FlagRef | None
    valid: bool
    revision: int
    limit: LimitRef | None = Field(description="Hourly limit in force (context, not a judgement).")


class _Mean(BaseModel):
    pollutant: PollutantRef
    datetime: Instant = Field(description="End of the period (period-ending).")
    period: Period
    mean: float | None = Field(description="Measured concentration over valid data.")
    converted: float | None = Field(description="Recomputed at the limit's reference O₂.")
    zs_reported: float | None = Field(description="Mean of the logger's own 折算 values.")
    coverage: Coverage
    limit: LimitRef | None


class HourPoint(_Mean):
    source: str = Field(description="Computed from minute (min), real-time (rtd) or hour data.")
    o2: float | None
    valid: bool = Field(
        description="The stored judgement of the data so far: ≥ 45 valid minutes (see `reason`)."
    )
    in_progress: bool = Field(
        description="The hour has not ended yet (its end is after the server's now): `valid`, "
        "`reason`, `coverage` and the judgement are those of the data so far and will change. "
        "Shown as in progress, not as invalid; data capture and completeness rates count only "
        "hours that have ended."
    )
    reason: str | None = Field(
        description="Why the mean is not valid, or a note on how a valid one was computed (e.g. arithmetic where the flow needed for volume weighting is missing)."
    )
    flags: dict[str, int] = Field(description="Samples per HJ 212 flag.")
    exceedance: Exceedance | None


class DayPoint(_Mean):
    date: dt.date = Field(description="Local calendar day.")
    source: str
    o2: float | None
    valid: bool = Field(description="The stored judgement of the data so far (see `reason`).")
    in_progress: bool = Field(
        description="The local day has not ended yet (its end is after the server's now): "
        "`valid`, `reason`, `coverage` and the judgement are those of the data so far and will "
        "change."
    )
    reason: str | None
    exceedance: Exceedance | None


class MonthPoint(_Mean):
    month: str = Field(examples=["2026-11"], description="Local calendar month.")
    days_with_data: int
    in_progress: bool = Field(
        description="The local month has not ended yet: its mean and coverage are those of the "
        "days so far."
    )


class SeriesMeta(Meta):
    resolution: Literal["raw", "hour", "day", "month"]
    period: Period = Field(description="The period asked for: points whose period starts in it.")


class Series(BaseModel, Generic[T]):
    meta: SeriesMeta
    results: list[T]


class CompletenessRate(BaseModel):
    """The transmission and validity rates of one period, for one data kind, of the whole
    outlet (``pollutant`` null) or of one pollutant (docs/completeness.md#rates)."""

    period: Period
    period_name: str = Field(
        description="The local period: YYYY-MM-DD, YYYY-MM or YYYY-Qn.", examples=["2026-11-28"]
    )
    pollutant: PollutantRef | None = Field(description="Null: all of the outlet's pollutants.")
    kind: Literal["rtd", "min", "hour", "day"] = Field(
        description="The records counted: real-time (2011), minute (2051), hour (2061) or "
        "day (2031) data."
    )
    kind_name: Names
    headline: bool = Field(
        description="The outlet's rate as the regulator states it (hourly data, else minute)."
    )
    expected: int = Field(description="Records the registry expects in the period.")
    received: int = Field(description="Of those, received (at most the expected per hour).")
    valid: int = Field(description="Of those received, valid (flag valid, value present).")
    transmission_rate: float | None = Field(
        description="传输率: received / expected; null when nothing was expected.",
        examples=[0.9375],
    )
    validity_rate: float | None = Field(
        description="有效率: valid / received; null when nothing was received.", examples=[0.9111]
    )
    transmission_validity_rate: float | None = Field(
        description="传输有效率: 传输率 × 有效率 (= valid / expected).", examples=[0.8542]
    )
    target: float = Field(description="The target of 传输有效率 (fraction).", examples=[0.9])
    meets_target: bool | None
    rules_confirmed: bool = Field(
        description="Whether the target and the counting rule are confirmed against the "
        "official text (docs/regulation-values.md#completeness-rules)."
    )
