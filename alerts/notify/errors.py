"""The errors of :mod:`alerts.notify`, under the package root::

    AlertsError (alerts.errors)
     └── NotifyError
          ├── InvalidNotification  breaks the contract with the evaluator (naive time, bad kind)
          ├── UnknownEvent         enqueue() for a case_events id that does not exist
          └── TransportError       a channel could not reach its endpoint (caught inside
                                   the channels, reported as a failed DeliveryResult)

Subscriptions are shared with the staff API: their errors (``SubscriptionError`` →
``UnknownSubscription``) live in :mod:`schemas.subscriptions` and are re-exported here.

A failed delivery is not an exception: channels return a :class:`DeliveryResult` and the
dispatcher retries it. Third-party errors (psycopg, urllib, smtplib, paho) are translated here
into these, at the module that calls the library.
"""

from __future__ import annotations

from alerts.errors import AlertsError
from schemas.subscriptions import SubscriptionError, UnknownSubscription

__all__ = [
    "InvalidNotification",
    "NotifyError",
    "SubscriptionError",
    "TransportError",
    "UnknownEvent",
    "UnknownSubscription",
]


class NotifyError(AlertsError):
    """Root of the notification errors."""


class InvalidNotification(NotifyError, ValueError):
    """A Notification that breaks the contract with the evaluator."""


class UnknownEvent(NotifyError, LookupError):
    """No case_events row has this id."""


class TransportError(NotifyError):
    """A channel could not reach its endpoint (connection refused, timeout, TLS)."""
