"""Logging set-up of every ``sourcewatch`` process: readable text lines, or one JSON object per
line (``SOURCEWATCH_LOG_FORMAT=json``) for log collectors."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pythonjsonlogger.json import JsonFormatter

__all__ = ["TEXT_FORMAT", "JsonLineFormatter", "configure_logging", "logging_config"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLineFormatter(JsonFormatter):
    """``{"time": ISO 8601 UTC, "level", "logger", "message"[, "exc_info"], **extra}``."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def configure_logging(
    level: str, log_format: Literal["text", "json"] = "text", stream: IO[str] | None = None
) -> None:
    """Send the root logger's records to ``stream`` (stderr) in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLineFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler])


def logging_config(level: str, log_format: Literal["text", "json"] = "text") -> dict[str, Any]:
    """:func:`configure_logging` as a :func:`logging.config.dictConfig` dict, for processes
    started by a library (the API's uvicorn workers)."""
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonLineFormatter"} if log_format == "json" else {"format": TEXT_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }
