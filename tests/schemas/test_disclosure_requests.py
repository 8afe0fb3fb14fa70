"""Disclosure on request: the statutory clock across the 2026 Mid-autumn and National Day
holidays, the supplement and the extension, the overdue list, tracking by reference and token,
and the audit log — against the real database.

The due days below are counted by hand from the State Council's 2026 holiday notice (Mid-autumn
25–27 September, National Day 1–7 October, make-up working days Sunday 20 September and Saturday
10 October), not computed by the code under test.
"""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from schemas.disclosure import challenges
from schemas.disclosure import requests as rq
from schemas.disclosure.errors import ContentError, InvalidAction, RequestNotFound
from schemas.staff.accounts import add_staff_user

pytestmark = pytest.mark.integration

SEPT_23 = date(2026, 9, 23)  # a Wednesday before both holidays


def register(db: psycopg.Connection, received_on: date = SEPT_23, **values: str) -> rq.Submitted:
    return rq.submit(
        db,
        requester_name=values.get("requester_name", "张三"),
        contact=values.get("contact", "zhangsan@example.cn"),
        description=values.get("description", "2026年第三季度某企业监督性监测报告"),
        preferred_form="electronic",
        channel=values.get("channel", "post"),
        received_on=received_on,
        actor="li.na",
    )


def test_answer_clock_across_the_holidays_and_an_extension(db: psycopg.Connection) -> None:
    submitted = register(db)
    request = submitted.request
    assert request.reference.startswith("YSQ-2026-")
    # 20 working days after 23 Sept: 24, 28, 29, 30 Sept, 8, 9, 10 (Sat, make-up), 12–16,
    # 19–23, 26, 27, 28 Oct. Monday–Friday alone would say 21 October.
    assert request.due_on == date(2026, 10, 28)
    assert request.status == "received" and request.answer_days == 20

    extended = rq.extend(
        db, request.id, actor="wang.qiang", days=20, reason="需调取档案", on=date(2026, 10, 27)
    )
    # 20 more working days after 28 Oct: 29, 30 Oct, 2–6, 9–13, 16–20, 23, 24, 25 Nov.
    assert extended.due_on == date(2026, 11, 25)
    with pytest.raises(InvalidAction, match="only once"):
        rq.extend(db, request.id, actor="wang.qiang", days=1, reason="again")

    answered = rq.answer(
        db,
        request.id,
        actor="li.na",
        outcome="disclosed",
        text="经审查，现向您提供该信息。",
        on=date(2026, 11, 25),
    )
    assert answered.status == "answered" and answered.on_time is True
    with pytest.raises(InvalidAction, match="already answered"):
        rq.answer(db, request.id, actor="li.na", outcome="disclosed", text="again")

    actions = [
        row[0]
        for row in db.execute(
            "SELECT action FROM staff_audit WHERE object_type = 'disclosure_request'"
            " AND object_id = %s ORDER BY id",
            (str(request.id),),
        )
    ]
    assert actions == ["request.submit", "request.extend", "request.answer"]


def test_extension_is_bounded_and_before_the_deadline(db: psycopg.Connection) -> None:
    request = register(db).request
    with pytest.raises(ContentError, match="1 to 20"):
        rq.extend(db, request.id, actor="wang.qiang", days=21, reason="too long")
    with pytest.raises(ContentError, match="reason"):
        rq.extend(db, request.id, actor="wang.qiang", days=5, reason="  ")
    with pytest.raises(InvalidAction, match="has passed"):
        rq.extend(db, request.id, actor="wang.qiang", days=5, reason="late", on=date(2026, 10, 29))


def test_supplement_restarts_the_clock(db: psycopg.Connection) -> None:
    request = register(db).request
    # The notice is due within 7 working days of receipt: by Saturday 10 October (make-up day).
    with pytest.raises(InvalidAction, match="2026-10-10"):
        rq.request_supplement(db, request.id, actor="li.na", note="请明确", on=date(2026, 10, 12))
    waiting = rq.request_supplement(
        db, request.id, actor="li.na", note="请明确所需监测报告的企业名称", on=date(2026, 9, 29)
    )
    assert waiting.status == "supplement_requested"
    assert rq.overdue(db, date(2026, 12, 3)) == []  # the clock stands still meanwhile
    with pytest.raises(InvalidAction, match="supplement"):
        rq.answer(db, request.id, actor="li.na", outcome="disclosed", text="x")
    resumed = rq.supplement_received(db, request.id, actor="li.na", on=date(2026, 10, 9))
    # 20 working days after 9 Oct: 10 (Sat, make-up), 12–16, 19–23, 26–30 Oct, 2–5 Nov.
    assert resumed.clock_start == date(2026, 10, 9)
    assert resumed.due_on == date(2026, 11, 5)
    with pytest.raises(InvalidAction, match="only once"):
        rq.request_supplement(db, request.id, actor="li.na", note="again", on=date(2026, 10, 9))
    late = rq.answer(
        db,
        request.id,
        actor="li.na",
        outcome="not_responsible",
        text="该信息由市水利局负责公开。",
        referred_to="市水利局 0574-00000000",
        on=date(2026, 11, 6),
    )
    assert late.on_time is False and rq.working_days_late(late, date(2026, 12, 3)) == 1


def test_overdue_list(db: psycopg.Connection) -> None:
    late = register(db, date(2026, 10, 28)).request  # due 25 November
    fresh = register(db, date(2026, 11, 20)).request  # due in December
    done = register(db, date(2026, 10, 28)).request
    rq.answer(
        db,
        done.id,
        actor="li.na",
        outcome="not_held",
        text="经检索，该信息不存在。",
        on=date(2026, 11, 2),
    )
    assert late.due_on == date(2026, 11, 25)
    assert [r.id for r in rq.overdue(db, date(2026, 12, 3))] == [late.id]
    assert [r.id for r in rq.overdue(db, date(2026, 11, 25))] == []  # due today is not late
    assert [r.id for r in rq.open_requests(db)] == [late.id, fresh.id]
    assert rq.working_days_late(late, date(2026, 12, 3)) == 6  # 26, 27, 30 Nov, 1–3 Dec


def test_tracking_needs_reference_and_token(db: psycopg.Connection) -> None:
    mine = rq.submit(
        db,
        requester_name="李四",
        contact="13800000000",
        description="某河段水质监测数据",
        preferred_form="paper",
    )
    other = register(db)
    assert mine.request.channel == "online" and mine.request.created_by == rq.PUBLIC
    assert rq.track(db, mine.request.reference, mine.token) == mine.request
    assert rq.track(db, mine.request.reference.lower(), mine.token) == mine.request
    assert rq.track(db, mine.request.reference, other.token) is None
    assert rq.track(db, other.request.reference, mine.token) is None
    assert rq.track(db, "YSQ-2026-NOSUCH", mine.token) is None
    stored = db.execute(
        "SELECT token_sha256 FROM disclosure_requests WHERE id = %s", (mine.request.id,)
    ).fetchone()
    assert stored is not None and mine.token.encode() not in bytes(stored[0])


def test_bad_input_and_unknown_requests(db: psycopg.Connection) -> None:
    with pytest.raises(ContentError, match="description"):
        rq.submit(db, requester_name="张三", contact="x", description=" ", preferred_form="paper")
    with pytest.raises(ContentError, match="preferred_form"):
        rq.submit(db, requester_name="张三", contact="x", description="y", preferred_form="fax")
    with pytest.raises(ContentError, match="channel"):
        rq.submit(
            db,
            requester_name="张三",
            contact="x",
            description="y",
            preferred_form="paper",
            channel="post",
        )
    with pytest.raises(ContentError, match="future"):
        register(db, date(2099, 1, 1))
    request = register(db).request
    with pytest.raises(ContentError, match="outcome"):
        rq.answer(db, request.id, actor="li.na", outcome="upheld", text="x")  # a challenge code
    with pytest.raises(ContentError, match="referred_to"):
        rq.answer(db, request.id, actor="li.na", outcome="not_responsible", text="x")
    with pytest.raises(ContentError, match="assignee"):
        rq.assign(db, request.id, actor="li.na", assignee="nobody")
    add_staff_user(db, "zhao.min", ["editor"], actor="test")
    assert rq.assign(db, request.id, actor="li.na", assignee="zhao.min").assigned_to == "zhao.min"
    with pytest.raises(RequestNotFound):
        rq.get_request(db, 999_999)


def test_answer_attachments(db: psycopg.Connection) -> None:
    request = register(db).request
    pdf = b"%PDF-1.7 answer letter"
    attachment = rq.attach(
        db,
        request.id,
        actor="li.na",
        filename="c:\\letters\\answer.pdf",
        media_type="application/pdf",
        data=pdf,
    )
    assert attachment.filename == "answer.pdf" and attachment.size_bytes == len(pdf)
    with pytest.raises(InvalidAction, match="already attached"):
        rq.attach(
            db, request.id, actor="li.na", filename="a.pdf", media_type="application/pdf", data=pdf
        )
    with pytest.raises(InvalidAction, match="not a application/pdf"):
        rq.attach(
            db,
            request.id,
            actor="li.na",
            filename="a.pdf",
            media_type="application/pdf",
            data=b"MZ",
        )


def test_challenges_are_recorded_and_decided(db: psycopg.Connection) -> None:
    request = register(db).request
    rq.answer(
        db,
        request.id,
        actor="li.na",
        outcome="not_disclosed",
        text="涉及商业秘密",
        on=date(2026, 10, 9),
    )
    filed = challenges.record_challenge(
        db, request.id, actor="li.na", kind="reconsideration", filed_on=date(2026, 10, 20)
    )
    assert filed.outcome == "pending" and filed.decided_on is None
    with pytest.raises(ContentError, match="outcome"):
        challenges.decide(
            db, filed.id, actor="li.na", outcome="disclosed", decided_on=date(2026, 11, 20)
        )
    decided = challenges.decide(
        db, filed.id, actor="li.na", outcome="corrected", decided_on=date(2026, 11, 20)
    )
    assert decided.outcome == "corrected"
    with pytest.raises(InvalidAction, match="already decided"):
        challenges.decide(
            db, filed.id, actor="li.na", outcome="upheld", decided_on=date(2026, 11, 21)
        )
    with pytest.raises(ContentError, match="kind"):
        challenges.record_challenge(
            db, request.id, actor="li.na", kind="appeal", filed_on=date(2026, 10, 20)
        )
    with pytest.raises(ContentError, match="filed_on"):
        challenges.record_challenge(
            db, request.id, actor="li.na", kind="lawsuit", filed_on=date(2026, 9, 1)
        )
    lawsuit = challenges.record_challenge(
        db,
        request.id,
        actor="li.na",
        kind="lawsuit",
        filed_on=date(2026, 10, 21),
        outcome="upheld",
        decided_on=date(2026, 11, 30),
    )
    assert lawsuit.kind == "lawsuit"
    actions = [r[0] for r in db.execute("SELECT action FROM staff_audit ORDER BY id")]
    assert (
        actions.count("request.challenge") == 2 and actions.count("request.challenge_decide") == 1
    )
