"""Webhook channel: POST the JSON document, signed with the subscription's secret.

Headers (the receiver verifies the signature over the raw body and dedupes on the event ids):

- ``X-Sourcewatch-Signature: sha256=<hex HMAC-SHA256(secret, body)>``
- ``X-Sourcewatch-Timestamp: <unix seconds>`` (when it was sent; reject old ones)
- ``X-Sourcewatch-Event: <event id>`` (a digest lists its event ids, comma-separated)

Any 2xx status is a delivery; anything else, or no answer within the timeout, is retried.
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

__all__ = ["WebhookChannel", "webhook_signature"]


def webhook_signature(secret: str, body: bytes) -> str:
    """The ``X-Sourcewatch-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookChannel:
    def __init__(self, *, timeout_s: float = 10.0, clock: Callable[[], datetime] = _utcnow) -> None:
        self.timeout_s = timeout_s
        self.clock = clock

    def send(self, target: str, secret: str | None, message: Message) -> DeliveryResult:
        body = message.json_bytes()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Sourcewatch-Event": ",".join(str(e) for e in message.event_ids),
            "X-Sourcewatch-Timestamp": str(int(self.clock().timestamp())),
        }
        if secret:
            headers["X-Sourcewatch-Signature"] = webhook_signature(secret, body)
        try:
            response = post(target, body, headers, self.timeout_s)
        except TransportError as exc:
            return DeliveryResult.failure(str(exc))
        if response.ok:
            return DeliveryResult(True, response.status, response.summary())
        return DeliveryResult.failure(
            f"HTTP {response.status}", status_code=response.status, response=response.summary()
        )

    def close(self) -> None:
        pass
