"""The sections the annual information-disclosure report adds to the timeliness report
(:mod:`schemas.disclosure.annual`): their JSON models, conversion, and the CSV tables
``GET /v1/reports/annual/{year}?format=csv&table=…`` offers besides the categories."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.responses import Names
from schemas.disclosure import annual

__all__ = [
    "CountOut",
    "CsvLine",
    "RequestsOut",
    "Sections",
    "Table",
    "TrendOut",
    "csv_lines",
    "sections",
]

Table = Literal["categories", "channels", "requests", "challenges", "year_on_year"]


class CountOut(BaseModel):
    code: str
    name: Names
    count: int


class RequestsOut(BaseModel):
    received: int = Field(description="Received in the year (to today in the current year).")
    received_by_channel: list[CountOut]
    carried_over: int = Field(description="Received before the year, not answered before it.")
    answered: int = Field(description="Answered in the year.")
    answered_by_outcome: list[CountOut] = Field(description="Every answer outcome, in order.")
    answered_on_time: int
    answered_late: int
    open_at_end: int = Field(description="Not answered at the end of the year (or today).")


class TrendOut(BaseModel):
    code: str
    name: Names
    value: int
    previous: int = Field(description="The same count for the year before.")
    change: int
    change_rate: float | None = Field(description="change / previous; null when previous is 0.")


class Sections(BaseModel):
    channels: list[CountOut] = Field(
        description="Where the published items appear: every item on every channel at once."
    )
    by_origin: list[CountOut] = Field(description="Published items authored by staff or automatic.")
    requests: RequestsOut
    challenges: dict[str, list[CountOut]] = Field(
        description="Reconsiderations and lawsuits filed in the year, by outcome."
    )
    exceedances_published: int
    penalties_published: int
    year_on_year: list[TrendOut]


class CsvLine(BaseModel):
    """One line of the CSV tables other than the categories."""

    year: int
    table: str
    group: str = Field(description="channel, origin, received, answered, reconsideration …")
    code: str
    name_zh: str
    name_en: str
    count: int
    previous: int | None = None
    change: int | None = None


def _count(c: annual.Count) -> CountOut:
    return CountOut(code=c.code, name=Names(zh=c.name_zh, en=c.name_en), count=c.count)


def sections(report: annual.InformationReport) -> Sections:
    r = report.requests
    return Sections(
        channels=[_count(c) for c in report.channels],
        by_origin=[_count(c) for c in report.by_origin],
        requests=RequestsOut(
            received=r.received,
            received_by_channel=[_count(c) for c in r.received_by_channel],
            carried_over=r.carried_over,
            answered=r.answered,
            answered_by_outcome=[_count(c) for c in r.answered_by_outcome],
            answered_on_time=r.answered_on_time,
            answered_late=r.answered_late,
            open_at_end=r.open_at_end,
        ),
        challenges={k: [_count(c) for c in v] for k, v in report.challenges.items()},
        exceedances_published=report.exceedances_published,
        penalties_published=report.penalties_published,
        year_on_year=[
            TrendOut(
                code=t.code,
                name=Names(zh=t.name_zh, en=t.name_en),
                value=t.value,
                previous=t.previous,
                change=t.change,
                change_rate=t.change_rate,
            )
            for t in report.year_on_year
        ],
    )


def csv_lines(year: int, table: Table, s: Sections) -> list[CsvLine]:
    """The lines of one table (not ``categories``, which keeps its own columns)."""

    def lines(group: str, counts: list[CountOut]) -> list[CsvLine]:
        return [
            CsvLine(
                year=year,
                table=table,
                group=group,
                code=c.code,
                name_zh=c.name.zh or "",
                name_en=c.name.en or "",
                count=c.count,
            )
            for c in counts
        ]

    r = s.requests
    if table == "channels":
        return lines("channel", s.channels) + lines("origin", s.by_origin)
    if table == "requests":
        totals = [
            ("carried_over", "上年结转", "Carried over", r.carried_over),
            ("answered_on_time", "按时答复", "Answered on time", r.answered_on_time),
            ("answered_late", "逾期答复", "Answered late", r.answered_late),
            ("open_at_end", "结转下年度继续办理", "Open at the end", r.open_at_end),
        ]
        return (
            lines("received", r.received_by_channel)
            + lines("answered", r.answered_by_outcome)
            + lines(
                "totals",
                [CountOut(code=c, name=Names(zh=zh, en=en), count=n) for c, zh, en, n in totals],
            )
        )
    if table == "challenges":
        return [line for kind, counts in s.challenges.items() for line in lines(kind, counts)]
    if table == "year_on_year":
        return [
            CsvLine(
                year=year,
                table=table,
                group="headline",
                code=t.code,
                name_zh=t.name.zh or "",
                name_en=t.name.en or "",
                count=t.value,
                previous=t.previous,
                change=t.change,
            )
            for t in s.year_on_year
        ]
    raise ValueError(f"no CSV lines for table {table!r}")
