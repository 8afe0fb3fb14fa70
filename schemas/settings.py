"""Settings every sourcewatch process shares, read once at start-up from the environment.

Nothing here is read at import time: call :func:`get_settings` from ``main()`` (or build
``Settings(**values)`` in tests). Every field has a description; ``deploy/.env.example``
documents them all (a test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field
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
    log_level: str = Field("INFO", description="Python logging level.")


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default: the process environment)."""
    if environ is None:
        return Settings()
    prefix = "SOURCEWATCH_"
    values = {k[len(prefix) :].lower(): v for k, v in environ.items() if k.startswith(prefix)}
    return Settings.model_validate(values)
