"""Verifying the whole publication log (signing its roots: :mod:`schemas.disclosure.signing`).

:func:`verify` recomputes the chain, every entry's hash, every entry's content from the current
record and attachment rows, every root and signature (against the given trusted keys, else the
keys in ``signing_keys``), the pinned roots, that every completed day is signed, that every
published or withdrawn version is in the log and that every version's status is the one its
last log entry gives it, and names the first thing that does not match. The byte layouts are in
:mod:`schemas.disclosure.ledger`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg.rows import dict_row

from schemas.core.localtime import LOCAL_TZ
from schemas.disclosure.keys import SigningKeyError, key_id, public_key_from_raw
from schemas.disclosure.ledger import (
    ZERO_HASH,
    LedgerEntry,
    Root,
    compute_entry_hash,
    iter_entries,
    record_states,
    roots,
    scalar,
    signing_keys,
)
from schemas.disclosure.pins import PinnedRoot

__all__ = [
    "DEFAULT_SIGN_GRACE",
    "VerifyFailure",
    "VerifyReport",
    "chain_failure",
    "check_complete",
    "check_entries",
    "check_pins",
    "check_roots",
    "known_keys",
    "verify",
]

DEFAULT_SIGN_GRACE = timedelta(hours=6)
"""How long after a day ends its root may still be missing (the publisher signs minutes after
midnight; ``sourcewatch ledger sign`` may run from a nightly cron)."""

_BATCH = 1000  # entries checked per query


@dataclass(frozen=True, slots=True)
class VerifyFailure:
    """The first thing that does not match: an entry (``seq``), a root (``day``), or a record
    version published or withdrawn without its log entry (``record``)."""

    kind: Literal["entry", "root", "record"]
    reason: str
    seq: int | None = None
    day: date | None = None
    record_id: int | None = None
    record_key: str | None = None

    def describe(self) -> str:
        where = {
            "entry": f"entry {self.seq}",
            "root": f"root of {self.day}",
            "record": f"record version {self.record_id}",
        }[self.kind]
        if self.record_key is not None:
            where += f" (record {self.record_key}"
            where += f", id {self.record_id})" if self.kind != "record" else ")"
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    entries_checked: int
    roots_checked: int
    first_failure: VerifyFailure | None
    last_seq: int | None = None
    unsigned_entries: int = 0
    trusted_key_ids: tuple[str, ...] = field(default_factory=tuple)
    pins_checked: int = 0

    def summary(self) -> str:
        counts = (
            f"{self.entries_checked} entr{'y' if self.entries_checked == 1 else 'ies'}, "
            f"{self.roots_checked} root{'' if self.roots_checked == 1 else 's'}"
            + (f", {self.pins_checked} pinned" if self.pins_checked else "")
            + " checked"
        )
        if self.first_failure is not None:
            return f"FAILED ({counts}): {self.first_failure.describe()}"
        tail = f"; {self.unsigned_entries} entries not yet under a signed root"
        return f"ok: {counts}{tail if self.unsigned_entries else ''}"


# --- Verification ---------------------------------------------------------------------------


def _differences(logged: bytes, now: bytes) -> str:
    try:
        a, b = json.loads(logged), json.loads(now)
    except ValueError:
        return "the logged content is not JSON"
    if isinstance(a, dict) and isinstance(b, dict):
        changed = sorted(k for k in a.keys() | b.keys() if a.get(k, ...) != b.get(k, ...))
        if changed:
            return "changed since it was logged: " + ", ".join(changed)
    return "changed since it was logged"


def chain_failure(
    e: LedgerEntry, expected_seq: int, expected_prev: bytes, *, content: bool = True
) -> VerifyFailure | None:
    """What breaks the chain at entry ``e``, which should be ``expected_seq`` after an entry
    whose hash is ``expected_prev``: a gap, a wrong link, a hash that does not recompute (and,
    with ``content``, a canonical text whose SHA-256 is not ``content_sha256``)."""

    def fail(reason: str) -> VerifyFailure:
        return VerifyFailure(
            "entry", reason, seq=e.seq, record_id=e.record_id, record_key=e.record_key
        )

    if e.seq != expected_seq:
        return VerifyFailure(
            "entry",
            f"the entry is missing: the log goes from {expected_seq - 1} to {e.seq}",
            seq=expected_seq,
        )
    if e.prev_hash != expected_prev:
        return fail(f"prev_hash does not match the entry_hash of entry {e.seq - 1}")
    if content and hashlib.sha256(e.canonical).digest() != e.content_sha256:
        return fail("content_sha256 is not the SHA-256 of the logged canonical content")
    recomputed = compute_entry_hash(e.seq, e.logged_at, e.action, e.prev_hash, e.content_sha256)
    if recomputed != e.entry_hash:
        return fail("entry_hash does not match the entry's fields")
    return None


def check_entries(
    conn: psycopg.Connection[Any], *, after_seq: int = 0
) -> tuple[VerifyFailure | None, int, dict[int, tuple[bytes, date]]]:
    """Check the entries after ``after_seq`` (whose predecessor is trusted as it is):
    (first failure, entries checked, seq → (entry_hash, day) of those checked)."""
    expected_seq, expected_prev = after_seq + 1, ZERO_HASH
    if after_seq > 0:
        found = scalar(conn, "SELECT entry_hash FROM publication_log WHERE seq = %s", (after_seq,))
        if found is None:
            return VerifyFailure("entry", "the entry is missing", seq=after_seq), 0, {}
        expected_prev = bytes(found)
    checked: dict[int, tuple[bytes, date]] = {}
    batch: list[LedgerEntry] = []

    def check(batch: list[LedgerEntry]) -> VerifyFailure | None:
        nonlocal expected_seq, expected_prev
        forms = {e.seq: e.form for e in batch}
        states = record_states(conn, [(e.record_id, e.action, forms[e.seq]) for e in batch])
        for e in batch:

            def fail(reason: str, e: LedgerEntry = e) -> VerifyFailure:
                return VerifyFailure(
                    "entry", reason, seq=e.seq, record_id=e.record_id, record_key=e.record_key
                )

            if (broken := chain_failure(e, expected_seq, expected_prev)) is not None:
                return broken
            if forms[e.seq] == 0:
                return fail("the logged content is not in a known canonical form")
            state = states[(e.record_id, e.action, forms[e.seq])]
            if state.canonical is None:
                return fail(state.problem or "the record cannot be read")
            if state.canonical != e.canonical:
                changes = _differences(e.canonical, state.canonical)
                return fail(f"the record in disclosure_records {changes}")
            if (state.record_key, state.version) != (e.record_key, e.version):
                return fail("record_key or version of the entry is not the record's")
            if state.logged_at != e.logged_at:
                return fail(f"logged_at is not the record's {e.action} time")
            checked[e.seq] = (e.entry_hash, e.day)
            expected_seq, expected_prev = e.seq + 1, e.entry_hash
        return None

    for e in iter_entries(conn, after_seq):
        batch.append(e)
        if len(batch) >= _BATCH:
            if (failure := check(batch)) is not None:
                return failure, len(checked), checked
            batch = []
    if batch and (failure := check(batch)) is not None:
        return failure, len(checked), checked
    return None, len(checked), checked


def known_keys(
    conn: psycopg.Connection[Any], trusted: Mapping[str, Ed25519PublicKey] | None = None
) -> dict[str, Ed25519PublicKey]:
    """``trusted`` when given, else the keys registered in ``signing_keys`` (each under its
    own key id)."""
    if trusted is not None:
        return dict(trusted)
    keys: dict[str, Ed25519PublicKey] = {}
    for k in signing_keys(conn):
        try:
            public = public_key_from_raw(k.public_key)
        except SigningKeyError:
            continue
        if key_id(public) == k.key_id:  # a key stored under another's id is no key
            keys[k.key_id] = public
    return keys


def check_roots(
    signed: Iterable[Root],
    checked: Mapping[int, tuple[bytes, date]],
    keys: Mapping[str, Ed25519PublicKey],
) -> tuple[VerifyFailure | None, int, int]:
    """(first failure, roots checked, highest seq under a root)."""
    per_day: dict[date, list[int]] = {}
    for seq, (_, day) in checked.items():
        per_day.setdefault(day, []).append(seq)
    count, covered = 0, 0
    for root in signed:

        def fail(reason: str, root: Root = root) -> VerifyFailure:
            return VerifyFailure("root", reason, day=root.day, seq=root.last_seq)

        logged = checked.get(root.last_seq)
        if logged is None:
            return fail(f"entry {root.last_seq} is not in the log"), count, covered
        entry_hash, day = logged
        if day != root.day:
            return fail(f"entry {root.last_seq} was logged on {day}, not that day"), count, covered
        if root.root_hash != entry_hash:
            return fail(f"root_hash is not the entry_hash of entry {root.last_seq}"), count, covered
        same_day = [s for s in per_day.get(day, []) if s <= root.last_seq]
        if max(same_day) != root.last_seq or len(same_day) != root.entry_count:
            return (
                fail(
                    f"the day has {len(same_day)} entries up to entry {root.last_seq}, "
                    f"the root says {root.entry_count}"
                ),
                count,
                covered,
            )
        key = keys.get(root.key_id)
        if key is None:
            return (
                fail(f"signed with key {root.key_id}, which is not a trusted key"),
                count,
                covered,
            )
        try:
            key.verify(root.signature, root.message)
        except InvalidSignature:
            return fail(f"the signature does not verify with key {root.key_id}"), count, covered
        count += 1
        covered = max(covered, root.last_seq)
    return None, count, covered


def check_pins(
    pinned: Sequence[PinnedRoot],
    checked: Mapping[int, tuple[bytes, date]],
    signed: Mapping[date, Root],
    last: int,
) -> VerifyFailure | None:
    """The log must still lead to every pinned root, and its roots must be the pinned ones.
    ``checked``: seq → (entry_hash, day) of the entries (at least those at the pinned seqs),
    ``signed``: the roots by day, ``last``: the log's last seq."""
    for pin in pinned:

        def fail(reason: str, pin: PinnedRoot = pin) -> VerifyFailure:
            return VerifyFailure("root", reason, day=pin.day, seq=pin.last_seq)

        logged = checked.get(pin.last_seq)
        if logged is None:
            return fail(
                f"the log ends at entry {last}: it does not lead to the pinned root "
                f"(entry {pin.last_seq}); the log was cut or rebuilt"
            )
        if logged != (pin.root_hash, pin.day):
            return fail(
                f"entry {pin.last_seq} is not the one of the pinned root: the log was rewritten"
            )
        root = signed.get(pin.day)
        if root is None:
            return fail("publication_roots has no root of the day, which you pinned")
        if (root.last_seq, root.root_hash) != (pin.last_seq, pin.root_hash):
            return fail("publication_roots holds another root of the day than the pinned one")
    return None


def check_complete(
    checked: Mapping[int, tuple[bytes, date]],
    signed: Mapping[date, Root],
    now: datetime,
    grace: timedelta,
) -> VerifyFailure | None:
    """Every day that ended ``grace`` ago has its root, or all its entries are under the root
    of a later day (entries committed after their day was signed)."""
    last_of_day: dict[date, int] = {}
    for seq, (_, day) in checked.items():
        last_of_day[day] = max(seq, last_of_day.get(day, 0))
    for day in sorted(last_of_day):
        ended = datetime.combine(day + timedelta(days=1), time(0), LOCAL_TZ)
        if ended + grace > now or day in signed:
            continue
        later = max((r.last_seq for d, r in signed.items() if d > day), default=0)
        if last_of_day[day] > later:
            return VerifyFailure(
                "root",
                f"the day ended and has entries (up to entry {last_of_day[day]}) but no signed "
                f"root; every completed day is signed within {grace} of its end",
                day=day,
                seq=last_of_day[day],
            )
    return None


def _check_records(conn: psycopg.Connection[Any]) -> VerifyFailure | None:
    """The first record version published or withdrawn without its log entry."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT r.id, r.record_key, a.action FROM disclosure_records r "
            "CROSS JOIN LATERAL (VALUES ('publish', r.published_at IS NOT NULL), "
            "('withdraw', r.status = 'withdrawn' OR r.withdrawn_at IS NOT NULL)) a (action, due) "
            "WHERE a.due AND NOT EXISTS (SELECT 1 FROM publication_log l "
            "WHERE l.record_id = r.id AND l.action = a.action) ORDER BY r.id, a.action LIMIT 1"
        )
        row = cur.fetchone()
    if row is None:
        return None
    verb = "published" if row["action"] == "publish" else "withdrawn"
    return VerifyFailure(
        "record",
        f"{verb} but not in the publication log",
        record_id=int(row["id"]),
        record_key=row["record_key"],
    )


_STATUS = """
SELECT * FROM (
    SELECT r.id, r.record_key, r.status, last.seq, last.action, EXISTS (
        SELECT 1 FROM disclosure_records n JOIN publication_log nl
        ON nl.record_id = n.id AND nl.action = 'publish' WHERE n.supersedes = r.id) AS successor
    FROM disclosure_records r LEFT JOIN LATERAL (
        SELECT l.seq, l.action FROM publication_log l WHERE l.record_id = r.id
        ORDER BY l.seq DESC LIMIT 1) last ON true
) v
WHERE NOT CASE v.action
    WHEN 'withdraw' THEN v.status = 'withdrawn'
    WHEN 'publish' THEN v.status = CASE WHEN v.successor THEN 'superseded' ELSE 'published' END
    ELSE v.status IN ('draft', 'approved') END
ORDER BY v.id LIMIT 1
"""


def _check_statuses(conn: psycopg.Connection[Any]) -> VerifyFailure | None:
    """The first record version whose status is not what the log says: published (or
    superseded, once a correction of it was published), withdrawn, or not yet public."""
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_STATUS).fetchone()
    if row is None:
        return None
    status, seq = row["status"], row["seq"]
    if row["action"] == "withdraw":
        says = f"entry {seq} withdrew it"
    elif row["action"] == "publish":
        says = f"entry {seq} published it" + (
            ", a published correction superseded it" if row["successor"] else " and it is current"
        )
    else:
        says = "the log never published it"
    return VerifyFailure(
        "record",
        f"its status is {status!r} but {says}",
        record_id=int(row["id"]),
        record_key=row["record_key"],
    )


def verify(
    conn: psycopg.Connection[Any],
    trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
    *,
    pinned: Sequence[PinnedRoot] = (),
    now: datetime | None = None,
    sign_grace: timedelta = DEFAULT_SIGN_GRACE,
) -> VerifyReport:
    """Recompute the whole log and every root; report the first thing that does not match.

    Roots must be signed by one of ``trusted_keys`` (key id → public key, e.g. from
    ``--public-key`` files); by default by one of the keys in ``signing_keys`` — which only
    proves the roots were not changed by someone without database access, so independent
    verifiers should pass the published keys they saved, and the roots they saved
    (``pinned``): the log must still lead to each. Every day that ended ``sign_grace`` before
    ``now`` must have its signed root (a log without roots verifies only while its days are
    recent). Run it in one snapshot (REPEATABLE READ) for a consistent answer while
    publication goes on."""
    keys = known_keys(conn, trusted_keys)
    key_ids = tuple(sorted(keys))
    failure, n_entries, checked = check_entries(conn)
    last_seq = max(checked, default=None)
    if failure is not None:
        return VerifyReport(False, n_entries, 0, failure, last_seq, trusted_key_ids=key_ids)
    signed = {r.day: r for r in roots(conn)}
    failure, n_roots, covered = check_roots(signed.values(), checked, keys)
    unsigned = sum(1 for seq in checked if seq > covered)
    if failure is None:
        failure = check_pins(pinned, checked, signed, max(checked, default=0))
    if failure is None:
        failure = check_complete(checked, signed, now or datetime.now(UTC), sign_grace)
    if failure is None:
        failure = _check_records(conn)
    if failure is None:
        failure = _check_statuses(conn)
    return VerifyReport(
        failure is None,
        n_entries,
        n_roots,
        failure,
        last_seq,
        unsigned,
        key_ids,
        pins_checked=len(pinned) if failure is None else 0,
    )
