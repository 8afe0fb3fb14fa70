"""A tiny HTTP server for a process without a web framework (ingest, alerts): ``/metrics``
(Prometheus text format), ``/healthz`` (200 while the process runs) and ``/readyz`` (200 when
``ready()`` says so, else 503), on a daemon thread (stdlib :mod:`http.server`).

Port 0 turns it off (``SOURCEWATCH_METRICS_PORT=0``); a port already taken is logged and the
process runs on without it (metrics are never worth stopping ingest for).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

__all__ = ["serve_health"]

log = logging.getLogger(__name__)


def serve_health(
    port: int,
    registry: CollectorRegistry = REGISTRY,
    ready: Callable[[], bool] = lambda: True,
    *,
    host: str = "127.0.0.1",
) -> Callable[[], None]:
    """Serve ``/metrics``, ``/healthz`` and ``/readyz`` on ``host:port`` until the returned
    function is called. ``port`` 0 (or below) serves nothing; the stop function is then a
    no-op, as it is when the port cannot be bound (logged as an error)."""
    if port <= 0:
        return _noop

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b'{"status":"ok"}\n', "application/json")
            elif path == "/readyz":
                try:
                    ok = ready()
                except Exception:  # a failing probe means "not ready", never a crash
                    log.exception("readiness check failed")
                    ok = False
                body = b'{"status":"ok"}\n' if ok else b'{"status":"unavailable"}\n'
                self._answer(200 if ok else 503, body, "application/json")
            else:
                self._answer(404, b'{"status":"not found"}\n', "application/json")

        def _answer(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("health %s: " + format, self.address_string(), *args)

    try:
        server = ThreadingHTTPServer((host, port), Handler)
    except OSError as exc:
        log.error("metrics/health server not started on %s:%d: %s", host, port, exc)
        return _noop
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="health-http", daemon=True)
    thread.start()
    log.info("metrics and health probes on http://%s:%d/metrics", host, server.server_port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return stop


def _noop() -> None:
    pass
