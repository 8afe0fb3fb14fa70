"""``python -m api``: the HTTP API as its own process (settings from the environment)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from api.server import serve
from api.settings import ApiSettings

__all__ = ["main"]


def main() -> int:
    settings = ApiSettings.from_environ()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    serve(settings, log_config=_log_config(settings.log_level))
    return 0


def _log_config(level: str) -> dict[str, Any]:
    """The set-up above for worker processes."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "line",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
    }


if __name__ == "__main__":
    sys.exit(main())
