"""The outlets ingest accepts data for, keyed by MN, reloaded from the database periodically."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import psycopg

from ingest.hj212 import CRCPolicy

__all__ = ["FindOutlet", "Outlet", "OutletDirectory", "load_outlets"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outlet:
    id: int
    mn: str
    kind: str  # gas | water
    password: str | None
    crc_policy: CRCPolicy
    protocol_profile: str  # hj212-2005 | hj212-2017 | hj212-2025
    timezone: ZoneInfo


FindOutlet = Callable[[str], Outlet | None]  # the outlet an MN names, None when unknown


def load_outlets(conn: psycopg.Connection) -> dict[str, Outlet]:
    rows = conn.execute(
        "SELECT id, mn, kind, password, crc_policy, protocol_profile, timezone "
        "FROM outlets WHERE active"
    ).fetchall()
    return {
        mn: Outlet(oid, mn, kind, pw, CRCPolicy(policy), profile, ZoneInfo(tz))
        for oid, mn, kind, pw, policy, profile, tz in rows
    }


class OutletDirectory:
    """MN → Outlet, refreshed every ``refresh_s``; an unknown MN triggers an early refresh
    (at most once per ``miss_refresh_s``) so newly registered loggers are accepted quickly."""

    def __init__(self, refresh_s: float = 30.0, miss_refresh_s: float = 5.0) -> None:
        self._outlets: Mapping[str, Outlet] = {}
        self._loaded_at = float("-inf")
        self._refresh_s = refresh_s
        self._miss_refresh_s = miss_refresh_s

    def refresh_if_due(self, conn: psycopg.Connection, *, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if now - self._loaded_at >= self._refresh_s:
            self._reload(conn, now)

    def lookup(
        self, conn: psycopg.Connection, mn: str, *, now: float | None = None
    ) -> Outlet | None:
        found = self._outlets.get(mn)
        if found is None:
            now = time.monotonic() if now is None else now
            if now - self._loaded_at >= self._miss_refresh_s:
                self._reload(conn, now)
                found = self._outlets.get(mn)
        return found

    def _reload(self, conn: psycopg.Connection, now: float) -> None:
        self._outlets = load_outlets(conn)
        self._loaded_at = now
        log.debug("loaded %d outlets", len(self._outlets))
