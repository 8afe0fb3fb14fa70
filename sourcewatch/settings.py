"""Every setting of every process in one object: ``sourcewatch up`` runs all the processes in
one, and the documentation lists them all (``deploy/.env.example``, the README)."""

from __future__ import annotations

from alerts.settings import AlertsSettings
from api.settings import ApiSettings
from ingest.settings import IngestSettings

__all__ = ["AllSettings"]


class AllSettings(IngestSettings, AlertsSettings, ApiSettings):
    """The shared settings and those of ingest, alerts and the API."""
