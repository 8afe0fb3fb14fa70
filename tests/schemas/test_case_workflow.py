"""The staff case workflow: every action changes the case and appends exactly one audited event.

Two acknowledgements of the same case, however close together, leave one ``acknowledged``
event: the second waits on the row lock, then gets ``InvalidTransition`` naming the first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from schemas.cases.errors import CaseError, CaseNotFound, InvalidTransition
from schemas.cases.model import Case, CaseEvent, get_case, history
from schemas.cases.workflow import acknowledge, assign, close, comment, record_reply
from tests.fixtures.registry import add_outlet

HOUR = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)


def open_case(db: psycopg.Connection, *, mn: str = "88888880000001") -> int:
    """An open exceedance case, as the evaluator leaves it: the row and its 'opened' event."""
    outlet = add_outlet(db, mn)
    row = db.execute(
        "INSERT INTO cases (kind, outlet_id, pollutant, period, limit_id, severity, first_at, "
        "last_at, details) VALUES ('exceedance', %s, 'a21026', 'hour', 7, 'warning', %s, %s, "
        """'{"limit_source": "standard", "mean": 150.5}') RETURNING id""",
        (outlet, HOUR, HOUR),
    ).fetchone()
    assert row is not None
    db.execute(
        "INSERT INTO case_events (case_id, actor, action, severity) "
        "VALUES (%s, 'evaluator', 'opened', 'warning')",
        (row[0],),
    )
    return int(row[0])


def staff_events(db: psycopg.Connection, case_id: int) -> list[CaseEvent]:
    return [e for e in history(db, case_id) if e.actor != "evaluator"]


def test_get_case_and_history(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    case = get_case(db, case_id)
    assert isinstance(case, Case)
    assert (case.id, case.state, case.pollutant, case.limit_id) == (case_id, "open", "a21026", 7)
    assert case.limit_source == "standard"
    assert case.acknowledged_at is None and case.replies == []
    [opened] = history(db, case_id)
    assert (opened.case_id, opened.actor, opened.action) == (case_id, "evaluator", "opened")


def test_acknowledge(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    case = acknowledge(db, case_id, "zhang.wei", note="seen; calling the plant")
    assert case.acknowledged_by == "zhang.wei" and case.acknowledged_at is not None
    assert get_case(db, case_id) == case
    [event] = staff_events(db, case_id)
    assert (event.actor, event.action) == ("zhang.wei", "acknowledged")
    assert event.detail == {"note": "seen; calling the plant"}
    assert event.at == case.acknowledged_at  # same transaction, same now()


def test_acknowledge_twice_is_refused(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    acknowledge(db, case_id, "zhang.wei")
    with pytest.raises(InvalidTransition, match="already acknowledged by zhang.wei"):
        acknowledge(db, case_id, "li.na")
    assert get_case(db, case_id).acknowledged_by == "zhang.wei"
    assert [e.action for e in staff_events(db, case_id)] == ["acknowledged"]


def test_assign_and_reassign(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    assert assign(db, case_id, "zhang.wei", "li.na").assigned_to == "li.na"
    assert assign(db, case_id, "zhang.wei", "wang.fang").assigned_to == "wang.fang"
    with pytest.raises(InvalidTransition, match="already assigned to wang.fang"):
        assign(db, case_id, "zhang.wei", "wang.fang")
    events = staff_events(db, case_id)
    assert [e.detail for e in events] == [
        {"assignee": "li.na", "previous": None},
        {"assignee": "wang.fang", "previous": "li.na"},
    ]
    assert {e.action for e in events} == {"assigned"}


def test_comment_appends_an_event_and_leaves_the_row(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    before = get_case(db, case_id)
    assert comment(db, case_id, "li.na", "  flag D on the analyser since 09:40  ") == before
    assert get_case(db, case_id) == before
    [event] = staff_events(db, case_id)
    assert (event.action, event.detail) == (
        "commented",
        {"text": "flag D on the analyser since 09:40"},
    )


def test_close_needs_a_reason(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    for reason in ("", "   "):
        with pytest.raises(InvalidTransition, match="a reason is required"):
            close(db, case_id, "zhang.wei", reason)
    assert get_case(db, case_id).state == "open"
    assert staff_events(db, case_id) == []


def test_close_and_close_again(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    case = close(db, case_id, "zhang.wei", "penalty decision 2024-17 issued")
    assert (case.state, case.close_reason) == ("closed", "penalty decision 2024-17 issued")
    assert case.closed_at is not None
    with pytest.raises(InvalidTransition, match="already closed"):
        close(db, case_id, "li.na", "duplicate")
    [event] = staff_events(db, case_id)
    assert (event.action, event.detail) == ("closed", {"reason": "penalty decision 2024-17 issued"})


def test_what_a_closed_case_still_accepts(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    close(db, case_id, "zhang.wei", "resolved")
    with pytest.raises(InvalidTransition, match="it is closed"):
        assign(db, case_id, "zhang.wei", "li.na")
    comment(db, case_id, "li.na", "for the record")
    record_reply(db, case_id, "li.na", "企业说明：检修期间")
    acknowledge(db, case_id, "wang.fang")  # the evaluator may close before anyone looked
    actions = [e.action for e in staff_events(db, case_id)]
    assert actions == ["closed", "commented", "replied", "acknowledged"]


def test_record_reply(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    case = record_reply(db, case_id, "li.na", "企业说明：脱硫塔检修，已报备。")
    case = record_reply(db, case_id, "zhang.wei", "报备未获批准", on_behalf_of_enterprise=False)
    events = staff_events(db, case_id)
    assert [e.action for e in events] == ["replied", "replied"]
    assert events[0].detail == {
        "text": "企业说明：脱硫塔检修，已报备。",
        "on_behalf_of_enterprise": True,
    }
    replies = get_case(db, case_id).details["replies"]
    assert replies == case.replies
    assert [(r["event_id"], r["actor"], r["on_behalf_of_enterprise"]) for r in replies] == [
        (events[0].id, "li.na", True),
        (events[1].id, "zhang.wei", False),
    ]
    assert replies[0]["at"] == events[0].at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert case.details["mean"] == 150.5 and case.details["limit_source"] == "standard"


ACTIONS: dict[str, Callable[[psycopg.Connection, int], object]] = {
    "acknowledge": lambda db, cid: acknowledge(db, cid, "a"),
    "assign": lambda db, cid: assign(db, cid, "a", "b"),
    "comment": lambda db, cid: comment(db, cid, "a", "text"),
    "close": lambda db, cid: close(db, cid, "a", "reason"),
    "record_reply": lambda db, cid: record_reply(db, cid, "a", "text"),
    "history": history,
    "get_case": get_case,
}


@pytest.mark.parametrize("action", ACTIONS)
def test_unknown_case(db: psycopg.Connection, action: str) -> None:
    with pytest.raises(CaseNotFound) as info:
        ACTIONS[action](db, 424242)
    assert str(info.value) == "case 424242 does not exist"
    assert info.value.case_id == 424242


@pytest.mark.parametrize("actor", ["", "  ", "evaluator"])
def test_actor_is_a_staff_user(db: psycopg.Connection, actor: str) -> None:
    case_id = open_case(db)
    with pytest.raises(InvalidTransition):
        acknowledge(db, case_id, actor)
    assert staff_events(db, case_id) == []


def test_blank_texts_are_refused(db: psycopg.Connection) -> None:
    case_id = open_case(db)
    with pytest.raises(InvalidTransition, match="a comment is required"):
        comment(db, case_id, "li.na", " ")
    with pytest.raises(InvalidTransition, match="a reply is required"):
        record_reply(db, case_id, "li.na", "")
    with pytest.raises(InvalidTransition, match="an assignee is required"):
        assign(db, case_id, "li.na", "")
    assert staff_events(db, case_id) == []


def test_change_and_event_share_the_callers_transaction(
    db: psycopg.Connection, database_url: str
) -> None:
    case_id = open_case(db)
    with psycopg.connect(database_url) as conn:  # not autocommit: the caller's transaction
        conn.execute("SELECT 1")
        acknowledge(conn, case_id, "zhang.wei")
        comment(conn, case_id, "zhang.wei", "draft")
        assert len(history(conn, case_id)) == 3
        conn.rollback()
    assert get_case(db, case_id).acknowledged_at is None
    assert staff_events(db, case_id) == []


def test_database_errors_are_translated(db: psycopg.Connection, database_url: str) -> None:
    case_id = open_case(db)
    conn = psycopg.connect(database_url)
    conn.close()
    with pytest.raises(CaseError) as info:
        acknowledge(conn, case_id, "zhang.wei")
    assert (
        str(info.value)
        == f"could not acknowledge case {case_id}: database error (OperationalError)"
    )
    assert isinstance(info.value.__cause__, psycopg.Error)


def test_second_acknowledgement_waits_for_the_first_then_is_refused(
    db: psycopg.Connection, database_url: str
) -> None:
    case_id = open_case(db)
    outcome: dict[str, Any] = {}
    with psycopg.connect(database_url) as first:
        first.execute("SELECT 1")  # hold the lock until we commit
        acknowledge(first, case_id, "zhang.wei")

        def second() -> None:
            with psycopg.connect(database_url, autocommit=True) as conn:
                try:
                    outcome["case"] = acknowledge(conn, case_id, "li.na")
                except InvalidTransition as exc:
                    outcome["error"] = exc

        thread = threading.Thread(target=second)
        thread.start()
        _wait_for_lock_wait(db)
        assert not outcome, "the second acknowledgement must wait for the row lock"
        first.commit()
        thread.join(timeout=10)
    assert "already acknowledged by zhang.wei" in str(outcome["error"])
    assert get_case(db, case_id).acknowledged_by == "zhang.wei"
    assert [e.actor for e in staff_events(db, case_id)] == ["zhang.wei"]


def test_many_concurrent_acknowledgements_leave_one(
    db: psycopg.Connection, database_url: str
) -> None:
    case_id = open_case(db)
    start = threading.Barrier(8)
    results: list[str] = []

    def ack(n: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            start.wait()
            try:
                acknowledge(conn, case_id, f"user{n}")
                results.append("ok")
            except InvalidTransition:
                results.append("refused")

    threads = [threading.Thread(target=ack, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(results) == ["ok"] + ["refused"] * 7
    [event] = staff_events(db, case_id)
    assert event.action == "acknowledged"
    assert event.actor == get_case(db, case_id).acknowledged_by


def _wait_for_lock_wait(db: psycopg.Connection, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = db.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
        if row and row[0]:
            return
        time.sleep(0.02)
    raise AssertionError("no session is waiting for the case row lock")
