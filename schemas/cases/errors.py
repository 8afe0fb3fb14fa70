"""The one exception hierarchy of the case workflow and evidence (shared by alerts and the API).

::

    CaseError               root; database failures are translated into it (SQL text stays in
     |                      ``__cause__`` for the logs, never in the message)
     +-- CaseNotFound       no case with that id
     +-- InvalidTransition  the action is not allowed on the case as it is now (closing a
     |                      closed case, acknowledging an acknowledged one) or lacks what it
     |                      needs (a close reason, a comment text, an actor)
     +-- EvidenceError      an evidence bundle could not be built or written

Messages are written for the staff member who triggered the action.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

__all__ = ["CaseError", "CaseNotFound", "EvidenceError", "InvalidTransition", "database_errors"]


class CaseError(Exception):
    """Root of everything the case workflow and evidence code raise on purpose."""


class CaseNotFound(CaseError):
    """There is no case with this id."""

    def __init__(self, case_id: int) -> None:
        super().__init__(f"case {case_id} does not exist")
        self.case_id = case_id


class InvalidTransition(CaseError):
    """The action cannot be applied to the case in its current state, or is incomplete."""

    def __init__(self, case_id: int, action: str, reason: str) -> None:
        super().__init__(f"cannot {action} case {case_id}: {reason}")
        self.case_id = case_id
        self.action = action
        self.reason = reason


class EvidenceError(CaseError):
    """The evidence bundle of a case could not be built or written."""


@contextmanager
def database_errors(verb: str, case_id: int) -> Iterator[None]:
    """Translate a database failure while reading or changing a case into :class:`CaseError`."""
    try:
        yield
    except psycopg.Error as exc:
        raise CaseError(
            f"could not {verb} case {case_id}: database error ({type(exc).__name__})"
        ) from exc
