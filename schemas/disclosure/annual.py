"""The annual information-disclosure report (政府信息公开工作年度报告) a bureau publishes every
year, built from the records alone so every number can be traced to the items behind it.

It extends :func:`schemas.disclosure.timeliness.annual_report` (items proactively published per
category, on time or late, corrections, withdrawals, exceptions) with

* **channels**: every published item is on the portal, the API, the feeds and the daily bulk
  download at once, so each channel carries all of them; and by origin (staff-authored or
  automatic);
* **requests** (依申请公开, :mod:`schemas.disclosure.requests`): received in the year (by
  channel), carried over from earlier years, answered in the year by outcome and on time or
  late, and still open at the end of the year (or on ``today`` for the current year);
* **reconsiderations and lawsuits** filed in the year, by outcome
  (:mod:`schemas.disclosure.challenges`);
* **exceedances and penalties published**: exceedance notices and penalty decisions published
  in the year;
* **year-on-year**: the headline numbers of the year before and the change.

Days are Asia/Shanghai days; a year is 1 January to 31 December.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import psycopg

from schemas.disclosure import timeliness
from schemas.disclosure.request_codes import outcomes
from schemas.disclosure.requests import CHANNELS
from schemas.disclosure.workdays import LOCAL_TZ

__all__ = [
    "PUBLICATION_CHANNELS",
    "Count",
    "InformationReport",
    "RequestSummary",
    "Trend",
    "headline",
    "information_report",
]

#: Where every published item appears (code → Chinese, English name).
PUBLICATION_CHANNELS: dict[str, tuple[str, str]] = {
    "portal": ("门户网站", "Portal"),
    "api": ("开放接口（API）", "Open API"),
    "feeds": ("订阅源（Atom、RSS、JSON Feed）", "Feeds (Atom, RSS, JSON Feed)"),
    "bulk": ("每日批量下载", "Daily bulk download"),
}
ORIGINS: dict[str, tuple[str, str]] = {
    "staff": ("人工发布", "Authored by staff"),
    "auto": ("自动发布", "Published automatically"),
}
KINDS: dict[str, tuple[str, str]] = {
    "reconsideration": ("行政复议", "Administrative reconsideration"),
    "lawsuit": ("行政诉讼", "Administrative lawsuit"),
}
EXCEEDANCE_NOTICE = "exceedance_notice"
PENALTY_DECISION = "penalty_decision"


@dataclass(frozen=True, slots=True)
class Count:
    """A number with its code and bilingual name (a channel, an outcome …)."""

    code: str
    name_zh: str
    name_en: str
    count: int


@dataclass(frozen=True, slots=True)
class RequestSummary:
    received: int
    received_by_channel: list[Count]
    carried_over: int  # received before the year, not answered before it began
    answered: int
    answered_by_outcome: list[Count]
    answered_on_time: int
    answered_late: int
    open_at_end: int  # received by the end (or today), not answered by then


@dataclass(frozen=True, slots=True)
class Trend:
    code: str
    name_zh: str
    name_en: str
    value: int
    previous: int
    change: int
    change_rate: float | None  # change / previous; None when previous is 0


@dataclass(frozen=True, slots=True)
class InformationReport:
    proactive: timeliness.AnnualReport
    channels: list[Count]
    by_origin: list[Count]
    requests: RequestSummary
    challenges: dict[str, list[Count]]  # kind → outcomes
    exceedances_published: int
    penalties_published: int
    year_on_year: list[Trend]


_PUBLISHED_WHERE = (
    " FROM disclosure_records r WHERE r.status IN ('published', 'superseded', 'withdrawn')"
    " AND r.published_at >= %(start)s AND r.published_at < %(end)s"
)


def _end(year: int, today: date) -> date:
    """The last day counted: 31 December, or ``today`` within the year."""
    return min(date(year, 12, 31), today)


def _bounds(year: int, today: date) -> dict[str, Any]:
    return {
        "start": datetime(year, 1, 1, tzinfo=LOCAL_TZ),
        "end": datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ),
        "first": date(year, 1, 1),
        "last": _end(year, today),
    }


def _published(conn: psycopg.Connection[Any], params: dict[str, Any]) -> dict[str, int]:
    """Versions published in the year: in all, per origin, exceedance notices, penalties."""
    row = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE r.origin = 'staff'),"
        " count(*) FILTER (WHERE r.origin = 'auto'),"
        " count(*) FILTER (WHERE r.record_type = %(exceedance)s),"
        " count(*) FILTER (WHERE r.record_type = %(penalty)s)" + _PUBLISHED_WHERE,
        {**params, "exceedance": EXCEEDANCE_NOTICE, "penalty": PENALTY_DECISION},
    ).fetchone()
    assert row is not None
    total, staff, auto, exceedances, penalties = map(int, row)
    return {
        "total": total,
        "staff": staff,
        "auto": auto,
        "exceedances": exceedances,
        "penalties": penalties,
    }


def _requests(conn: psycopg.Connection[Any], params: dict[str, Any]) -> RequestSummary:
    by_channel = dict(
        conn.execute(
            "SELECT channel, count(*) FROM disclosure_requests"
            " WHERE received_on >= %(first)s AND received_on <= %(last)s GROUP BY channel",
            params,
        ).fetchall()
    )
    by_outcome = {
        code: (int(n), int(on_time))
        for code, n, on_time in conn.execute(
            "SELECT outcome, count(*), count(*) FILTER (WHERE answered_on <= due_on)"
            " FROM disclosure_requests"
            " WHERE answered_on >= %(first)s AND answered_on <= %(last)s GROUP BY outcome",
            params,
        ).fetchall()
    }
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE received_on < %(first)s"
        "   AND (answered_on IS NULL OR answered_on >= %(first)s)),"
        " count(*) FILTER (WHERE received_on <= %(last)s"
        "   AND (answered_on IS NULL OR answered_on > %(last)s))"
        " FROM disclosure_requests",
        params,
    ).fetchone()
    assert row is not None
    answered = sum(n for n, _ in by_outcome.values())
    on_time = sum(t for _, t in by_outcome.values())
    return RequestSummary(
        received=sum(int(n) for n in by_channel.values()),
        received_by_channel=[
            Count(code, zh, en, int(by_channel.get(code, 0))) for code, (zh, en) in CHANNELS.items()
        ],
        carried_over=int(row[0]),
        answered=answered,
        answered_by_outcome=[
            Count(o.code, o.name_zh, o.name_en, by_outcome.get(o.code, (0, 0))[0])
            for o in outcomes(conn, "answer")
        ],
        answered_on_time=on_time,
        answered_late=answered - on_time,
        open_at_end=int(row[1]),
    )


def _challenges(conn: psycopg.Connection[Any], params: dict[str, Any]) -> dict[str, list[Count]]:
    counts = {
        (kind, outcome): int(n)
        for kind, outcome, n in conn.execute(
            "SELECT kind, outcome, count(*) FROM disclosure_request_challenges"
            " WHERE filed_on >= %(first)s AND filed_on <= %(last)s GROUP BY kind, outcome",
            params,
        ).fetchall()
    }
    codes = outcomes(conn, "challenge")
    return {
        kind: [Count(o.code, o.name_zh, o.name_en, counts.get((kind, o.code), 0)) for o in codes]
        for kind in KINDS
    }


_HEADLINES: dict[str, tuple[str, str]] = {
    "items_published": ("主动公开信息条数", "Items published"),
    "requests_received": ("收到申请数", "Requests received"),
    "requests_answered": ("答复申请数", "Requests answered"),
    "requests_answered_late": ("逾期答复数", "Requests answered late"),
    "reconsiderations": ("行政复议数", "Administrative reconsiderations"),
    "lawsuits": ("行政诉讼数", "Administrative lawsuits"),
    "exceedances_published": ("公开超标信息数", "Exceedance notices published"),
    "penalties_published": ("公开行政处罚决定数", "Penalty decisions published"),
}


def headline(conn: psycopg.Connection[Any], year: int, today: date) -> dict[str, int]:
    """The numbers compared year on year."""
    params = _bounds(year, today)
    published = _published(conn, params)
    requests = _requests(conn, params)
    challenges = _challenges(conn, params)
    return {
        "items_published": published["total"],
        "requests_received": requests.received,
        "requests_answered": requests.answered,
        "requests_answered_late": requests.answered_late,
        "reconsiderations": sum(c.count for c in challenges["reconsideration"]),
        "lawsuits": sum(c.count for c in challenges["lawsuit"]),
        "exceedances_published": published["exceedances"],
        "penalties_published": published["penalties"],
    }


def information_report(conn: psycopg.Connection[Any], year: int, today: date) -> InformationReport:
    """The report of ``year`` as of ``today`` (a local date)."""
    proactive = timeliness.annual_report(conn, year, today)
    params = _bounds(year, today)
    published = _published(conn, params)
    requests = _requests(conn, params)
    challenges = _challenges(conn, params)
    now = headline(conn, year, today)
    before = headline(conn, year - 1, date(year, 1, 1) - timedelta(days=1))
    trends = [
        Trend(
            code,
            zh,
            en,
            now[code],
            before[code],
            now[code] - before[code],
            round((now[code] - before[code]) / before[code], 4) if before[code] else None,
        )
        for code, (zh, en) in _HEADLINES.items()
    ]
    return InformationReport(
        proactive=proactive,
        channels=[
            Count(code, zh, en, published["total"])
            for code, (zh, en) in PUBLICATION_CHANNELS.items()
        ],
        by_origin=[Count(code, zh, en, published[code]) for code, (zh, en) in ORIGINS.items()],
        requests=requests,
        challenges=challenges,
        exceedances_published=published["exceedances"],
        penalties_published=published["penalties"],
        year_on_year=trends,
    )
