"""``python -m api``: the HTTP API as its own process (settings from the environment)."""

from __future__ import annotations

import logging
import sys

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
    serve(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
