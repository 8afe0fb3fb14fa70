"""``/v1/timeliness`` and ``/v1/reports/annual/{year}``: how well disclosure meets its legal clocks.

The clocks (working days from formed to published, on the Chinese working-day calendar with
make-up working days) and the counting rules are those of :mod:`schemas.disclosure.workdays`
and :mod:`schemas.disclosure.timeliness`. ``today`` is the current Asia/Shanghai date.

* ``GET /v1/timeliness?year=&by=category|record_type`` — the scoreboard: published on time,
  late, overdue and pending per category (the eight and water) or per record type; JSON or CSV.
* ``GET /v1/reports/annual/{year}`` — the annual information-disclosure report of the kind
  bureaus file (:mod:`schemas.disclosure.annual`): items published per category, corrections,
  withdrawals, on-time rate, exceedance notices, enterprises covered, the late, overdue and
  withdrawn items; channels and origins; requests received, answered by outcome, on time or
  late; reconsiderations and lawsuits by outcome; penalties published; year on year; each outlet's transmission and validity rates over
  the year (docs/completeness.md). JSON, CSV
  (``table=categories``: one line per category and a total line; or ``channels``,
  ``requests``, ``challenges``, ``year_on_year``) or a printable bilingual HTML page.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import jinja2
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from api.annual_sections import CsvLine as SectionCsvLine
from api.annual_sections import Sections, Table, csv_lines, sections
from api.db import Database, get_database
from api.errors import ERROR_RESPONSES
from api.params import Format, output_format, reject_nul
from api.render import CSV_RESPONSE, csv_response, etag_matches, json_response
from api.responses import LOCAL_TZ, Instant, Names, Period, instant
from schemas.completeness.report import OutletYear, year_rates
from schemas.disclosure import annual, timeliness
from schemas.disclosure.workdays import calendar_caveat, calendar_known

__all__ = ["FIRST_YEAR", "LAST_YEAR", "router"]

router = APIRouter(
    tags=["disclosure"], responses=ERROR_RESPONSES, dependencies=[Depends(reject_nul)]
)

FIRST_YEAR, LAST_YEAR = 2000, 2100
MAX_AGE = 300  # s: the scoreboard moves slowly
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent.parent / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

Grouping = Literal["category", "record_type"]
ReportFormat = Literal["json", "csv", "html"]


# --- Models -------------------------------------------------------------------------------------


class ScoreRow(BaseModel):
    code: str = Field(description="Category or record type code.", examples=["penalty"])
    category: str = Field(description="The category (the code itself for a category line).")
    name: Names
    deadline_days: int = Field(description="Working days from formed to published.")
    published: int = Field(description="Published with a deadline: on time + late.")
    published_on_time: int = Field(description="Published on or before the due day (local).")
    published_late: int
    published_without_deadline: int
    overdue: int = Field(description="Not published (draft/approved), due before today.")
    pending: int = Field(description="Not published, not yet due.")
    on_time_rate: float | None = Field(description="on time / published; null when none.")


class ScoreMeta(BaseModel):
    year: int
    by: Grouping
    today: dt.date = Field(description="The local (Asia/Shanghai) day overdue is judged on.")
    period: Period = Field(description="The year: versions due or published in it count.")
    found: int
    calendar_known: bool = Field(
        description="Whether the holiday calendar of the year is known (else Monday–Friday)."
    )
    calendar_caveat: str | None


class Scoreboard(BaseModel):
    meta: ScoreMeta
    results: list[ScoreRow]


class ReportRow(BaseModel):
    code: str = Field(description="Category code, or `total`.")
    name: Names
    published: int = Field(description="Versions published in the year (local time).")
    corrections: int = Field(description="Of these, corrections (version > 1).")
    withdrawals: int = Field(description="Of these, withdrawn since.")
    on_time: int
    late: int
    without_deadline: int
    on_time_rate: float | None = Field(description="on time / (on time + late); null when none.")
    exceedance_notices: int = Field(description="Exceedance notices published.")
    enterprises: int = Field(description="Distinct enterprises the published items are about.")
    overdue: int = Field(description="Not published, due in the year before today.")


class ReportCsvRow(ReportRow):
    year: int


class ReportItem(BaseModel):
    kind: Literal["late", "overdue", "withdrawn"]
    id: int
    record_key: str
    version: int
    category: str
    record_type: str
    title: Names
    enterprise_id: int | None
    enterprise_name: str | None
    formed_at: Instant
    due_on: dt.date | None
    published_at: Instant | None
    working_days_late: int | None = Field(description="Working days past the due day.")
    withdrawn_reason: str | None


class OutletTransmission(BaseModel):
    """One outlet's transmission and validity rates over the year (docs/completeness.md#rates)."""

    outlet_id: int
    outlet_code: str | None
    outlet_name: Names
    enterprise_id: int
    enterprise_name: Names
    kind: Literal["rtd", "min", "hour", "day"] = Field(
        description="The records counted (hourly data, else minute data)."
    )
    expected: int
    received: int
    valid: int
    transmission_rate: float | None = Field(description="传输率: received / expected.")
    validity_rate: float | None = Field(description="有效率: valid / received.")
    transmission_validity_rate: float | None = Field(description="传输有效率: their product.")
    target: float
    meets_target: bool | None
    rules_confirmed: bool = Field(
        description="Whether the target and counting rule are confirmed against the official text."
    )


class AnnualReport(Sections):
    year: int
    period: Period
    today: dt.date
    year_complete: bool = Field(description="Whether the year has ended (else: so far).")
    generated_at: Instant
    calendar_known: bool
    calendar_caveat: str | None
    categories: list[ReportRow] = Field(
        description="The eight categories in notice order, then water."
    )
    total: ReportRow
    exceptions: list[ReportItem] = Field(
        description=f"Late, overdue and withdrawn items (at most {timeliness.EXCEPTIONS_LIMIT})."
    )
    exceptions_found: int
    transmission: list[OutletTransmission] = Field(
        description="Each outlet that reported by the end of the year: its transmission and "
        "validity rates over the year (so far)."
    )
    transmission_meeting_target: int = Field(
        description="Outlets whose 传输有效率 meets the target."
    )


# --- Conversion ---------------------------------------------------------------------------------


def _today() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date()


def _period(year: int) -> Period:
    return Period(
        start=instant(dt.datetime(year, 1, 1, tzinfo=LOCAL_TZ)),
        end=instant(dt.datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ)),
    )


def _score_row(row: timeliness.ScoreRow) -> ScoreRow:
    return ScoreRow(
        code=row.code,
        category=row.category,
        name=Names(zh=row.name_zh, en=row.name_en),
        deadline_days=row.deadline_days,
        published=row.published,
        published_on_time=row.published_on_time,
        published_late=row.published_late,
        published_without_deadline=row.published_without_deadline,
        overdue=row.overdue,
        pending=row.pending,
        on_time_rate=row.on_time_rate,
    )


def _report_row(row: timeliness.ReportRow) -> ReportRow:
    return ReportRow(
        code=row.code,
        name=Names(zh=row.name_zh, en=row.name_en),
        published=row.published,
        corrections=row.corrections,
        withdrawals=row.withdrawals,
        on_time=row.on_time,
        late=row.late,
        without_deadline=row.without_deadline,
        on_time_rate=row.on_time_rate,
        exceedance_notices=row.exceedance_notices,
        enterprises=row.enterprises,
        overdue=row.overdue,
    )


def _item(item: timeliness.ReportItem) -> ReportItem:
    return ReportItem(
        kind=item.kind,
        id=item.id,
        record_key=item.record_key,
        version=item.version,
        category=item.category,
        record_type=item.record_type,
        title=Names(zh=item.title_zh, en=item.title_en),
        enterprise_id=item.enterprise_id,
        enterprise_name=item.enterprise_name_zh,
        formed_at=instant(item.formed_at),
        due_on=item.due_on,
        published_at=None if item.published_at is None else instant(item.published_at),
        working_days_late=item.working_days_late,
        withdrawn_reason=item.withdrawn_reason,
    )


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _transmission(row: OutletYear) -> OutletTransmission:
    return OutletTransmission(
        outlet_id=row.outlet_id,
        outlet_code=row.outlet_code,
        outlet_name=Names(zh=row.outlet_name_zh, en=row.outlet_name_en),
        enterprise_id=row.enterprise_id,
        enterprise_name=Names(zh=row.enterprise_name_zh, en=row.enterprise_name_en),
        kind=row.kind,
        expected=row.expected,
        received=row.received,
        valid=row.valid,
        transmission_rate=_float(row.transmission_rate),
        validity_rate=_float(row.validity_rate),
        transmission_validity_rate=_float(row.transmission_validity_rate),
        target=float(row.target),
        meets_target=row.meets_target,
        rules_confirmed=row.rules_confirmed,
    )


def _report(info: annual.InformationReport, transmission: list[OutletYear]) -> AnnualReport:
    report = info.proactive
    rows = [_transmission(row) for row in transmission]
    return AnnualReport(
        **sections(info).model_dump(),
        transmission=rows,
        transmission_meeting_target=sum(1 for r in rows if r.meets_target),
        year=report.year,
        period=Period(start=instant(report.start), end=instant(report.end)),
        today=report.today,
        year_complete=report.year_complete,
        generated_at=instant(report.generated_at),
        calendar_known=report.calendar_known,
        calendar_caveat=report.calendar_caveat,
        categories=[_report_row(row) for row in report.categories],
        total=_report_row(report.total),
        exceptions=[_item(item) for item in report.exceptions],
        exceptions_found=report.exceptions_found,
    )


def _negotiate(accept: str) -> ReportFormat:
    """The best of JSON, CSV and HTML by the Accept header's q values (JSON on a tie)."""
    q: dict[ReportFormat, float] = {"json": 0.0, "csv": 0.0, "html": 0.0}
    media_of: dict[str, ReportFormat] = {
        "application/json": "json",
        "text/csv": "csv",
        "text/html": "html",
    }
    for part in accept.split(","):
        media, *options = (p.strip() for p in part.split(";"))
        weight = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        fmt = media_of.get(media.lower())
        if fmt is not None:
            q[fmt] = max(q[fmt], weight)
    best = max(q.values())
    if best <= 0:
        return "json"
    return next(fmt for fmt in ("json", "csv", "html") if q[fmt] == best)


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


_TEMPLATES.filters["percent"] = _percent


def render_html(report: AnnualReport) -> str:
    """The printable bilingual page (``api/templates/annual_report.html``, autoescaped)."""
    names = {row.code: row.name for row in report.categories}
    return _TEMPLATES.get_template("annual_report.html").render(report=report, names=names)


# --- Routes -------------------------------------------------------------------------------------

YearQuery = Annotated[
    int | None,
    Query(
        ge=FIRST_YEAR,
        le=LAST_YEAR,
        description=f"Calendar year ({FIRST_YEAR}–{LAST_YEAR}); default: the current year "
        "(Asia/Shanghai).",
    ),
]


@router.get(
    "/v1/timeliness",
    response_model=Scoreboard,
    responses=CSV_RESPONSE,
    summary="Disclosure timeliness scoreboard per category or record type",
)
def get_timeliness(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    fmt: Annotated[Format, Depends(output_format)],
    year: YearQuery = None,
    by: Annotated[
        Grouping,
        Query(description="One line per `category` (the eight and water) or `record_type`."),
    ] = "category",
) -> Response:
    """Versions of disclosure records due in `year` or published in it (local time): published
    on time (local publication day ≤ due day), late, overdue (not published, due before today)
    and pending. Superseded and withdrawn versions count as published."""
    today = _today()
    chosen = today.year if year is None else year
    rows = db.call(lambda conn: timeliness.scoreboard(conn, chosen, today, by=by))
    results = [_score_row(row) for row in rows]
    if fmt == "csv":
        return csv_response(ScoreRow, results, filename=f"timeliness-{chosen}-{by}.csv")
    meta = ScoreMeta(
        year=chosen,
        by=by,
        today=today,
        period=_period(chosen),
        found=len(results),
        calendar_known=calendar_known(chosen),
        calendar_caveat=calendar_caveat(chosen),
    )
    return json_response(request, Scoreboard(meta=meta, results=results), max_age=MAX_AGE)


_REPORT_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "JSON (default), CSV (`format=csv` or `Accept: text/csv`: one line per "
        "category and a `total` line) or a printable HTML page (`format=html` or "
        "`Accept: text/html`).",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    },
    304: {"description": "Not modified (the `If-None-Match` ETag still matches)."},
}


@router.get(
    "/v1/reports/annual/{year}",
    response_model=AnnualReport,
    responses=_REPORT_RESPONSES,
    summary="Annual disclosure report (JSON, CSV or printable HTML)",
)
def get_annual_report(
    request: Request,
    db: Annotated[Database, Depends(get_database)],
    year: Annotated[int, PathParam(ge=FIRST_YEAR, le=LAST_YEAR, description="Calendar year.")],
    fmt: Annotated[
        ReportFormat | None,
        Query(
            alias="format",
            description="`json`, `csv` or `html`; overrides the Accept header.",
        ),
    ] = None,
    table: Annotated[
        Table,
        Query(
            description="CSV only: `categories` (default), `channels` (and origins), `requests` "
            "(received by channel, answered by outcome, totals), `challenges` (reconsiderations "
            "and lawsuits by outcome) or `year_on_year`."
        ),
    ] = "categories",
) -> Response:
    """Items published in the year per category, of which corrections and withdrawals, the
    on-time rate, exceedance notices published, enterprises covered, overdue items, and the
    late, overdue and withdrawn items one by one; with the calendar caveat when the year's
    holidays are not known."""
    chosen = fmt or _negotiate(request.headers.get("accept", ""))
    today = _today()
    now = dt.datetime.now(dt.UTC)
    report = _report(
        db.call(lambda conn: annual.information_report(conn, year, today)),
        db.call(lambda conn: year_rates(conn, year, now)),
    )
    if chosen == "csv" and table != "categories":
        return csv_response(
            SectionCsvLine,
            csv_lines(year, table, report),
            filename=f"annual-report-{year}-{table}.csv",
            max_age=MAX_AGE,
        )
    if chosen == "csv":
        rows = [
            ReportCsvRow(**row.model_dump(), year=year)
            for row in [*report.categories, report.total]
        ]
        return csv_response(
            ReportCsvRow, rows, filename=f"annual-report-{year}.csv", max_age=MAX_AGE
        )
    if chosen == "html":
        body = render_html(report).encode()
        etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = {
            "ETag": etag,
            "Cache-Control": f"public, max-age={MAX_AGE}",
            "Vary": "Accept",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        }
        if etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="text/html; charset=utf-8", headers=headers)
    return json_response(request, report, max_age=MAX_AGE)
