"""Settings every sourcewatch process shares, read once at start-up from the environment.

Nothing here is read at import time: call :func:`get_settings` from ``main()`` (or build
``Settings(**values)`` in tests). Every field has a description; ``deploy/.env.example``
documents them all (a test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SOURCEWATCH_", extra="ignore", frozen=True)

    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/sourcewatch",
        description="PostgreSQL connection URL (libpq form).",
    )
    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="MQTT broker URL: mqtt://[user:password@]host:port (mqtts:// for TLS).",
    )
    mqtt_client_id: str = Field(
        "sourcewatch-ingest",
        description="MQTT client id of the ingest worker; the persistent session is keyed by it, "
        "so every worker needs its own.",
    )
    mqtt_shared_group: str = Field(
        "",
        description="MQTT 5 shared-subscription group; when set, workers subscribe to "
        "$share/<group>/… and split the load.",
    )
    mqtt_receive_maximum: int = Field(
        1000,
        ge=1,
        le=65535,
        description="Most unacknowledged QoS 1 messages the broker may push to one worker "
        "(MQTT 5 Receive Maximum); bounds the worker's in-flight work.",
    )
    mqtt_session_expiry_s: int = Field(
        7 * 24 * 3600,
        ge=0,
        description="How long the broker keeps the worker's session and queued messages "
        "while it is away.",
    )
    batch_max_messages: int = Field(
        500, ge=1, description="Writer: commit after this many MQTT messages."
    )
    batch_max_delay_s: float = Field(
        0.2, gt=0, description="Writer: commit at the latest this long after the first message."
    )
    timezone: str = Field(
        "Asia/Shanghai",
        description="Time zone of HJ 212 DataTime values when an outlet does not set its own.",
    )
    registry_refresh_s: float = Field(
        30.0, gt=0, description="How often the ingest worker reloads outlets (MN, PW, CRC policy)."
    )
    evaluation_sweep_s: float = Field(
        60.0,
        gt=0,
        description="Evaluator: how often it sweeps for outages, ended days and "
        "unacknowledged cases (new data wakes it at once).",
    )
    case_close_after: int = Field(
        3,
        ge=1,
        description="An exceedance case closes after this many consecutive compliant valid means.",
    )
    case_major_multiple: float = Field(
        0.5,
        gt=0,
        description="An exceedance case becomes major at this exceedance multiple "
        "((value − limit) / limit).",
    )
    case_critical_multiple: float = Field(
        1.0, gt=0, description="An exceedance case becomes critical at this exceedance multiple."
    )
    case_major_periods: int = Field(
        4, ge=1, description="An exceedance case becomes major after this many exceeding means."
    )
    case_critical_periods: int = Field(
        12, ge=1, description="An exceedance case becomes critical after this many exceeding means."
    )
    outage_after_minutes: int = Field(
        30, ge=1, description="An outlet silent this long opens an outage case."
    )
    fault_after_hours: int = Field(
        2,
        ge=1,
        description="Fault/calibration/maintenance flags (D, C, M) filling this many "
        "consecutive hours open an instrument-fault case.",
    )
    unacknowledged_escalation_minutes: int = Field(
        120, ge=1, description="An open case nobody acknowledged is escalated after this long."
    )
    day_grace_minutes: int = Field(
        60,
        ge=0,
        description="Daily means are judged this long after the local day ends "
        "(late data is re-judged whenever it arrives).",
    )
    smtp_host: str = Field(
        "", description="SMTP server for e-mail notifications; empty: e-mail subscriptions wait."
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port (587 with STARTTLS).")
    smtp_sender: str = Field(
        "sourcewatch@localhost", description="From: address of e-mail notifications."
    )
    smtp_starttls: bool = Field(False, description="Use STARTTLS after connecting to SMTP.")
    smtp_username: str = Field("", description="SMTP login; empty: no login.")
    smtp_password: str = Field("", description="SMTP password (a secret: set it, never commit it).")
    api_host: str = Field(
        "127.0.0.1",
        description="Address the HTTP API listens on (0.0.0.0 to listen on every interface, "
        "e.g. in a container).",
    )
    api_port: int = Field(8000, ge=1, le=65535, description="TCP port the HTTP API listens on.")
    api_rate_limit_per_minute: int = Field(
        120,
        ge=0,
        description="HTTP API: most /v1 requests and portal/widget pages one client IP may make "
        "in any 60 s (sliding window, counted per API process); 0 turns the limit off.",
    )
    gateway_host: str = Field(
        "127.0.0.1",
        description="Address the HJ 212 TCP gateway for legacy data loggers listens on "
        "(0.0.0.0 to listen on every interface).",
    )
    gateway_port: int = Field(
        9212,
        ge=1,
        le=65535,
        description="TCP port of the HJ 212 gateway (HJ 212 defines no well-known port).",
    )
    gateway_idle_timeout_s: float = Field(
        300.0,
        gt=0,
        description="TCP gateway: a logger connection silent this long is closed.",
    )
    gateway_max_connections: int = Field(
        1000, ge=1, description="TCP gateway: most logger connections open at once."
    )
    metrics_host: str = Field(
        "127.0.0.1",
        description="Address the /metrics, /healthz and /readyz server of the ingest, gateway and "
        "alerts processes listens on (0.0.0.0 to listen on every interface, e.g. in a container).",
    )
    metrics_port: int = Field(
        9464,
        ge=0,
        le=65535,
        description="TCP port of the /metrics, /healthz and /readyz server of the ingest, gateway "
        "and alerts processes (each process needs its own); 0 turns it off. The API serves them "
        "on its own port.",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log line format: text (one human-readable line) or json (one JSON object "
        "per line: time, level, logger, message, exc_info and extra fields).",
    )
    dump_dir: Path = Field(
        Path("var/dumps"),
        description="Folder of the daily bulk dumps (`sourcewatch dump` writes them, the API "
        "serves them at /v1/dumps).",
    )
    staff_token_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="Staff API tokens expire after this many days, unless `sourcewatch staff "
        "add/token --expires DAYS` says otherwise; no token lives for ever.",
    )
    signing_key_file: Path | None = Field(
        None,
        description="Ed25519 private key (PEM) that signs the publication log's daily roots "
        "(`sourcewatch keys generate`, `sourcewatch ledger sign`); unset: var/signing-key.pem.",
    )

    @field_validator("signing_key_file", mode="before")
    @classmethod
    def _unset_path(cls, value: object) -> object:
        return None if value in ("", "None") else value


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default: the process environment)."""
    if environ is None:
        return Settings()
    prefix = "SOURCEWATCH_"
    values = {k[len(prefix) :].lower(): v for k, v in environ.items() if k.startswith(prefix)}
    return Settings.model_validate(values)
