"""Webhook channel: POST the JSON document, signed with the subscription's secret.

Headers (docs/security.md#webhooks; the receiver verifies the signature, refuses a timestamp
outside the replay window, and dedupes on the event ids):

- ``X-Sourcewatch-Timestamp: <unix seconds>`` (when it was sent)
- ``X-Sourcewatch-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>``: the
  timestamp is signed with the body, so a captured request cannot be replayed later under a
  fresh timestamp
- ``X-Sourcewatch-Event: <event id>`` (a digest lists its event ids, comma-separated)

:func:`verify_webhook` is the receiver's check, with the replay window
(:data:`REPLAY_WINDOW_S`). Targets are checked before each request
(:mod:`schemas.core.addresses`). Any 2xx status is a delivery; anything else, or no answer
within the timeout, is retried.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime

from alerts.notify.channels._http import post
from alerts.notify.channels.base import DeliveryResult
from alerts.notify.errors import TransportError
from alerts.notify.message import Message

__all__ = ["REPLAY_WINDOW_S", "WebhookChannel", "verify_webhook", "webhook_signature"]

# A receiver accepts a request whose timestamp is at most this far from its own clock, either
# way (clocks drift; a retry is signed afresh, so it is always within the window).
REPLAY_WINDOW_S = 300


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Sourcewatch-Signature`` value of ``body`` sent at ``timestamp`` (the
    ``X-Sourcewatch-Timestamp`` value, unix seconds)."""
    signed = timestamp.encode("ascii") + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_webhook(
    secret: str,
    timestamp: str,
    signature: str,
    body: bytes,
    *,
    now: datetime,
    window_s: float = REPLAY_WINDOW_S,
) -> bool:
    """The receiver's check: the signature matches ``timestamp`` and ``body``, and
    ``timestamp`` is within ``window_s`` of ``now``. (Deduplicate on X-Sourcewatch-Event as
    well: within the window a request may arrive twice.)"""
    if not timestamp.isascii() or not timestamp.isdigit():
        return False
    if abs(now.timestamp() - int(timestamp)) > window_s:
        return False
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookChannel:
    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        clock: Callable[[], datetime] = _utcnow,
        allow_private_targets: bool = False,
    ) -> None:
        self.timeout_s = timeout_s
        self.clock = clock
        self.allow_private_targets = allow_private_targets

    def send(self, target: str, secret: str | None, message: Message) -> DeliveryResult:
        body = message.json_bytes()
        timestamp = str(int(self.clock().timestamp()))
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Sourcewatch-Event": message.references,
            "X-Sourcewatch-Timestamp": timestamp,
        }
        if secret:
            headers["X-Sourcewatch-Signature"] = webhook_signature(secret, timestamp, body)
        try:
            response = post(
                target, body, headers, self.timeout_s, allow_private=self.allow_private_targets
            )
        except TransportError as exc:
            return DeliveryResult.failure(str(exc))
        if response.ok:
            return DeliveryResult(True, response.status, response.summary())
        return DeliveryResult.failure(
            f"HTTP {response.status}", status_code=response.status, response=response.summary()
        )

    def close(self) -> None:
        pass
