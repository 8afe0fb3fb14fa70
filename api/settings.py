"""Settings of the HTTP API process (``sourcewatch api``), beside the shared ones
(:mod:`schemas.core.settings`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from schemas.core.settings import Settings

__all__ = ["ApiSettings"]


class ApiSettings(Settings):
    api_host: str = Field(
        "127.0.0.1",
        description="Address the HTTP API listens on (0.0.0.0 to listen on every interface, "
        "e.g. in a container).",
    )
    api_port: int = Field(8000, ge=1, le=65535, description="TCP port the HTTP API listens on.")
    api_workers: int = Field(
        0,
        ge=0,
        description="HTTP API worker processes of `sourcewatch api`; 0: one per CPU core the "
        "process may use. Each worker reads the settings from the environment and has its own "
        "database pool, rate-limit counts and /metrics.",
    )
    api_rate_limit_per_minute: int = Field(
        120,
        ge=0,
        description="HTTP API: most /v1 requests and portal/widget pages one client IP may make "
        "in any 60 s (sliding window, counted per API process); 0 turns the limit off.",
    )
    api_request_submits_per_hour: int = Field(
        10,
        ge=0,
        description="HTTP API and portal: most requests for information (POST /v1/requests and "
        "the portal form) one client IP may submit in any hour (per API process); 0 turns the "
        "limit off.",
    )
    api_max_body_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="HTTP API: most bytes of any request body (413 beyond; api/bodylimit.py); "
        "uploads have their own limits below.",
    )
    api_max_attachment_bytes: int = Field(
        21 * 1024 * 1024,
        ge=1024,
        description="HTTP API: most bytes of a disclosure attachment upload's request body "
        "(multipart framing included; the file itself may have at most 20 MiB).",
    )
    api_max_import_bytes: int = Field(
        11 * 1024 * 1024,
        ge=1024,
        description="HTTP API: most bytes of an import upload's request body (disclosure "
        "drafts, registry, permit limits; the file itself: 10 MiB, 5 MiB and 1 MiB).",
    )
    api_streams_per_client: int = Field(
        2,
        ge=1,
        description="HTTP API: most downloads of every row (CSV without limit) one client IP "
        "may have open at once (429 beyond; api/exports.py).",
    )
    api_stream_max_seconds: float = Field(
        600.0,
        gt=0,
        description="HTTP API: a download of every row is cut off after this long, however "
        "slowly the client reads (it never holds a database connection meanwhile).",
    )
    api_export_max_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1024,
        description="HTTP API: most bytes of one download of every row (spooled before it is "
        "sent); larger ones are refused with 422 (ask for less, or use the dumps).",
    )
    dump_dir: Path = Field(
        Path("var/dumps"),
        description="Folder of the daily bulk dumps (`sourcewatch dump` writes them, the API "
        "serves them at /v1/dumps).",
    )
    staff_session_hours: int = Field(
        12,
        ge=1,
        le=24 * 30,
        description="Staff console: a login session ends this many hours after it began "
        "(sessions are kept in PostgreSQL; logout ends one at once).",
    )
    staff_cookie_secure: bool = Field(
        False,
        description="Staff console: always mark the session cookie Secure (set it behind a "
        "TLS-terminating proxy that does not send X-Forwarded-Proto); it is Secure anyway "
        "when the request came over https.",
    )
    staff_login_failures_per_user: int = Field(
        5,
        ge=1,
        description="Staff console: failed logins for one user name within "
        "SOURCEWATCH_STAFF_LOGIN_WINDOW_MINUTES after which further attempts are refused (429).",
    )
    staff_login_failures_per_ip: int = Field(
        30,
        ge=1,
        description="Staff console: failed logins from one client address within "
        "SOURCEWATCH_STAFF_LOGIN_WINDOW_MINUTES after which further attempts are refused (429).",
    )
    staff_login_window_minutes: int = Field(
        15,
        ge=1,
        description="Staff console: the sliding window over which failed logins are counted.",
    )
