"""The publication log: an append-only hash chain of every publication and withdrawal of a
disclosure record version, with a signed root per Asia/Shanghai day.

**Entries** (``publication_log``). The workflow calls :func:`append` inside the transaction
that publishes or withdraws a record version. The entry holds the record version's canonical
content (:func:`canonical_record`: RFC 8785 JSON of the fields that never change once
published, plus the withdrawal fields for a withdrawal) and::

    content_sha256 = SHA-256(canonical)
    entry_hash     = SHA-256(b"sourcewatch-log-v1\\n"
                             + seq (decimal) + b"\\n"
                             + logged_at (ISO 8601 UTC, microseconds, "Z") + b"\\n"
                             + action ("publish" | "withdraw") + b"\\n"
                             + prev_hash (64 lowercase hex digits) + b"\\n"
                             + content_sha256 (64 lowercase hex digits))

``seq`` counts from 1 without gaps (appends are serialised by a transaction-level advisory
lock); ``prev_hash`` is the previous entry's ``entry_hash`` (32 zero bytes for entry 1);
``logged_at`` is the record's ``published_at`` (publish) or ``withdrawn_at`` (withdraw), so
``?as_of=`` snapshots and the log agree.

**Roots** (``publication_roots``). For each Asia/Shanghai calendar day with entries,
:func:`sign_roots` stores the ``entry_hash`` of the day's last entry (which commits to every
earlier entry through the chain), its ``seq`` and the day's entry count, signed with Ed25519
over::

    b"sourcewatch-root-v1\\n" + day (YYYY-MM-DD) + b"\\n" + last_seq (decimal) + b"\\n"
    + root_hash (64 lowercase hex digits)

An entry committed after its day was signed (late) is covered by the next day's root.

**Verification** (:func:`verify`) recomputes everything from the tables: the chain, every
entry's hash, every entry's content *from the current ``disclosure_records`` and
``disclosure_attachments`` rows* (so a row edited in the database is caught), every root and
signature, and that every published or withdrawn record version is in the log; it names the
first thing that does not match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

import psycopg
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from psycopg.rows import dict_row, tuple_row

from schemas.disclosure.keys import SigningKeyError, key_id, public_key_from_raw, raw_public_key

__all__ = [
    "ACTIONS",
    "ENTRY_DOMAIN",
    "LOCAL_TZ",
    "ROOT_DOMAIN",
    "ZERO_HASH",
    "Action",
    "LedgerEntry",
    "LedgerError",
    "Root",
    "SigningKey",
    "VerifyFailure",
    "VerifyReport",
    "append",
    "canonical_record",
    "compute_entry_hash",
    "entries",
    "iso_utc",
    "local_day",
    "root_message",
    "roots",
    "sign_roots",
    "signing_keys",
    "verify",
    "yesterday",
]

Action = Literal["publish", "withdraw"]
ACTIONS: tuple[Action, ...] = ("publish", "withdraw")
ENTRY_DOMAIN = b"sourcewatch-log-v1\n"
ROOT_DOMAIN = b"sourcewatch-root-v1\n"
ZERO_HASH = bytes(32)
LOCAL_TZ = ZoneInfo("Asia/Shanghai")

_LOCK_KEY = 0x5357_5055_424C  # "SWPUBL": serialises appends and signing
_BATCH = 1000

_RECORD_FIELDS = (
    "id, record_key, version, record_type, category, enterprise_id, outlet_id, title_zh, "
    "title_en, content::text AS content, formed_at, published_at, published_by, supersedes, "
    "correction_reason, withdrawn_at, withdrawn_by, withdrawn_reason"
)
_ENTRY_FIELDS = (
    "seq, logged_at, record_id, record_key, version, action, canonical, content_sha256, "
    "prev_hash, entry_hash"
)


class LedgerError(Exception):
    """A record cannot be logged (not published, already logged …) or roots cannot be signed."""


# --- Values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    seq: int
    logged_at: datetime
    record_id: int
    record_key: str
    version: int
    action: Action
    canonical: bytes
    content_sha256: bytes
    prev_hash: bytes
    entry_hash: bytes

    @property
    def day(self) -> date:
        """The Asia/Shanghai calendar day whose root covers the entry."""
        return local_day(self.logged_at)

    def content(self) -> dict[str, Any]:
        return cast(dict[str, Any], json.loads(self.canonical))


@dataclass(frozen=True, slots=True)
class Root:
    day: date
    last_seq: int
    root_hash: bytes
    entry_count: int
    key_id: str
    signature: bytes
    signed_at: datetime

    @property
    def message(self) -> bytes:
        """The bytes the signature is over."""
        return root_message(self.day, self.last_seq, self.root_hash)


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str
    public_key: bytes  # raw 32 bytes
    algorithm: str
    created_at: datetime
    retired_at: datetime | None


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

    def summary(self) -> str:
        counts = (
            f"{self.entries_checked} entr{'y' if self.entries_checked == 1 else 'ies'}, "
            f"{self.roots_checked} root{'' if self.roots_checked == 1 else 's'} checked"
        )
        if self.first_failure is not None:
            return f"FAILED ({counts}): {self.first_failure.describe()}"
        tail = f"; {self.unsigned_entries} entries not yet under a signed root"
        return f"ok: {counts}{tail if self.unsigned_entries else ''}"


# --- Byte layouts ---------------------------------------------------------------------------


def iso_utc(value: datetime) -> str:
    """``2026-11-28T02:03:04.123456Z``: UTC, always with microseconds."""
    if value.tzinfo is None:
        raise ValueError("a naive datetime has no place in the log")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def local_day(value: datetime) -> date:
    return value.astimezone(LOCAL_TZ).date()


def yesterday(now: datetime | None = None) -> date:
    """The Asia/Shanghai day before today: the default last day to sign."""
    return local_day(now or datetime.now(UTC)) - timedelta(days=1)


def compute_entry_hash(
    seq: int, logged_at: datetime, action: str, prev_hash: bytes, content_sha256: bytes
) -> bytes:
    data = b"".join(
        [
            ENTRY_DOMAIN,
            str(seq).encode(),
            b"\n",
            iso_utc(logged_at).encode(),
            b"\n",
            action.encode(),
            b"\n",
            prev_hash.hex().encode(),
            b"\n",
            content_sha256.hex().encode(),
        ]
    )
    return hashlib.sha256(data).digest()


def root_message(day: date, last_seq: int, root_hash: bytes) -> bytes:
    return ROOT_DOMAIN + f"{day.isoformat()}\n{last_seq}\n{root_hash.hex()}".encode()


# --- Canonical content ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _State:
    """What the tables say now about one record version and action."""

    canonical: bytes | None  # None: cannot be built (see problem)
    problem: str | None
    record_key: str | None = None
    version: int | None = None
    logged_at: datetime | None = None


def _ts(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def _states(
    conn: psycopg.Connection[Any], wanted: Sequence[tuple[int, str]], *, lock: bool = False
) -> dict[tuple[int, str], _State]:
    ids = sorted({record_id for record_id, _ in wanted})
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_RECORD_FIELDS} FROM disclosure_records WHERE id = ANY(%s)"  # noqa: S608
            + (" FOR SHARE" if lock else ""),
            (ids,),
        )
        records = {int(r["id"]): r for r in cur.fetchall()}
        cur.execute(
            "SELECT record_id, filename, media_type, size_bytes, sha256, "
            "sha256(content) AS actual_sha256, octet_length(content) AS actual_size "
            "FROM disclosure_attachments WHERE record_id = ANY(%s)",
            (ids,),
        )
        attachments: dict[int, list[dict[str, Any]]] = {}
        for a in cur.fetchall():
            attachments.setdefault(int(a["record_id"]), []).append(a)
    return {
        (record_id, action): _state(records.get(record_id), attachments.get(record_id, []), action)
        for record_id, action in wanted
    }


def _state(record: dict[str, Any] | None, attachments: list[dict[str, Any]], action: str) -> _State:
    if record is None:
        return _State(None, "the record version does not exist")
    if action not in ACTIONS:
        return _State(None, f"unknown action {action!r}")
    files = []
    for a in sorted(attachments, key=lambda a: bytes(a["sha256"]).hex()):
        digest = bytes(a["sha256"]).hex()
        if bytes(a["actual_sha256"]) != bytes(a["sha256"]):
            return _State(None, f"attachment {a['filename']!r}: its content no longer has "
                                f"the SHA-256 {digest} on record")  # fmt: skip
        if int(a["actual_size"]) != int(a["size_bytes"]):
            return _State(None, f"attachment {a['filename']!r}: its content is "
                                f"{a['actual_size']} bytes, not {a['size_bytes']}")  # fmt: skip
        files.append(
            {
                "filename": a["filename"],
                "media_type": a["media_type"],
                "size_bytes": int(a["size_bytes"]),
                "sha256": digest,
            }
        )
    data: dict[str, Any] = {
        "id": int(record["id"]),
        "record_key": record["record_key"],
        "version": int(record["version"]),
        "record_type": record["record_type"],
        "category": record["category"],
        "enterprise_id": record["enterprise_id"],
        "outlet_id": record["outlet_id"],
        "title_zh": record["title_zh"],
        "title_en": record["title_en"],
        "content": json.loads(record["content"]),
        "formed_at": _ts(record["formed_at"]),
        "published_at": _ts(record["published_at"]),
        "published_by": record["published_by"],
        "supersedes": record["supersedes"],
        "correction_reason": record["correction_reason"],
        "attachments": files,
    }
    logged_at: datetime | None = record["published_at"]
    if record["published_at"] is None:
        return _State(None, "the record version has no published_at: it was never published")
    if action == "withdraw":
        if record["withdrawn_at"] is None:
            return _State(None, "the record version has no withdrawn_at: it was not withdrawn")
        logged_at = record["withdrawn_at"]
        data |= {
            "withdrawn_at": _ts(record["withdrawn_at"]),
            "withdrawn_by": record["withdrawn_by"],
            "withdrawn_reason": record["withdrawn_reason"],
        }
    try:
        canonical = rfc8785.dumps(data)
    except rfc8785.CanonicalizationError as exc:
        return _State(None, f"the content cannot be canonicalised (RFC 8785): {exc}")
    return _State(canonical, None, record["record_key"], int(record["version"]), logged_at)


def canonical_record(conn: psycopg.Connection[Any], record_id: int, action: Action) -> bytes:
    """The RFC 8785 canonical JSON of a record version as published (``publish``: the fields
    that never change after publication, attachments sorted by SHA-256) or withdrawn
    (``withdraw``: those and ``withdrawn_at``, ``withdrawn_by``, ``withdrawn_reason``).
    Times are ISO 8601 UTC with microseconds."""
    state = _states(conn, [(record_id, action)])[(record_id, action)]
    if state.canonical is None:
        raise LedgerError(f"record version {record_id}: {state.problem}")
    return state.canonical


# --- Appending ------------------------------------------------------------------------------


def _entry(row: Mapping[str, Any]) -> LedgerEntry:
    return LedgerEntry(
        seq=int(row["seq"]),
        logged_at=row["logged_at"],
        record_id=int(row["record_id"]),
        record_key=row["record_key"],
        version=int(row["version"]),
        action=row["action"],
        canonical=row["canonical"].encode(),
        content_sha256=bytes(row["content_sha256"]),
        prev_hash=bytes(row["prev_hash"]),
        entry_hash=bytes(row["entry_hash"]),
    )


def _scalar(conn: psycopg.Connection[Any], query: str, params: Sequence[Any] = ()) -> Any:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query, params)
        row = cur.fetchone()
    return None if row is None else row[0]


def _lock(conn: psycopg.Connection[Any]) -> None:
    level = _scalar(conn, "SELECT current_setting('transaction_isolation')")
    if level != "read committed":
        # Under a snapshot taken before the lock, the newest entry could be invisible.
        raise LedgerError(f"the publication log needs READ COMMITTED transactions, not {level}")
    _scalar(conn, "SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))


def append(conn: psycopg.Connection[Any], record_id: int, action: Action) -> LedgerEntry:
    """Log the publication or withdrawal of a record version, inside the caller's transaction
    (a savepoint; in autocommit mode a transaction of its own). The record must already carry
    its ``published_at`` (and for a withdrawal ``withdrawn_at``); each (version, action) is
    logged once. Raises :class:`LedgerError`."""
    if action not in ACTIONS:
        raise LedgerError(f"unknown action {action!r} (publish or withdraw)")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        _lock(conn)
        state = _states(conn, [(record_id, action)], lock=True)[(record_id, action)]
        if state.canonical is None:
            raise LedgerError(f"record version {record_id}: {state.problem}")
        assert state.logged_at is not None and state.record_key is not None
        assert state.version is not None
        cur.execute(
            "SELECT seq FROM publication_log WHERE record_id = %s AND action = %s",
            (record_id, action),
        )
        if (done := cur.fetchone()) is not None:
            raise LedgerError(
                f"record version {record_id}: {action} is already entry {done['seq']}"
            )
        cur.execute("SELECT seq, entry_hash FROM publication_log ORDER BY seq DESC LIMIT 1")
        last = cur.fetchone()
        seq = 1 if last is None else int(last["seq"]) + 1
        prev = ZERO_HASH if last is None else bytes(last["entry_hash"])
        content_sha256 = hashlib.sha256(state.canonical).digest()
        entry_hash = compute_entry_hash(seq, state.logged_at, action, prev, content_sha256)
        cur.execute(
            f"INSERT INTO publication_log ({_ENTRY_FIELDS}) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            f"RETURNING {_ENTRY_FIELDS}",
            (seq, state.logged_at, record_id, state.record_key, state.version, action,
             state.canonical.decode(), content_sha256, prev, entry_hash),
        )  # fmt: skip
        row = cur.fetchone()
    assert row is not None
    return _entry(row)


# --- Reading --------------------------------------------------------------------------------


def entries(
    conn: psycopg.Connection[Any], *, after_seq: int = 0, limit: int | None = None
) -> list[LedgerEntry]:
    """Entries with ``seq > after_seq`` in order (at most ``limit``)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            f"SELECT {_ENTRY_FIELDS} FROM publication_log WHERE seq > %s "  # noqa: S608
            "ORDER BY seq LIMIT %s",
            (after_seq, limit),
        )
        return [_entry(row) for row in cur.fetchall()]


def _iter_entries(conn: psycopg.Connection[Any], after_seq: int = 0) -> Iterator[LedgerEntry]:
    while batch := entries(conn, after_seq=after_seq, limit=_BATCH):
        yield from batch
        after_seq = batch[-1].seq


def _root(row: Mapping[str, Any]) -> Root:
    return Root(
        day=row["day"],
        last_seq=int(row["last_seq"]),
        root_hash=bytes(row["root_hash"]),
        entry_count=int(row["entry_count"]),
        key_id=row["key_id"],
        signature=bytes(row["signature"]),
        signed_at=row["signed_at"],
    )


def roots(conn: psycopg.Connection[Any]) -> list[Root]:
    """Every signed root, by day."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT day, last_seq, root_hash, entry_count, key_id, signature, signed_at "
            "FROM publication_roots ORDER BY day"
        )
        return [_root(row) for row in cur.fetchall()]


def signing_keys(conn: psycopg.Connection[Any]) -> list[SigningKey]:
    """The public keys in ``signing_keys``, oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT key_id, public_key, algorithm, created_at, retired_at FROM signing_keys "
            "ORDER BY created_at, key_id"
        )
        return [
            SigningKey(
                r["key_id"],
                bytes(r["public_key"]),
                r["algorithm"],
                r["created_at"],
                r["retired_at"],
            )
            for r in cur.fetchall()
        ]


# --- Signing --------------------------------------------------------------------------------


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


def sign_roots(
    conn: psycopg.Connection[Any], private_key: Ed25519PrivateKey, *, through: date
) -> list[Root]:
    """Sign the root of every Asia/Shanghai day up to ``through`` that has entries and no root
    yet; return the new roots (none on a second run). The entries since the last signed root
    are verified first: a broken chain is never signed. Registers the key's public half in
    ``signing_keys`` when it is new."""
    made: list[Root] = []
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        _lock(conn)
        kid = _register(conn, private_key)
        cur.execute("SELECT max(last_seq) AS seq FROM publication_roots")
        row = cur.fetchone()
        signed_through = int(row["seq"]) if row and row["seq"] is not None else 0
        failure, _, _ = _check_entries(conn, after_seq=signed_through)
        if failure is not None:
            raise LedgerError(f"refusing to sign a log that does not verify: {failure.describe()}")
        cur.execute(
            "SELECT d.day, max(d.seq) AS last_seq, count(*) AS entry_count FROM "
            "(SELECT seq, (logged_at AT TIME ZONE 'Asia/Shanghai')::date AS day "
            "FROM publication_log) d WHERE d.day <= %s AND NOT EXISTS "
            "(SELECT 1 FROM publication_roots r WHERE r.day = d.day) GROUP BY d.day ORDER BY d.day",
            (through,),
        )
        for day_row in cur.fetchall():
            day, last_seq = day_row["day"], int(day_row["last_seq"])
            root_hash = bytes(
                _scalar(conn, "SELECT entry_hash FROM publication_log WHERE seq = %s", (last_seq,))
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
            made.append(_root(inserted))
    return made


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


def _check_entries(
    conn: psycopg.Connection[Any], *, after_seq: int = 0
) -> tuple[VerifyFailure | None, int, dict[int, tuple[bytes, date]]]:
    """Check the entries after ``after_seq`` (whose predecessor is trusted as it is):
    (first failure, entries checked, seq → (entry_hash, day) of those checked)."""
    expected_seq, expected_prev = after_seq + 1, ZERO_HASH
    if after_seq > 0:
        found = _scalar(conn, "SELECT entry_hash FROM publication_log WHERE seq = %s", (after_seq,))
        if found is None:
            return VerifyFailure("entry", "the entry is missing", seq=after_seq), 0, {}
        expected_prev = bytes(found)
    checked: dict[int, tuple[bytes, date]] = {}
    batch: list[LedgerEntry] = []

    def check(batch: list[LedgerEntry]) -> VerifyFailure | None:
        nonlocal expected_seq, expected_prev
        states = _states(conn, [(e.record_id, e.action) for e in batch])
        for e in batch:

            def fail(reason: str, e: LedgerEntry = e) -> VerifyFailure:
                return VerifyFailure("entry", reason, seq=e.seq, record_id=e.record_id,
                                     record_key=e.record_key)  # fmt: skip

            if e.seq != expected_seq:
                return VerifyFailure(
                    "entry",
                    f"the entry is missing: the log goes from {expected_seq - 1} to {e.seq}",
                    seq=expected_seq,
                )
            if e.prev_hash != expected_prev:
                return fail(f"prev_hash does not match the entry_hash of entry {e.seq - 1}")
            if hashlib.sha256(e.canonical).digest() != e.content_sha256:
                return fail("content_sha256 is not the SHA-256 of the logged canonical content")
            recomputed = compute_entry_hash(
                e.seq, e.logged_at, e.action, e.prev_hash, e.content_sha256
            )
            if recomputed != e.entry_hash:
                return fail("entry_hash does not match the entry's fields")
            state = states[(e.record_id, e.action)]
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

    for e in _iter_entries(conn, after_seq):
        batch.append(e)
        if len(batch) >= _BATCH:
            if (failure := check(batch)) is not None:
                return failure, len(checked), checked
            batch = []
    if batch and (failure := check(batch)) is not None:
        return failure, len(checked), checked
    return None, len(checked), checked


def _trusted(
    conn: psycopg.Connection[Any], trusted_keys: Mapping[str, Ed25519PublicKey] | None
) -> dict[str, Ed25519PublicKey]:
    if trusted_keys is not None:
        return dict(trusted_keys)
    keys: dict[str, Ed25519PublicKey] = {}
    for k in signing_keys(conn):
        try:
            public = public_key_from_raw(k.public_key)
        except SigningKeyError:
            continue
        if key_id(public) == k.key_id:  # a key stored under another's id is no key
            keys[k.key_id] = public
    return keys


def _check_roots(
    conn: psycopg.Connection[Any],
    checked: Mapping[int, tuple[bytes, date]],
    keys: Mapping[str, Ed25519PublicKey],
) -> tuple[VerifyFailure | None, int, int]:
    """(first failure, roots checked, highest seq under a root)."""
    per_day: dict[date, list[int]] = {}
    for seq, (_, day) in checked.items():
        per_day.setdefault(day, []).append(seq)
    count, covered = 0, 0
    for root in roots(conn):

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
            return fail(f"the day has {len(same_day)} entries up to entry {root.last_seq}, "
                        f"the root says {root.entry_count}"), count, covered  # fmt: skip
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
    return VerifyFailure("record", f"{verb} but not in the publication log",
                         record_id=int(row["id"]), record_key=row["record_key"])  # fmt: skip


def verify(
    conn: psycopg.Connection[Any], trusted_keys: Mapping[str, Ed25519PublicKey] | None = None
) -> VerifyReport:
    """Recompute the whole log and every root; report the first thing that does not match.

    Roots must be signed by one of ``trusted_keys`` (key id → public key, e.g. from
    ``--public-key`` files); by default by one of the keys in ``signing_keys`` — which only
    proves the roots were not changed by someone without database access, so independent
    verifiers should pass the published keys they saved. Run it in one snapshot (REPEATABLE
    READ) for a consistent answer while publication goes on."""
    keys = _trusted(conn, trusted_keys)
    key_ids = tuple(sorted(keys))
    failure, n_entries, checked = _check_entries(conn)
    last_seq = max(checked, default=None)
    if failure is not None:
        return VerifyReport(False, n_entries, 0, failure, last_seq, trusted_key_ids=key_ids)
    failure, n_roots, covered = _check_roots(conn, checked, keys)
    unsigned = sum(1 for seq in checked if seq > covered)
    if failure is None:
        failure = _check_records(conn)
    return VerifyReport(failure is None, n_entries, n_roots, failure, last_seq, unsigned, key_ids)
