"""Run the API under uvicorn on ``settings.api_host``:``settings.api_port``: one process, or
``settings.api_workers`` worker processes (one per core by default) sharing the socket, under
uvicorn's supervisor, each accepting the connections another worker with fewer leaves it
(:mod:`api.balance`)."""

from __future__ import annotations

import contextlib
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

from api.app import create_app
from api.balance import ACCEPT_DEFER_S, Board, WorkersConfig
from api.settings import ApiSettings
from schemas.core.cores import usable_cores

__all__ = ["app_from_environ", "build_server", "serve", "worker_count"]


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


def worker_count(settings: ApiSettings) -> int:
    """``api_workers``, or with 0 the CPU cores this process may run on."""
    return settings.api_workers or usable_cores()


def app_from_environ() -> FastAPI:
    """The app of one worker process (uvicorn's factory): settings from the environment."""
    return create_app(ApiSettings.from_environ())


def serve(
    settings: ApiSettings,
    *,
    log_config: dict[str, Any] | None = None,
    accept_defer_s: float = ACCEPT_DEFER_S,
) -> None:
    """Serve until interrupted. With more than one worker, uvicorn's supervisor starts the
    workers (each builds its app from the environment, so ``settings`` must be the
    environment's; it restarts one that dies and stops them gracefully on SIGINT or SIGTERM) and
    configures their logging with ``log_config`` (a :func:`logging.config.dictConfig` dict);
    a worker holding more connections than another leaves a new one to it for up to
    ``accept_defer_s``."""
    workers = worker_count(settings)
    if workers == 1:
        build_server(settings).run()
        return
    config = WorkersConfig(
        "api.server:app_from_environ",
        factory=True,
        workers=workers,
        host=settings.api_host,
        port=settings.api_port,
        proxy_headers=True,
        log_config=log_config,
        server_header=False,
        board=Board(),
        defer_s=accept_defer_s,
    )
    with contextlib.suppress(KeyboardInterrupt):  # as uvicorn.run
        Multiprocess(config, sockets=[config.bind_socket()]).run()
