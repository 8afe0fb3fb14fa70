"""Log lines: text by default, one JSON object per line with ``SOURCEWATCH_LOG_FORMAT=json``."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sourcewatch.cli import main
from sourcewatch.logs import JsonLineFormatter, configure_logging


def _logger(stream: io.StringIO, formatter: logging.Formatter) -> logging.Logger:
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    logger = logging.getLogger("sourcewatch.test.logs")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_object_per_line_with_time_level_logger_message() -> None:
    stream = io.StringIO()
    log = _logger(stream, JsonLineFormatter())
    log.info("stored %d frames from %s", 3, "010000A8900016F000169DC1")
    log.warning("第二行\nwith a newline inside")
    first, second = _lines(stream)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO"
    assert first["logger"] == "sourcewatch.test.logs"
    assert first["message"] == "stored 3 frames from 010000A8900016F000169DC1"
    when = datetime.fromisoformat(first["time"])
    assert first["time"].endswith("Z") and when.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - when) < timedelta(minutes=1)
    assert second["level"] == "WARNING" and second["message"] == "第二行\nwith a newline inside"
    assert len(stream.getvalue().splitlines()) == 2


def test_exception_as_a_string_and_extra_fields() -> None:
    stream = io.StringIO()
    log = _logger(stream, JsonLineFormatter())
    try:
        raise ValueError("bad CRC")
    except ValueError:
        extra = {"mn": "MN1", "outlet_id": 7, "day": datetime(2026, 3, 1)}
        log.exception("decoder failed", extra=extra)
    (line,) = _lines(stream)
    assert line["level"] == "ERROR" and line["message"] == "decoder failed"
    assert isinstance(line["exc_info"], str)
    assert "Traceback" in line["exc_info"] and "ValueError: bad CRC" in line["exc_info"]
    assert line["mn"] == "MN1" and line["outlet_id"] == 7
    assert line["day"].startswith("2026-03-01")  # anything JSON lacks becomes a string
    assert "exc_text" not in line and "args" not in line and "msg" not in line


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger with no handlers, as in a fresh process (pytest adds its own to it for
    each test), restored afterwards."""
    logger = logging.getLogger()
    saved, level = logger.handlers[:], logger.level
    logger.handlers = []
    try:
        yield logger
    finally:
        logger.handlers = saved
        logger.setLevel(level)


def test_configure_logging_json() -> None:
    stream = io.StringIO()
    with bare_root() as root:
        configure_logging("debug", "json", stream)
        logging.getLogger("sourcewatch.gateway").debug("listening on %s", "0.0.0.0:9212")
        assert root.level == logging.DEBUG
    (line,) = _lines(stream)
    assert (
        line["logger"] == "sourcewatch.gateway" and line["message"] == "listening on 0.0.0.0:9212"
    )


def test_configure_logging_text_is_the_default() -> None:
    stream = io.StringIO()
    with bare_root():
        configure_logging("INFO", stream=stream)
        logging.getLogger("sourcewatch").info("hello")
        logging.getLogger("sourcewatch").debug("not shown")
    (line,) = stream.getvalue().splitlines()
    assert line.endswith(" INFO sourcewatch: hello")


def test_main_installs_the_json_formatter_from_the_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOURCEWATCH_LOG_FORMAT", "json")
    monkeypatch.setenv("SOURCEWATCH_LOG_LEVEL", "INFO")
    with bare_root() as root:
        assert main(["keys", "generate", "--out", str(tmp_path / "key.pem")]) == 0
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonLineFormatter)
    assert "key id" in capsys.readouterr().out
