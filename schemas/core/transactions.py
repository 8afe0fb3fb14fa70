"""Transactions that never commit the caller's work."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

__all__ = ["atomic"]


def atomic(conn: psycopg.Connection[Any]) -> AbstractContextManager[Any]:
    """A block that is all-or-nothing and leaves the caller's transaction to the caller.

    In autocommit, or inside the caller's transaction, it is ``conn.transaction()`` (its own
    transaction, or a savepoint). On an idle connection that is not in autocommit,
    ``conn.transaction()`` would COMMIT at the end, so the statements simply open the
    caller's (implicit) transaction instead, which the caller commits or rolls back.
    """
    if not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE:
        return nullcontext()
    return conn.transaction()
