"""The workers' LISTEN loop on the real database: first pass after LISTEN, wakes on NOTIFY and
on the timeout, reconnects when its connections are killed, survives a bug in ``wake``."""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from psycopg import Notify

from schemas.core.listen import Backoff, Listener, listen_statement
from tests.fixtures.mqtt import wait_until

CHANNEL = "sourcewatch_test_listen"
FAST = Backoff(first_s=0.01, max_s=0.05)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(1, 1.0), (2, 2.0), (3, 4.0), (5, 16.0), (6, 30.0), (20, 30.0)],
)
def test_backoff_doubles_up_to_its_cap(failures: int, delay: float) -> None:
    assert Backoff(first_s=1.0, max_s=30.0).delay(failures) == delay


def test_listen_statement_quotes_the_channel_names() -> None:
    statement = listen_statement(["sourcewatch_cases", 'odd "name'])
    assert statement.as_string() == 'LISTEN "sourcewatch_cases"; LISTEN "odd ""name"'


class Running:
    """A listener on its own thread; ``wakes`` gets the payloads of each wake."""

    def __init__(
        self,
        database_url: str,
        wake: Callable[[psycopg.Connection[Any]], None],
        wait_s: float,
        backoff: Backoff,
    ) -> None:
        self.application_name = f"sourcewatch.test.{uuid.uuid4().hex[:8]}"
        self.listener = Listener.for_database(
            database_url,
            [CHANNEL],
            application_name=self.application_name,
            wait_s=wait_s,
            name="test listener",
            backoff=backoff,
        )
        self.wakes: queue.Queue[list[str]] = queue.Queue()
        self.stop = threading.Event()

        def record(conn: psycopg.Connection[Any], notes: Sequence[Notify]) -> None:
            wake(conn)
            self.wakes.put([n.payload for n in notes])

        self.thread = threading.Thread(target=self.listener.run, args=(self.stop, record))

    def next_with(self, payload: str) -> None:
        """Wait for a wake that carries ``payload`` (wakes without it may come first)."""
        while payload not in self.wakes.get(timeout=10):
            pass


@contextmanager
def running(
    database_url: str,
    wake: Callable[[psycopg.Connection[Any]], None] = lambda conn: None,
    wait_s: float = 60.0,
    backoff: Backoff = FAST,
) -> Iterator[Running]:
    """Without ``wait_s`` it only wakes on notifications (and after connecting)."""
    r = Running(database_url, wake, wait_s, backoff)
    r.thread.start()
    try:
        yield r
    finally:
        r.stop.set()
        r.thread.join(10)
    assert not r.thread.is_alive()
    assert not r.listener.connected


def notify(conn: psycopg.Connection[Any], payload: str) -> None:
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))


def backend(conn: psycopg.Connection[Any], application_name: str) -> int | None:
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
        " AND datname = current_database()",
        (application_name,),
    ).fetchone()
    return None if row is None else int(row[0])


def test_a_notification_sent_during_the_first_pass_is_not_missed(
    database_url: str, db: psycopg.Connection
) -> None:
    """The first pass reads after LISTEN: what commits after its read wakes it again."""
    first = threading.Event()

    def wake(conn: psycopg.Connection[Any]) -> None:
        if not first.is_set():
            first.set()
            notify(db, "sent during the first pass")

    with running(database_url, wake) as r:
        assert r.wakes.get(timeout=10) == []  # the first pass, before any notification
        r.next_with("sent during the first pass")
        assert r.listener.connected


def test_it_wakes_on_each_notification_and_after_the_wait_without_one(
    database_url: str, db: psycopg.Connection
) -> None:
    with running(database_url, wait_s=0.2) as r:
        assert r.wakes.get(timeout=10) == []
        notify(db, "one")
        r.next_with("one")
        assert r.wakes.get(timeout=10) == []  # wait_s passed without a notification
        notify(db, "two")
        r.next_with("two")


@pytest.mark.parametrize("which", ["listen", "work"])
def test_it_reconnects_when_a_connection_is_killed(
    database_url: str, db: psycopg.Connection, which: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Killing the listening backend, or the one ``wake`` works on, makes the loop reopen both
    and LISTEN again; notifications reach it as before."""

    def wake(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SELECT 1")

    caplog.set_level(logging.WARNING, logger="schemas.core.listen")
    with running(database_url, wake) as r:
        name = r.application_name + (".listen" if which == "listen" else "")
        r.wakes.get(timeout=10)
        killed = backend(db, name)
        assert killed is not None
        db.execute("SELECT pg_terminate_backend(%s)", (killed,))
        # notify until it gets through: sent while the loop reconnects, a notification is lost
        # by design (the first pass after LISTEN reads what was committed meanwhile)
        for n in range(1000):
            notify(db, f"after the kill {n}")
            if any(p.startswith("after the kill") for p in r.wakes.get(timeout=10)):
                break
        else:
            pytest.fail("no notification got through after the reconnect")
        assert backend(db, name) not in (None, killed)
        assert r.listener.connected
    assert "test listener: database unavailable" in caplog.text


def test_it_is_not_ready_while_it_waits_to_reconnect(
    database_url: str, db: psycopg.Connection
) -> None:
    with running(database_url, backoff=Backoff(first_s=600.0)) as r:
        r.wakes.get(timeout=10)
        assert r.listener.connected
        killed = backend(db, r.application_name + ".listen")
        db.execute("SELECT pg_terminate_backend(%s)", (killed,))
        wait_until(lambda: not r.listener.connected, what="readiness to drop")
        assert backend(db, r.application_name + ".listen") is None  # waiting out the back-off


def test_a_bug_in_wake_is_logged_and_the_loop_starts_over(
    database_url: str, db: psycopg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    def wake(conn: psycopg.Connection[Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ValueError("a bug")

    with running(database_url, wake) as r:
        assert r.wakes.get(timeout=10) == []  # the second pass, on new connections
        notify(db, "still listening")
        r.next_with("still listening")
    assert "test listener failed; starting over" in caplog.text
    assert "ValueError: a bug" in caplog.text
