"""The annual information-disclosure report (issue 17): a year and more of random records,
requests and challenges, and every number of the report checked against a direct count of what
was created — for the current year cut at ``today`` and for the complete year before (the
year-on-year column)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

import psycopg
import pytest

from schemas.disclosure import challenges as ch
from schemas.disclosure import requests as rq
from schemas.disclosure.annual import PUBLICATION_CHANNELS, information_report
from tests.schemas.test_timeliness import SHANGHAI, Rec, _random_records

pytestmark = pytest.mark.integration

YEAR, TODAY = 2026, date(2026, 11, 20)
OUTCOMES = ["already_public", "disclosed", "partly_disclosed", "not_disclosed", "not_held"]
OUTCOMES += ["cannot_provide", "not_responsible", "not_processed", "other_law", "other"]
CHALLENGE_OUTCOMES = ["upheld", "corrected", "other_result", "pending"]


def _random_requests(db: psycopg.Connection) -> tuple[list[rq.Request], list[ch.Challenge]]:
    rng = random.Random(17)
    made: list[rq.Request] = []
    challenges: list[ch.Challenge] = []
    first, span = date(2025, 6, 1), (date(2026, 12, 1) - date(2025, 6, 1)).days
    for i in range(90):
        received = first + timedelta(days=rng.randrange(span))
        request = rq.submit(
            db,
            requester_name=f"申请人{i}",
            contact="x@example.cn",
            description="某信息",
            preferred_form="paper",
            channel=rng.choice(["post", "in_person", "email", "fax"]),
            received_on=received,
            actor="li.na",
        ).request
        if rng.random() < 0.2:
            request = rq.extend(
                db, request.id, actor="chen.jie", days=rng.randint(1, 20), reason="r", on=received
            )
        if rng.random() < 0.8:
            day = min(received + timedelta(days=rng.randrange(60)), date(2026, 12, 3))
            outcome = rng.choice(OUTCOMES)
            request = rq.answer(
                db,
                request.id,
                actor="li.na",
                outcome=outcome,
                text="答复",
                referred_to="市水利局" if outcome == "not_responsible" else None,
                on=day,
            )
            if rng.random() < 0.3:
                outcome = rng.choice(CHALLENGE_OUTCOMES)
                filed = day + timedelta(days=rng.randrange(30))
                challenges.append(
                    ch.record_challenge(
                        db,
                        request.id,
                        actor="li.na",
                        kind=rng.choice(["reconsideration", "lawsuit"]),
                        filed_on=filed,
                        outcome=outcome,
                        decided_on=None if outcome == "pending" else filed + timedelta(days=20),
                    )
                )
        made.append(request)
    return made, challenges


def _expected(
    year: int,
    last: date,
    recs: list[Rec],
    origin: dict[str, str],
    requests: list[rq.Request],
    challenges: list[ch.Challenge],
) -> dict[str, object]:
    first = date(year, 1, 1)
    published = [
        r
        for r in recs
        if r.published_at is not None and r.published_at.astimezone(SHANGHAI).year == year
    ]
    answered = [r for r in requests if r.answered_on is not None and first <= r.answered_on <= last]
    filed = [c for c in challenges if first <= c.filed_on <= last]
    return {
        "items_published": len(published),
        "by_origin": Counter(origin[r.record_type] for r in published),
        "exceedances_published": sum(r.record_type == "exceedance_notice" for r in published),
        "penalties_published": sum(r.record_type == "penalty_decision" for r in published),
        "received_by_channel": Counter(
            r.channel for r in requests if first <= r.received_on <= last
        ),
        "carried_over": sum(
            r.received_on < first and (r.answered_on is None or r.answered_on >= first)
            for r in requests
        ),
        "answered_by_outcome": Counter(r.outcome for r in answered),
        "answered_on_time": sum(r.answered_on <= r.due_on for r in answered if r.answered_on),
        "answered_late": sum(r.answered_on > r.due_on for r in answered if r.answered_on),
        "open_at_end": sum(
            r.received_on <= last and (r.answered_on is None or r.answered_on > last)
            for r in requests
        ),
        "challenges": Counter((c.kind, c.outcome) for c in filed),
    }


def test_every_number_of_the_report_is_a_direct_count(db: psycopg.Connection) -> None:
    recs = _random_records(db)
    db.execute(
        "UPDATE disclosure_records r SET origin = t.origin"
        " FROM disclosure_record_types t WHERE t.code = r.record_type"
    )
    origin = dict(db.execute("SELECT code, origin FROM disclosure_record_types").fetchall())
    requests, challenges = _random_requests(db)
    report = information_report(db, YEAR, TODAY)
    now = _expected(YEAR, TODAY, recs, origin, requests, challenges)
    before = _expected(YEAR - 1, date(YEAR - 1, 12, 31), recs, origin, requests, challenges)

    # the generated data exercise every part
    assert now["items_published"] and now["carried_over"] and now["open_at_end"]
    assert now["answered_on_time"] and now["answered_late"] and now["challenges"]
    assert before["items_published"] and before["answered_by_outcome"]

    # proactive publication: per category (timeliness.annual_report, tested on its own), the
    # total, channels and origins
    assert report.proactive.total.published == now["items_published"]
    assert [(c.code, c.count) for c in report.channels] == [
        (code, now["items_published"]) for code in PUBLICATION_CHANNELS
    ]
    assert {c.code: c.count for c in report.by_origin} == {
        "staff": now["by_origin"]["staff"],  # type: ignore[index]
        "auto": now["by_origin"]["auto"],  # type: ignore[index]
    }
    assert report.exceedances_published == now["exceedances_published"]
    assert report.penalties_published == now["penalties_published"]
    assert report.exceedances_published == report.proactive.total.exceedance_notices

    # requests
    got = report.requests
    assert {c.code: c.count for c in got.received_by_channel} == {
        code: now["received_by_channel"][code]  # type: ignore[index]
        for code in rq.CHANNELS
    }
    assert got.received == sum(now["received_by_channel"].values())  # type: ignore[attr-defined]
    assert got.carried_over == now["carried_over"]
    assert {c.code: c.count for c in got.answered_by_outcome} == {
        code: now["answered_by_outcome"][code]  # type: ignore[index]
        for code in OUTCOMES
    }
    assert got.answered == got.answered_on_time + got.answered_late
    assert (got.answered_on_time, got.answered_late) == (
        now["answered_on_time"],
        now["answered_late"],
    )
    assert got.open_at_end == now["open_at_end"]

    # reconsiderations and lawsuits, by outcome
    assert {
        (kind, c.code): c.count for kind, counts in report.challenges.items() for c in counts
    } == {
        (kind, code): now["challenges"][(kind, code)]  # type: ignore[index]
        for kind in ("reconsideration", "lawsuit")
        for code in CHALLENGE_OUTCOMES
    }

    # year on year: the same counts for the complete year before
    def headline(e: dict[str, object]) -> dict[str, int]:
        pairs: Counter[tuple[str, str]] = e["challenges"]  # type: ignore[assignment]
        return {
            "items_published": e["items_published"],  # type: ignore[dict-item]
            "requests_received": sum(e["received_by_channel"].values()),  # type: ignore[attr-defined]
            "requests_answered": sum(e["answered_by_outcome"].values()),  # type: ignore[attr-defined]
            "requests_answered_late": e["answered_late"],  # type: ignore[dict-item]
            "reconsiderations": sum(n for (k, _), n in pairs.items() if k == "reconsideration"),
            "lawsuits": sum(n for (k, _), n in pairs.items() if k == "lawsuit"),
            "exceedances_published": e["exceedances_published"],  # type: ignore[dict-item]
            "penalties_published": e["penalties_published"],  # type: ignore[dict-item]
        }

    current, previous = headline(now), headline(before)
    assert {t.code: (t.value, t.previous, t.change) for t in report.year_on_year} == {
        code: (current[code], previous[code], current[code] - previous[code]) for code in current
    }
    for t in report.year_on_year:
        expected_rate = round(t.change / t.previous, 4) if t.previous else None
        assert t.change_rate == expected_rate and t.name_zh and t.name_en
