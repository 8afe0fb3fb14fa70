"""MQTT broker URLs, as the settings give them (shared by ingest and alerts)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

__all__ = ["broker_address"]


def broker_address(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """host, port, tls, username, password from ``mqtt[s]://[user:pass@]host[:port]``."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    port = parts.port or (8883 if tls else 1883)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname or "127.0.0.1", port, tls, user, password
