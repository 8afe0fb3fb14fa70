"""The root of the alerts package's own exceptions.

::

    AlertsError             root of everything the alerts package raises on purpose
     +-- NotifyError …      notification delivery (``alerts.notify.errors``)

The case workflow and evidence errors (``CaseError``, ``CaseNotFound``, ``InvalidTransition``,
``EvidenceError``) live with that code in :mod:`schemas.cases.errors`.
"""

from __future__ import annotations

__all__ = ["AlertsError"]


class AlertsError(Exception):
    """Root of everything the alerts package raises on purpose."""
