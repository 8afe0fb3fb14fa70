"""``publication-roots.json`` of a day's dump: every signed root of the publication log up to
that day, and the public keys that verify them, so the roots are easy to mirror.

The file is stable: the same roots give the same bytes (no time of writing, keys sorted), so a
mirror sees a new file only when a day was signed. It is also a file of pinned roots that
``sourcewatch verify --pinned`` reads (:mod:`schemas.disclosure.pins`). A root is signed
shortly after its day ends, so the dump of a day written before that holds the roots up to the
day before.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg

from schemas.disclosure import ledger

__all__ = ["ROOTS", "ROOTS_FORMAT", "roots_document", "write_roots"]

ROOTS = "publication-roots.json"
ROOTS_FORMAT = "sourcewatch-publication-roots/1"


def _utc(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def roots_document(conn: psycopg.Connection[Any], through: date) -> dict[str, Any]:
    """The roots of the days up to ``through`` and every signing key, as the file holds them."""
    roots = [r for r in ledger.roots(conn) if r.day <= through]
    return {
        "format": ROOTS_FORMAT,
        "through": through.isoformat(),
        "description": (
            "Signed daily roots of the sourcewatch publication log. Each root is the entry_hash "
            "of the day's last entry; the Ed25519 signature is over signed_message (UTF-8). "
            "Keep a copy: a log that no longer leads to these roots was rewritten "
            "(sourcewatch verify --pinned publication-roots.json)."
        ),
        "keys": [
            {
                "key_id": k.key_id,
                "algorithm": k.algorithm,
                "public_key": k.public_key.hex(),
                "created_at": _utc(k.created_at),
                "retired_at": _utc(k.retired_at),
            }
            for k in ledger.signing_keys(conn)
        ],
        "roots": [
            {
                "day": r.day.isoformat(),
                "last_seq": r.last_seq,
                "entry_count": r.entry_count,
                "root_hash": r.root_hash.hex(),
                "key_id": r.key_id,
                "signed_message": r.message.decode(),
                "signature": r.signature.hex(),
                "signed_at": _utc(r.signed_at),
            }
            for r in roots
        ],
    }


def write_roots(conn: psycopg.Connection[Any], path: Path, through: date) -> int:
    """Write the file; the number of roots in it."""
    document = roots_document(conn, through)
    text = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")
    return len(document["roots"])
