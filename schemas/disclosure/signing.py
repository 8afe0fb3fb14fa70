"""Signing the publication log's daily roots (the byte layouts are in
:mod:`schemas.disclosure.ledger`).

:func:`sign_roots` signs the root of each completed Asia/Shanghai day after the last signed
one. It refuses (:class:`~schemas.disclosure.ledger.LedgerError`), signing nothing, when

* the log does not extend a root signed before: the chain of entry hashes, recomputed from
  entry 1, must pass through every root in ``publication_roots`` and every *pinned* root
  (roots kept outside the database, :mod:`schemas.disclosure.pins`);
* a pinned root is missing from ``publication_roots`` or differs from the one there;
* a root in ``publication_roots`` does not verify with the key it names;
* the entries since the last signed root do not verify against the records.

It never signs a day older than the last signed day: entries logged on such a day after it
was signed (late commits, or backdated ones) are covered by the next day's root.

:func:`sign_with_key_file` is what the publisher and ``sourcewatch ledger sign`` run: the key
from its file, pinned to every root it signed before, recorded beside the key
(:func:`~schemas.disclosure.pins.signed_roots_file`). So emptying both tables and logging
edited records again — "wipe and re-sign" — is refused by the one holding the key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from schemas.core.localtime import LOCAL_TZ_NAME
from schemas.disclosure.keys import key_id, load_private_key, raw_public_key
from schemas.disclosure.ledger import (
    ZERO_HASH,
    LedgerError,
    Root,
    compute_entry_hash,
    local_day,
    lock_log,
    root_message,
    root_of,
    roots,
    scalar,
)
from schemas.disclosure.pins import PinnedRoot, append_pins, read_pins, signed_roots_file
from schemas.disclosure.verification import check_entries, known_keys

__all__ = ["sign_roots", "sign_with_key_file"]

_BATCH = 10_000  # entries per query while the chain is recomputed


def _register(conn: psycopg.Connection[Any], private_key: Ed25519PrivateKey) -> str:
    kid, raw = key_id(private_key), raw_public_key(private_key)
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT public_key, retired_at FROM signing_keys WHERE key_id = %s", (kid,))
        row = cur.fetchone()
        if row is None:
            cur.execute(
                "INSERT INTO signing_keys (key_id, public_key, algorithm) "
                "VALUES (%s, %s, 'ed25519')",
                (kid, raw),
            )
        elif bytes(row["public_key"]) != raw:
            raise LedgerError(f"signing_keys holds another public key under key id {kid}")
        elif row["retired_at"] is not None:
            raise LedgerError(f"key {kid} was retired at {row['retired_at']}: it signs no more")
    return kid


def _check_signed(
    conn: psycopg.Connection[Any], signed: Sequence[Root], pinned: Sequence[PinnedRoot]
) -> None:
    """Every pinned root is in ``publication_roots`` as it was, and every root there verifies
    with the key it names."""
    by_day = {r.day: r for r in signed}
    for pin in pinned:
        root = by_day.get(pin.day)
        if root is None:
            raise LedgerError(
                f"refusing to sign: publication_roots has no root of {pin.day}, "
                f"which was signed before ({pin.describe()})"
            )
        if (root.last_seq, root.root_hash) != (pin.last_seq, pin.root_hash):
            raise LedgerError(
                f"refusing to sign: the root of {pin.day} in publication_roots is not "
                f"{pin.describe()}, which was signed before"
            )
    keys = known_keys(conn)
    for root in signed:
        key = keys.get(root.key_id)
        try:
            if key is None:
                raise InvalidSignature
            key.verify(root.signature, root.message)
        except InvalidSignature:
            raise LedgerError(
                f"refusing to sign: the signature of the root of {root.day} does not verify "
                f"with key {root.key_id}"
            ) from None


def _check_links(conn: psycopg.Connection[Any], anchors: Mapping[int, PinnedRoot]) -> None:
    """Recompute every entry hash from entry 1 through the last anchor (from the stored
    fields: the contents were checked when their days were signed) and check the chain passes
    through each anchor."""
    if not anchors:
        return
    last, expected_seq, prev = max(anchors), 1, ZERO_HASH
    while expected_seq <= last:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT seq, logged_at, action, prev_hash, content_sha256, entry_hash "
                "FROM publication_log WHERE seq >= %s AND seq <= %s ORDER BY seq LIMIT %s",
                (expected_seq, last, _BATCH),
            )
            rows = cur.fetchall()
        for row in rows:
            seq = int(row["seq"])
            entry_hash = compute_entry_hash(
                seq,
                row["logged_at"],
                row["action"],
                bytes(row["prev_hash"]),
                bytes(row["content_sha256"]),
            )
            broken = seq != expected_seq or bytes(row["prev_hash"]) != prev
            if broken or entry_hash != bytes(row["entry_hash"]):
                _refuse_at(anchors, seq, f"the chain breaks at entry {min(seq, expected_seq)}")
            pin = anchors.get(seq)
            if pin is not None and (
                entry_hash != pin.root_hash or local_day(row["logged_at"]) != pin.day
            ):
                _refuse_at(anchors, seq, f"entry {seq} is not the one that was signed")
            expected_seq, prev = seq + 1, entry_hash
        if not rows:
            _refuse_at(anchors, expected_seq, f"entry {expected_seq} is missing")


def _refuse_at(anchors: Mapping[int, PinnedRoot], seq: int, why: str) -> None:
    pin = anchors[min(s for s in anchors if s >= seq)]
    raise LedgerError(f"refusing to sign: the log does not extend {pin.describe()}: {why}")


def sign_roots(
    conn: psycopg.Connection[Any],
    private_key: Ed25519PrivateKey,
    *,
    through: date,
    pinned: Sequence[PinnedRoot] = (),
) -> list[Root]:
    """Sign the root of every Asia/Shanghai day after the last signed day, up to ``through``,
    that has entries; return the new roots (none on a second run). Refuses a log that does not
    extend the roots signed before (see the module). Registers the key's public half in
    ``signing_keys`` when it is new."""
    made: list[Root] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        lock_log(conn)
        kid = _register(conn, private_key)
        signed = roots(conn)
        _check_signed(conn, signed, pinned)
        anchors = {r.last_seq: PinnedRoot(r.day, r.last_seq, r.root_hash) for r in signed}
        anchors |= {p.last_seq: p for p in pinned}
        _check_links(conn, anchors)
        signed_through = max(anchors, default=0)
        last_day = max((p.day for p in anchors.values()), default=date.min)
        failure, _, _ = check_entries(conn, after_seq=signed_through)
        if failure is not None:
            raise LedgerError(f"refusing to sign a log that does not verify: {failure.describe()}")
        cur.execute(
            "SELECT d.day, max(d.seq) AS last_seq, count(*) AS entry_count FROM "
            "(SELECT seq, (logged_at AT TIME ZONE %s)::date AS day "
            "FROM publication_log) d WHERE d.day > %s AND d.day <= %s "
            "GROUP BY d.day ORDER BY d.day",
            (LOCAL_TZ_NAME, last_day, through),
        )
        for day_row in cur.fetchall():
            day, last_seq = day_row["day"], int(day_row["last_seq"])
            root_hash = bytes(
                scalar(conn, "SELECT entry_hash FROM publication_log WHERE seq = %s", (last_seq,))
            )
            signature = private_key.sign(root_message(day, last_seq, root_hash))
            with conn.cursor(row_factory=dict_row) as ins:
                ins.execute(
                    "INSERT INTO publication_roots (day, last_seq, root_hash, entry_count, "
                    "key_id, signature) VALUES (%s, %s, %s, %s, %s, %s) RETURNING day, "
                    "last_seq, root_hash, entry_count, key_id, signature, signed_at",
                    (day, last_seq, root_hash, int(day_row["entry_count"]), kid, signature),
                )
                inserted = ins.fetchone()
            assert inserted is not None
            made.append(root_of(inserted))
    return made


def sign_with_key_file(
    conn: psycopg.Connection[Any], key_file: Path, *, through: date
) -> list[Root]:
    """:func:`sign_roots` with the key in ``key_file``, pinned to every root this key signed
    before as recorded in :func:`~schemas.disclosure.pins.signed_roots_file` (when the record
    is missing it starts from the roots in the database). The new roots — and any root of
    this key in the database after the last recorded one, e.g. when recording failed after a
    commit — are added to the record once committed. ``conn`` must not be inside a
    transaction. Raises :class:`~schemas.disclosure.ledger.LedgerError`,
    :class:`~schemas.disclosure.keys.SigningKeyError`,
    :class:`~schemas.disclosure.pins.PinError`."""
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise LedgerError("signing needs a connection outside any transaction (it commits)")
    key = load_private_key(key_file)
    record = signed_roots_file(key_file)
    pinned = read_pins([record]) if record.exists() else []
    made = sign_roots(conn, key, through=through, pinned=pinned)
    last = max((p.day for p in pinned), default=date.min)
    kid = key_id(key)
    mine = [r for r in roots(conn) if r.key_id == kid and r.day > last]  # each one verified
    append_pins(record, [PinnedRoot(r.day, r.last_seq, r.root_hash) for r in mine])
    return made
