"""``sourcewatch completeness MN``: the rates and open gaps of an outlet, on the command line."""

from __future__ import annotations

import psycopg
import pytest

from sourcewatch import cli
from tests.api.test_completeness import upload
from tests.fixtures.registry import add_outlet

pytestmark = pytest.mark.integration


def test_rates_and_gaps_of_a_day(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    upload(db, add_outlet(db, "GAS0001"))  # 2026-11-28: nothing in hour 3, hour 5 flagged M
    day = ["--from", "2026-11-28", "--to", "2026-11-28"]
    assert cli.main(["completeness", "GAS0001", *day, "--gaps"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:6] == ["2026-11-28", "all", "hour", "48", "46", "46"]
    assert "95.8 %" in lines[1] and "met (90.0 %, unconfirmed)" in lines[1]
    assert lines[2:] == [
        "gap 2026-11-28 03:00 hour 0/2 received, short: a21002, a21026",
        "gap 2026-11-28 03:00 min  0/120 received, short: a21002, a21026",
    ]
    assert cli.main(["completeness", "GAS0001", *day, "--all"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + 6
    assert cli.main(["completeness", "NOPE", *day]) == 1
    assert "no outlet with MN NOPE" in capsys.readouterr().err
    assert cli.main(["completeness", "GAS0001", "--from", "2026-11-29", "--to", "2026-11-28"]) == 2
