"""How well the service meets its own legal clocks: the scoreboard and the annual report.

Every version of a disclosure record carries ``due_on`` (its deadline, a local Asia/Shanghai
date computed by :func:`schemas.disclosure.workdays.due_on` when the version is created) and,
once published, ``published_at``. A version counts as

* **published on time** when the local date of ``published_at`` is on or before ``due_on``;
* **published late** when it is after;
* **published without deadline** when it was published and has no ``due_on``;
* **overdue** when it is not published (status draft or approved) and ``due_on`` is before
  ``today``;
* **pending** when it is not published and not yet due (a version without ``due_on`` that
  is not published is due in no year and published in none, so it is in no scoreboard).

Versions that were published and later superseded or withdrawn count as published at their
``published_at``. ``on_time_rate`` is on time / published with a deadline (``published`` below
is that sum), None when nothing was.

:func:`scoreboard` covers the versions due in a calendar year or published in it (local time),
per category (the eight in the order of the notice, then water) or per record type. :func:`annual_report`
is the yearly report bureaus file: per category the items (versions) published in the year, of
which corrections (version > 1) and withdrawals (since withdrawn), the on-time rate, the
exceedance notices published, the enterprises covered, the overdue items, and the exceptions
(late, overdue and withdrawn items) listed one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import psycopg
from psycopg import sql

from schemas.core.localtime import LOCAL_TZ_NAME
from schemas.disclosure.workdays import (
    LOCAL_TZ,
    calendar_caveat,
    calendar_known,
    working_days_between,
)

__all__ = [
    "EXCEPTIONS_LIMIT",
    "AnnualReport",
    "ReportItem",
    "ReportRow",
    "ScoreRow",
    "annual_report",
    "scoreboard",
]

EXCEEDANCE_NOTICE = "exceedance_notice"
EXCEPTIONS_LIMIT = 1000  # most exception items listed in one annual report
_PUBLISHED = ("published", "superseded", "withdrawn")
_PENDING = ("draft", "approved")


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """One line of the scoreboard: a category, or a record type (``category`` is its category)."""

    code: str
    category: str
    name_zh: str
    name_en: str
    deadline_days: int
    published: int  # with a deadline: on time + late
    published_on_time: int
    published_late: int
    published_without_deadline: int
    overdue: int
    pending: int
    on_time_rate: float | None


@dataclass(frozen=True, slots=True)
class ReportRow:
    """One category of the annual report (or the totals, ``code == "total"``)."""

    code: str
    name_zh: str
    name_en: str
    published: int  # versions published in the year
    corrections: int  # of which version > 1
    withdrawals: int  # of which withdrawn since
    on_time: int
    late: int
    without_deadline: int
    on_time_rate: float | None
    exceedance_notices: int
    enterprises: int  # distinct enterprises the published items are about
    overdue: int  # not published, due in the year before ``today``


@dataclass(frozen=True, slots=True)
class ReportItem:
    """A late, overdue or withdrawn item, listed in the report."""

    kind: Literal["late", "overdue", "withdrawn"]
    id: int
    record_key: str
    version: int
    category: str
    record_type: str
    title_zh: str
    title_en: str | None
    enterprise_id: int | None
    enterprise_name_zh: str | None
    formed_at: datetime
    due_on: date | None
    published_at: datetime | None
    working_days_late: int | None
    withdrawn_reason: str | None


@dataclass(frozen=True, slots=True)
class AnnualReport:
    year: int
    start: datetime  # local midnight, 1 January
    end: datetime  # local midnight, 1 January of the next year
    today: date
    year_complete: bool
    generated_at: datetime
    calendar_known: bool
    calendar_caveat: str | None
    categories: list[ReportRow]
    total: ReportRow
    exceptions: list[ReportItem]
    exceptions_found: int


def _rate(on_time: int, published: int) -> float | None:
    return round(on_time / published, 4) if published else None


def _bounds(year: int) -> dict[str, Any]:
    if not 1 <= year < 9999:
        raise ValueError(f"year out of range: {year}")
    return {
        "first": date(year, 1, 1),
        "next": date(year + 1, 1, 1),
        "start": datetime(year, 1, 1, tzinfo=LOCAL_TZ),
        "end": datetime(year + 1, 1, 1, tzinfo=LOCAL_TZ),
        "tz": LOCAL_TZ_NAME,
        "published": list(_PUBLISHED),
        "pending": list(_PENDING),
    }


# --- Scoreboard ---------------------------------------------------------------------------------

_VERSIONS = sql.SQL("""
WITH v AS (
    SELECT r.category, r.record_type, r.due_on, r.status = ANY(%(published)s) AS published,
           r.status = ANY(%(pending)s) AS waiting,
           (r.published_at AT TIME ZONE %(tz)s)::date AS published_on
    FROM disclosure_records r
    WHERE (r.due_on >= %(first)s AND r.due_on < %(next)s)
       OR (r.status = ANY(%(published)s)
           AND r.published_at >= %(start)s AND r.published_at < %(end)s)
)
SELECT {columns},
    count(*) FILTER (WHERE v.published AND v.due_on IS NOT NULL
                     AND v.published_on <= v.due_on) AS on_time,
    count(*) FILTER (WHERE v.published AND v.due_on IS NOT NULL
                     AND v.published_on > v.due_on) AS late,
    count(*) FILTER (WHERE v.published AND v.due_on IS NULL) AS without_deadline,
    count(*) FILTER (WHERE v.waiting AND v.due_on < %(today)s) AS overdue,
    count(*) FILTER (WHERE v.waiting AND (v.due_on IS NULL OR v.due_on >= %(today)s)) AS pending
FROM {source}
GROUP BY {columns}
ORDER BY {order}
""")

_BY_CATEGORY = {
    "columns": sql.SQL("c.ordinal, c.code, c.code, c.name_zh, c.name_en, c.deadline_days"),
    "source": sql.SQL("disclosure_categories c LEFT JOIN v ON v.category = c.code"),
    "order": sql.SQL("c.ordinal"),
}
_BY_RECORD_TYPE = {
    "columns": sql.SQL(
        "c.ordinal, t.code, t.category, t.name_zh, t.name_en,"
        " coalesce(t.deadline_days, c.deadline_days)"
    ),
    "source": sql.SQL(
        "disclosure_record_types t JOIN disclosure_categories c ON c.code = t.category"
        " LEFT JOIN v ON v.record_type = t.code"
    ),
    "order": sql.SQL("c.ordinal, t.code"),
}


def scoreboard(
    conn: psycopg.Connection[Any],
    year: int,
    today: date,
    *,
    by: Literal["category", "record_type"] = "category",
) -> list[ScoreRow]:
    """On time / late / overdue / pending per category (the eight and water, by ordinal) or per record
    type (by category ordinal, then code) for the versions due in ``year`` or published in it."""
    if by == "category":
        parts = _BY_CATEGORY
    elif by == "record_type":
        parts = _BY_RECORD_TYPE
    else:
        raise ValueError(f"by must be 'category' or 'record_type', got {by!r}")
    query = _VERSIONS.format(**parts)
    with conn.cursor() as cur:
        cur.execute(query, {**_bounds(year), "today": today})
        rows = cur.fetchall()
    result = []
    for _, code, category, name_zh, name_en, days, on_time, late, none, overdue, pending in rows:
        published = int(on_time) + int(late)
        result.append(
            ScoreRow(
                code=code,
                category=category,
                name_zh=name_zh,
                name_en=name_en,
                deadline_days=int(days),
                published=published,
                published_on_time=int(on_time),
                published_late=int(late),
                published_without_deadline=int(none),
                overdue=int(overdue),
                pending=int(pending),
                on_time_rate=_rate(int(on_time), published),
            )
        )
    return result


# --- Annual report ------------------------------------------------------------------------------

_REPORT = """
WITH p AS (
    SELECT r.category, r.record_type, r.version, r.status, r.enterprise_id, r.due_on,
           (r.published_at AT TIME ZONE %(tz)s)::date AS published_on
    FROM disclosure_records r
    WHERE r.status = ANY(%(published)s)
      AND r.published_at >= %(start)s AND r.published_at < %(end)s
), o AS (
    SELECT r.category, count(*) AS overdue
    FROM disclosure_records r
    WHERE r.status = ANY(%(pending)s) AND r.due_on >= %(first)s AND r.due_on < %(next)s
      AND r.due_on < %(today)s
    GROUP BY r.category
)
SELECT c.code, c.name_zh, c.name_en,
    count(p.category) AS published,
    count(p.category) FILTER (WHERE p.version > 1) AS corrections,
    count(p.category) FILTER (WHERE p.status = 'withdrawn') AS withdrawals,
    count(p.category) FILTER (WHERE p.due_on IS NOT NULL AND p.published_on <= p.due_on)
        AS on_time,
    count(p.category) FILTER (WHERE p.due_on IS NOT NULL AND p.published_on > p.due_on) AS late,
    count(p.category) FILTER (WHERE p.due_on IS NULL) AS without_deadline,
    count(p.category) FILTER (WHERE p.record_type = %(exceedance)s) AS exceedance_notices,
    count(DISTINCT p.enterprise_id) AS enterprises,
    coalesce(max(o.overdue), 0) AS overdue
FROM disclosure_categories c
LEFT JOIN p ON p.category = c.code
LEFT JOIN o ON o.category = c.code
GROUP BY c.ordinal, c.code, c.name_zh, c.name_en
ORDER BY c.ordinal
"""

_TOTAL = """
SELECT count(DISTINCT r.enterprise_id)
FROM disclosure_records r
WHERE r.status = ANY(%(published)s) AND r.published_at >= %(start)s AND r.published_at < %(end)s
"""

_EXCEPTIONS_WHERE = """
FROM disclosure_records r
LEFT JOIN enterprises e ON e.id = r.enterprise_id
JOIN disclosure_categories c ON c.code = r.category
WHERE (r.status = ANY(%(published)s)
       AND r.published_at >= %(start)s AND r.published_at < %(end)s
       AND (r.status = 'withdrawn' OR (r.published_at AT TIME ZONE %(tz)s)::date > r.due_on))
   OR (r.status = ANY(%(pending)s) AND r.due_on >= %(first)s AND r.due_on < %(next)s
       AND r.due_on < %(today)s)
"""

_EXCEPTIONS = (
    "SELECT r.id, r.record_key, r.version, r.category, r.record_type, r.title_zh, r.title_en,"
    " r.enterprise_id, e.name_zh, r.formed_at, r.due_on, r.published_at, r.status,"
    " (r.published_at AT TIME ZONE %(tz)s)::date, r.withdrawn_reason"
    + _EXCEPTIONS_WHERE
    + " ORDER BY c.ordinal, r.due_on NULLS LAST, r.id LIMIT %(limit)s"
)


def _exception(row: tuple[Any, ...], today: date) -> ReportItem:
    (
        id_,
        key,
        version,
        category,
        record_type,
        title_zh,
        title_en,
        enterprise_id,
        enterprise,
        formed_at,
        due,
        published_at,
        status,
        published_on,
        reason,
    ) = row
    kind: Literal["late", "overdue", "withdrawn"]
    if status == "withdrawn":
        kind = "withdrawn"
    elif published_at is None:
        kind = "overdue"
    else:
        kind = "late"
    late_until = published_on if published_at is not None else today
    days_late = None
    if due is not None and late_until > due:
        days_late = working_days_between(due, late_until)
    return ReportItem(
        kind=kind,
        id=int(id_),
        record_key=key,
        version=int(version),
        category=category,
        record_type=record_type,
        title_zh=title_zh,
        title_en=title_en,
        enterprise_id=None if enterprise_id is None else int(enterprise_id),
        enterprise_name_zh=enterprise,
        formed_at=formed_at,
        due_on=due,
        published_at=published_at,
        working_days_late=days_late,
        withdrawn_reason=reason,
    )


def annual_report(conn: psycopg.Connection[Any], year: int, today: date) -> AnnualReport:
    """The annual disclosure report of ``year`` as of ``today`` (local dates)."""
    params = {
        **_bounds(year),
        "today": today,
        "exceedance": EXCEEDANCE_NOTICE,
        "limit": EXCEPTIONS_LIMIT,
    }
    with conn.cursor() as cur:
        cur.execute(_REPORT, params)
        rows = cur.fetchall()
        cur.execute(_TOTAL, params)
        enterprises_row = cur.fetchone()
        cur.execute("SELECT count(*) " + _EXCEPTIONS_WHERE, params)
        found_row = cur.fetchone()
        cur.execute(_EXCEPTIONS, params)
        exception_rows = cur.fetchall()
    categories = []
    for code, name_zh, name_en, *counts in rows:
        published, corrections, withdrawals, on_time, late, none, notices, ents, overdue = map(
            int, counts
        )
        categories.append(
            ReportRow(
                code=code,
                name_zh=name_zh,
                name_en=name_en,
                published=published,
                corrections=corrections,
                withdrawals=withdrawals,
                on_time=on_time,
                late=late,
                without_deadline=none,
                on_time_rate=_rate(on_time, on_time + late),
                exceedance_notices=notices,
                enterprises=ents,
                overdue=overdue,
            )
        )

    def total(field: str) -> int:
        return sum(int(getattr(row, field)) for row in categories)

    on_time, late = total("on_time"), total("late")
    totals = ReportRow(
        code="total",
        name_zh="合计",
        name_en="Total",
        published=total("published"),
        corrections=total("corrections"),
        withdrawals=total("withdrawals"),
        on_time=on_time,
        late=late,
        without_deadline=total("without_deadline"),
        on_time_rate=_rate(on_time, on_time + late),
        exceedance_notices=total("exceedance_notices"),
        enterprises=int(enterprises_row[0]) if enterprises_row else 0,
        overdue=total("overdue"),
    )
    return AnnualReport(
        year=year,
        start=params["start"],
        end=params["end"],
        today=today,
        year_complete=today >= params["next"],
        generated_at=datetime.now(UTC),
        calendar_known=calendar_known(year),
        calendar_caveat=calendar_caveat(year),
        categories=categories,
        total=totals,
        exceptions=[_exception(row, today) for row in exception_rows],
        exceptions_found=int(found_row[0]) if found_row else 0,
    )
