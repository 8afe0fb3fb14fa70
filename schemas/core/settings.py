"""Settings every sourcewatch process shares, read once at start-up from the environment.

Each process reads the settings it needs: the shared ones here, and its own in a subclass in
its package (``ingest/settings.py``, ``alerts/settings.py``, ``api/settings.py``); every field,
with its default, is declared once. Nothing is read at import time: call
:meth:`Settings.from_environ` from ``main()`` (or build ``Settings(**values)`` in tests). Every
field has a description; ``deploy/.env.example`` and the README document them all (a test
checks it).

A setting whose default is ``None`` is *unset* until given; an empty value or ``None`` in the
environment leaves it unset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Self

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "LOCAL_DATABASE_URL", "LOCAL_MQTT_URL", "Settings", "get_settings"]

ENV_PREFIX = "SOURCEWATCH_"
# What a process connects to when its URL is unset (`sourcewatch up` starts private servers).
LOCAL_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/sourcewatch"
LOCAL_MQTT_URL = "mqtt://127.0.0.1:1883"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    database_url: str | None = Field(
        None,
        description="PostgreSQL connection URL (libpq form); unset: `sourcewatch up` starts a "
        f"private cluster, every other command connects to {LOCAL_DATABASE_URL}.",
    )
    mqtt_url: str | None = Field(
        None,
        description="MQTT broker URL: mqtt://[user:password@]host:port (mqtts:// for TLS); "
        f"unset: `sourcewatch up` starts a private broker, every other command uses "
        f"{LOCAL_MQTT_URL}.",
    )
    mqtt_client_id: str = Field(
        "sourcewatch-ingest",
        description="MQTT client id of the ingest worker; the persistent session is keyed by it, "
        "so every worker needs its own. The alerts process connects as <id>-alerts.",
    )
    timezone: str = Field(
        "Asia/Shanghai",
        description="Time zone of HJ 212 DataTime values when an outlet does not set its own.",
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
    notify_allow_private_targets: bool = Field(
        False,
        description="Allow webhook and robot subscriptions to loopback, link-local, private and "
        "other non-global addresses (checked after DNS resolution, when a subscription is stored "
        "and before each request); off: only global addresses are reached.",
    )
    staff_token_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="Staff API tokens expire after this many days, unless `sourcewatch staff "
        "add/token --expires DAYS` says otherwise; no token lives for ever.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _unset(cls, value: object, info: ValidationInfo) -> object:
        """An empty value (or ``None``) leaves a setting without a default unset."""
        name = info.field_name
        if name is not None and cls.model_fields[name].default is None and value in ("", "None"):
            return None
        return value

    @property
    def database(self) -> str:
        """The database to connect to: ``database_url``, or the local server when unset."""
        return self.database_url or LOCAL_DATABASE_URL

    @property
    def broker(self) -> str:
        """The MQTT broker to connect to: ``mqtt_url``, or the local broker when unset."""
        return self.mqtt_url or LOCAL_MQTT_URL

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Read the settings from ``environ`` (default: the process environment)."""
        if environ is None:
            return cls()
        values = {
            k[len(ENV_PREFIX) :].lower(): v for k, v in environ.items() if k.startswith(ENV_PREFIX)
        }
        return cls.model_validate(values)


def get_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The shared settings, from ``environ`` (default: the process environment)."""
    return Settings.from_environ(environ)
