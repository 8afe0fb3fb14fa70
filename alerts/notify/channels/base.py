"""The channel interface: ``send(target, secret, message) -> DeliveryResult``.

A channel never raises for a failed delivery: it reports it, and the dispatcher decides about
retries. ``retryable=False`` says that trying again cannot help (an address the mail server
refuses for good); the row is then given up at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from alerts.notify.message import Message

__all__ = ["RESPONSE_CHARS", "Channel", "DeliveryResult"]

# How much of a response is kept in delivery_log.
RESPONSE_CHARS = 500


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    ok: bool
    status_code: int | None = None  # HTTP or SMTP status, when there was one
    response: str | None = None  # start of the response body
    error: str | None = None
    retryable: bool = True

    @classmethod
    def failure(
        cls,
        error: str,
        *,
        status_code: int | None = None,
        response: str | None = None,
        retryable: bool = True,
    ) -> DeliveryResult:
        return cls(False, status_code, response, error, retryable)


class Channel(Protocol):
    def send(self, target: str, secret: str | None, message: Message) -> DeliveryResult:
        """Deliver ``message`` to ``target`` (URL, address or topic)."""
        ...

    def close(self) -> None:
        """Release connections the channel keeps open."""
        ...
