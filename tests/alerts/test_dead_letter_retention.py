"""Issue 15: nothing expired dead letters; the evaluator's sweep now does, as the alerts role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from alerts.evaluator import Evaluator, EvaluatorOptions
from alerts.retention import expire_dead_letters
from alerts.settings import AlertsSettings

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def letter(conn: psycopg.Connection, days_old: float, n: int) -> None:
    conn.execute(
        "INSERT INTO dead_letters (received_at, transport, reason, detail, raw, digest) "
        "VALUES (%s, 'tcp', 'format', 'garbage', %s, %s)",
        (NOW - timedelta(days=days_old), b"x%d" % n, b"d%d" % n),
    )


def ages(conn: psycopg.Connection) -> list[float]:
    rows = conn.execute("SELECT received_at FROM dead_letters ORDER BY received_at").fetchall()
    return [round((NOW - at) / timedelta(days=1), 1) for (at,) in rows]


def test_the_sweep_expires_dead_letters_past_the_retention(
    db: psycopg.Connection, role_urls: dict[str, str]
) -> None:
    for n, days in enumerate((400, 91, 89.5, 1)):
        letter(db, days, n)
    settings = AlertsSettings(database_url=role_urls["alerts"], dead_letter_retention_days=90)
    ev = Evaluator(EvaluatorOptions.from_settings(settings), clock=lambda: NOW)
    with psycopg.connect(role_urls["alerts"], autocommit=True) as conn:
        ev.sweep(conn)
    assert ages(db) == [89.5, 1.0]


def test_expiry_goes_in_batches_until_none_is_left(db: psycopg.Connection) -> None:
    for n in range(25):
        letter(db, 100, n)
    letter(db, 1, 99)
    assert expire_dead_letters(db, NOW, timedelta(days=90), batch=10) == 25
    assert len(ages(db)) == 1
