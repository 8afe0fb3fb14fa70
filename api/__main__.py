"""``python -m api``: the HTTP API as its own process (settings from the environment)."""

from __future__ import annotations

import logging
import sys

from api.server import serve
from schemas.core.settings import get_settings

__all__ = ["main"]


def main() -> int:
    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
