"""The one exception hierarchy of disclosure records (shared by the API, alerts and the CLI).

::

    DisclosureError         root
     +-- RecordNotFound     no record version with that id
     +-- RequestNotFound    no request for information with that id
     +-- InvalidAction      the action is not allowed on the record as it is now (publishing a
     |                      draft that was not approved, approving one's own edit, withdrawing
     |                      without a reason …)
     +-- ContentError       content that does not fit its record type; ``errors`` names each
                            field with its message

Messages are written for the staff member who triggered the action.
"""

from __future__ import annotations

__all__ = ["ContentError", "DisclosureError", "InvalidAction", "RecordNotFound", "RequestNotFound"]


class DisclosureError(Exception):
    """Root of everything the disclosure code raises on purpose."""


class RecordNotFound(DisclosureError):
    def __init__(self, record_id: int) -> None:
        super().__init__(f"disclosure record {record_id} does not exist")
        self.record_id = record_id


class RequestNotFound(DisclosureError):
    def __init__(self, request_id: int | str) -> None:
        super().__init__(f"request {request_id} does not exist")
        self.request_id = request_id


class InvalidAction(DisclosureError):
    def __init__(
        self, record_id: int | None, action: str, reason: str, *, subject: str = "record"
    ) -> None:
        what = subject if record_id is None else f"{subject} {record_id}"
        super().__init__(f"cannot {action} {what}: {reason}")
        self.record_id = record_id
        self.action = action
        self.reason = reason


class ContentError(DisclosureError):
    """``errors`` lists ``{"field", "message"}``; the first one is in the message."""

    def __init__(self, record_type: str, errors: list[dict[str, str]]) -> None:
        self.record_type = record_type
        self.errors = errors
        first = errors[0] if errors else {"field": "", "message": "invalid"}
        super().__init__(f"{record_type}: {first['field'] or 'content'}: {first['message']}")
