"""Run the API under uvicorn on ``settings.api_host``:``settings.api_port``."""

from __future__ import annotations

import uvicorn

from api.app import create_app
from api.settings import ApiSettings

__all__ = ["build_server", "serve"]


def build_server(settings: ApiSettings) -> uvicorn.Server:
    """A uvicorn server for the app; ``server.should_exit = True`` stops it. Behind a reverse
    proxy set ``FORWARDED_ALLOW_IPS`` to its address, so rate limits count the real clients
    (uvicorn reads ``X-Forwarded-For``)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.api_host,
        port=settings.api_port,
        proxy_headers=True,
        log_config=None,  # keep the process's logging configuration
        server_header=False,
    )
    return uvicorn.Server(config)


def serve(settings: ApiSettings) -> None:
    """Serve until interrupted."""
    build_server(settings).run()
