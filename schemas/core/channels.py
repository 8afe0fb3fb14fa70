"""The PostgreSQL NOTIFY channels the processes talk through (payloads are JSON or an id).

* :data:`MEASUREMENTS` — ingest, on commit, once per outlet whose data changed
  (``{"outlet_id": …}``); the evaluator wakes on it.
* :data:`NOTIFICATIONS` — a notification was enqueued (its event id), or a system alert opened
  or closed (``system:<alert id>``); the dispatchers wake on it.
* :data:`CASE_EVENTS` — every ``case_events`` row, by trigger (migration 0007,
  ``{"event_id": …, "case_id": …}``); the publisher and the staff SSE stream wake on it.
"""

from __future__ import annotations

__all__ = ["CASE_EVENTS", "MEASUREMENTS", "NOTIFICATIONS"]

MEASUREMENTS = "sourcewatch_measurements"
NOTIFICATIONS = "sourcewatch_notifications"
CASE_EVENTS = "sourcewatch_cases"
