"""The ingest benchmark's choice of brokers (``bench.ingest.chosen_brokers``): one named that
this machine lacks is said on stderr, not left out without a word."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from bench import ingest


def _found() -> list[tuple[str, object]]:
    return [("Mosquitto", lambda: nullcontext("mqtt://127.0.0.1:1"))]


def test_a_broker_named_is_chosen_whatever_its_case(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ingest, "brokers", _found)
    assert [name for name, _ in ingest.chosen_brokers("mosquitto")] == ["Mosquitto"]
    assert [name for name, _ in ingest.chosen_brokers(None)] == ["Mosquitto"]
    assert capsys.readouterr().err == ""


def test_a_broker_named_and_missing_is_said(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(ingest, "brokers", _found)
    assert ingest.chosen_brokers("Aedes") == []
    assert capsys.readouterr().err == (
        "end to end: no Aedes broker on this machine (found: Mosquitto)\n"
    )
