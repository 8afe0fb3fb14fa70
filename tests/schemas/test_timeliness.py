"""The timeliness scoreboard and the annual disclosure report, on records inserted with SQL."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.types.json import Jsonb

from schemas.disclosure.categories import CATEGORIES
from schemas.disclosure.timeliness import annual_report, scoreboard

SHANGHAI = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 11, 16)
pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Rec:
    key: str
    record_type: str
    category: str
    status: str
    formed_at: datetime
    due_on: date | None
    published_at: datetime | None = None
    version: int = 1
    enterprise_id: int | None = None
    title: str = "记录"


def local(y: int, m: int, d: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=SHANGHAI)


def enterprise(db: psycopg.Connection, name: str) -> int:
    row = db.execute("INSERT INTO enterprises (name_zh) VALUES (%s) RETURNING id", (name,))
    value = row.fetchone()
    assert value is not None
    return int(value[0])


def insert(db: psycopg.Connection, rec: Rec) -> int:
    row = db.execute(
        "INSERT INTO disclosure_records (record_key, version, record_type, category, "
        "enterprise_id, title_zh, content, origin, status, formed_at, due_on, created_by, "
        "updated_by, published_at, correction_reason, withdrawn_reason) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, 'staff', %s, %s, %s, 'test', 'test', %s, %s, %s) "
        "RETURNING id",
        (
            rec.key,
            rec.version,
            rec.record_type,
            rec.category,
            rec.enterprise_id,
            rec.title,
            Jsonb({}),
            rec.status,
            rec.formed_at,
            rec.due_on,
            rec.published_at,
            "correction" if rec.version > 1 else None,
            "withdrawn in error" if rec.status == "withdrawn" else None,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def by_code(rows: list) -> dict:  # type: ignore[type-arg]
    return {row.code: row for row in rows}


def test_scoreboard_counts(db: psycopg.Connection) -> None:
    ent = enterprise(db, "甲公司")
    pen, cat = "penalty_decision", "penalty"
    due = date(2026, 10, 12)
    recs = [
        # on time: published at 23:30 local on the due day (15:30 UTC)
        Rec("p1", pen, cat, "published", local(2026, 9, 30), due, local(2026, 10, 12, 23, 30)),
        # late: 00:30 local the next day is still the due day in UTC
        Rec("p2", pen, cat, "published", local(2026, 9, 30), due, local(2026, 10, 13, 0, 30)),
        # withdrawn and superseded versions count as published at published_at
        Rec("p3", pen, cat, "withdrawn", local(2026, 9, 30), due, local(2026, 10, 9)),
        Rec("p4", pen, cat, "superseded", local(2026, 9, 30), due, local(2026, 10, 20)),
        Rec(
            "p4",
            pen,
            cat,
            "published",
            local(2026, 10, 21),
            date(2026, 11, 2),
            local(2026, 10, 22),
            version=2,
        ),
        # overdue: draft/approved past the due day
        Rec("p5", pen, cat, "draft", local(2026, 10, 1), date(2026, 11, 13)),
        Rec("p6", pen, cat, "approved", local(2026, 10, 1), date(2026, 11, 15)),
        # pending: due today or later; a draft without deadline belongs to no year
        Rec("p7", pen, cat, "draft", local(2026, 11, 10), TODAY),
        Rec("p8", pen, cat, "approved", local(2026, 11, 10), date(2026, 12, 1)),
        Rec("p9", pen, cat, "draft", local(2026, 11, 10), None),
        # published without a deadline
        Rec("p10", pen, cat, "published", local(2026, 3, 1), None, local(2026, 3, 2)),
        # due in 2026, published in 2027: late, in both years
        Rec(
            "p11", pen, cat, "published", local(2026, 12, 1), date(2026, 12, 31), local(2027, 1, 4)
        ),
        # due in 2025, published in 2026 (local time; 2025-12-31 in UTC): late, in 2026
        Rec(
            "e1",
            "emergency_event",
            "emergency",
            "published",
            local(2025, 12, 1),
            date(2025, 12, 29),
            local(2026, 1, 1, 2),
        ),
        # due and published in 2025: not in 2026
        Rec(
            "e2",
            "emergency_event",
            "emergency",
            "published",
            local(2025, 11, 1),
            date(2025, 12, 1),
            local(2025, 11, 5),
        ),
        # a record type of another category in monitoring
        Rec(
            "m1",
            "exceedance_notice",
            "monitoring",
            "published",
            local(2026, 5, 1),
            date(2026, 5, 6),
            local(2026, 5, 1, 11),
            enterprise_id=ent,
        ),
        Rec("m2", "daily_summary", "monitoring", "draft", local(2026, 5, 1), date(2026, 5, 6)),
    ]
    for rec in recs:
        insert(db, rec)

    rows = scoreboard(db, 2026, TODAY)
    assert [r.code for r in rows] == list(CATEGORIES)
    board = by_code(rows)
    p = board["penalty"]
    assert (p.name_zh, p.name_en) == ("行政处罚", "Administrative penalties")
    assert p.published_on_time == 3  # p1, p3, p4 v2
    assert p.published_late == 3  # p2, p4 v1, p11
    assert p.published == 6
    assert p.published_without_deadline == 1
    assert p.overdue == 2
    assert p.pending == 2  # p7, p8
    assert p.on_time_rate == 0.5
    e = board["emergency"]
    assert (e.published, e.published_late, e.published_on_time) == (1, 1, 0)
    assert e.on_time_rate == 0.0
    m = board["monitoring"]
    assert (m.published_on_time, m.overdue) == (1, 1)
    for code in ("basic_info", "total_control", "pollution_prevention", "fees", "inspection"):
        empty = board[code]
        assert (empty.published, empty.overdue, empty.pending) == (0, 0, 0)
        assert empty.on_time_rate is None

    later = by_code(scoreboard(db, 2027, date(2027, 2, 1)))
    assert later["penalty"].published_late == 1  # p11, published in 2027
    assert later["penalty"].published == 1
    earlier = by_code(scoreboard(db, 2025, TODAY))["emergency"]  # e1 was due in 2025 too
    assert (earlier.published_on_time, earlier.published_late) == (1, 1)

    types = scoreboard(db, 2026, TODAY, by="record_type")
    assert {t.code for t in types} == {
        code for (code,) in db.execute("SELECT code FROM disclosure_record_types")
    }
    typed = by_code(types)
    assert typed["exceedance_notice"].category == "monitoring"
    assert typed["exceedance_notice"].published_on_time == 1
    assert typed["daily_summary"].overdue == 1
    assert typed["penalty_decision"].published == 6
    assert typed["penalty_decision"].deadline_days == 7
    ordinals = [CATEGORIES.index(t.category) for t in types]
    assert ordinals == sorted(ordinals)


def test_scoreboard_rejects_unknown_grouping(db: psycopg.Connection) -> None:
    with pytest.raises(ValueError):
        scoreboard(db, 2026, TODAY, by="district")  # type: ignore[arg-type]


def _random_records(db: psycopg.Connection) -> list[Rec]:
    rng = random.Random(20261116)
    enterprises = [enterprise(db, f"企业{i}") for i in range(6)]
    types = list(db.execute("SELECT code, category FROM disclosure_record_types ORDER BY code"))
    recs: list[Rec] = []
    for i in range(300):
        record_type, category = rng.choice(types)
        formed = datetime(2025, 11, 1, tzinfo=UTC) + timedelta(minutes=rng.randrange(600_000))
        due = (formed.astimezone(SHANGHAI) + timedelta(days=rng.randrange(0, 30))).date()
        due_on = None if rng.random() < 0.05 else due
        status = rng.choice(["draft", "approved", "published", "superseded", "withdrawn"])
        published = None
        if status not in ("draft", "approved"):
            published = formed + timedelta(minutes=rng.randrange(60_000))
        ent = rng.choice([None, *enterprises])
        key = f"r{i}"
        if status == "published" and rng.random() < 0.3:  # a correction: v1 superseded
            assert published is not None
            recs.append(
                Rec(
                    key,
                    record_type,
                    category,
                    "superseded",
                    formed,
                    due_on,
                    published - timedelta(days=1),
                    1,
                    ent,
                )
            )
            recs.append(Rec(key, record_type, category, status, formed, due_on, published, 2, ent))
        else:
            recs.append(Rec(key, record_type, category, status, formed, due_on, published, 1, ent))
    for rec in recs:
        insert(db, rec)
    return recs


def test_annual_report_counts_match_the_records(db: psycopg.Connection) -> None:
    recs = _random_records(db)
    year, today = 2026, date(2026, 8, 1)
    report = annual_report(db, year, today)

    def published_in_year(r: Rec) -> bool:
        return r.published_at is not None and r.published_at.astimezone(SHANGHAI).year == year

    published = [r for r in recs if published_in_year(r)]
    assert published, "the generated data should publish something in the year"

    def on_time(r: Rec) -> bool:
        assert r.published_at is not None and r.due_on is not None
        return r.published_at.astimezone(SHANGHAI).date() <= r.due_on

    expected: dict[str, Counter[str]] = {code: Counter() for code in CATEGORIES}
    enterprises: dict[str, set[int]] = {code: set() for code in CATEGORIES}
    for r in published:
        c = expected[r.category]
        c["published"] += 1
        c["corrections"] += r.version > 1
        c["withdrawals"] += r.status == "withdrawn"
        c["exceedance_notices"] += r.record_type == "exceedance_notice"
        if r.due_on is None:
            c["without_deadline"] += 1
        elif on_time(r):
            c["on_time"] += 1
        else:
            c["late"] += 1
        if r.enterprise_id is not None:
            enterprises[r.category].add(r.enterprise_id)
    for r in recs:
        if (
            r.status in ("draft", "approved")
            and r.due_on is not None
            and r.due_on.year == year
            and r.due_on < today
        ):
            expected[r.category]["overdue"] += 1

    assert [row.code for row in report.categories] == list(CATEGORIES)
    fields = (
        "published",
        "corrections",
        "withdrawals",
        "on_time",
        "late",
        "without_deadline",
        "exceedance_notices",
        "overdue",
    )
    for row in report.categories:
        c = expected[row.code]
        assert {f: getattr(row, f) for f in fields} == {f: c[f] for f in fields}, row.code
        assert row.enterprises == len(enterprises[row.code])
        rate = c["on_time"] / (c["on_time"] + c["late"]) if c["on_time"] + c["late"] else None
        assert row.on_time_rate == (None if rate is None else round(rate, 4))
    total = report.total
    for f in fields:
        assert getattr(total, f) == sum(c[f] for c in expected.values()), f
    assert total.published == len(published)
    assert total.enterprises == len({r.enterprise_id for r in published if r.enterprise_id})
    on, late = (
        sum(c["on_time"] for c in expected.values()),
        sum(c["late"] for c in expected.values()),
    )
    assert total.on_time_rate == round(on / (on + late), 4)

    late_items = [
        r for r in published if r.due_on is not None and r.status != "withdrawn" and not on_time(r)
    ]
    kinds = Counter(item.kind for item in report.exceptions)
    assert kinds["late"] == len(late_items)
    assert kinds["withdrawn"] == sum(c["withdrawals"] for c in expected.values())
    assert kinds["overdue"] == total.overdue
    assert report.exceptions_found == len(report.exceptions)
    for item in report.exceptions:
        if item.kind in ("late", "overdue"):
            assert item.working_days_late is not None and item.working_days_late >= 0

    assert report.year == year and report.today == today and not report.year_complete
    assert report.calendar_known and report.calendar_caveat is None
    assert report.start == datetime(2026, 1, 1, tzinfo=SHANGHAI)


def test_annual_report_of_an_unknown_year_has_the_caveat(db: psycopg.Connection) -> None:
    report = annual_report(db, 2027, date(2028, 1, 5))
    assert report.calendar_known is False
    assert report.calendar_caveat and "2027" in report.calendar_caveat
    assert report.year_complete
    assert report.total.published == 0 and report.total.on_time_rate is None
    assert len(report.categories) == len(CATEGORIES) == 9 and report.exceptions == []
