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
:func:`schemas.disclosure.signing.sign_roots` stores the ``entry_hash`` of the day's last entry (which commits to every
earlier entry through the chain), its ``seq`` and the day's entry count, signed with Ed25519
over::

    b"sourcewatch-root-v1\\n" + day (YYYY-MM-DD) + b"\\n" + last_seq (decimal) + b"\\n"
    + root_hash (64 lowercase hex digits)

An entry committed after its day was signed (late) is covered by the next day's root.

**Verification** (:func:`schemas.disclosure.verification.verify`) recomputes everything from the tables: the chain, every
entry's hash, every entry's content *from the current ``disclosure_records`` and
``disclosure_attachments`` rows* (so a row edited in the database is caught), every root and
signature, and that every published or withdrawn record version is in the log; it names the
first thing that does not match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, cast

import psycopg
import rfc8785
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from schemas.core.localtime import LOCAL_TZ

__all__ = [
    "ACTIONS",
    "CURRENT_FORM",
    "ENTRY_DOMAIN",
    "FORMS",
    "LOCAL_TZ",
    "ROOT_DOMAIN",
    "ZERO_HASH",
    "Action",
    "LedgerEntry",
    "LedgerError",
    "Root",
    "SigningKey",
    "append",
    "canonical_record",
    "compute_entry_hash",
    "entries",
    "entry_hashes",
    "iso_utc",
    "iter_entries",
    "local_day",
    "lock_log",
    "record_states",
    "root_message",
    "root_of",
    "roots",
    "scalar",
    "signing_keys",
    "withdrawn_versions",
    "yesterday",
]

Action = Literal["publish", "withdraw"]
ACTIONS: tuple[Action, ...] = ("publish", "withdraw")
ENTRY_DOMAIN = b"sourcewatch-log-v1\n"
ROOT_DOMAIN = b"sourcewatch-root-v1\n"
ZERO_HASH = bytes(32)

_LOCK_KEY = 0x5357_5055_424C  # "SWPUBL": serialises appends and signing
_BATCH = 1000

CURRENT_FORM = 2
"""The canonical form new entries are logged in (see :func:`canonical_record`)."""
FORMS = (1, 2)

_RECORD_FIELDS = sql.SQL(
    "id, record_key, version, record_type, category, origin, enterprise_id, outlet_id, "
    "title_zh, title_en, content::text AS content, formed_at, due_on, published_at, "
    "published_by, supersedes, correction_reason, withdrawn_at, withdrawn_by, withdrawn_reason"
)
_ENTRY_FIELDS = sql.SQL(
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

    @property
    def form(self) -> int:
        """The canonical form the entry was logged in: its ``form`` field, 1 without one."""
        try:
            data = json.loads(self.canonical)
        except ValueError:
            return 0
        form = data.get("form", 1) if isinstance(data, dict) else 0
        return form if isinstance(form, int) and form in FORMS else 0


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


def record_states(
    conn: psycopg.Connection[Any], wanted: Sequence[tuple[int, str, int]], *, lock: bool = False
) -> dict[tuple[int, str, int], _State]:
    """What the tables say now about each (record version, action, canonical form)."""
    ids = sorted({record_id for record_id, _, _ in wanted})
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            sql.SQL("SELECT {fields} FROM disclosure_records WHERE id = ANY(%s) {lock}").format(
                fields=_RECORD_FIELDS, lock=sql.SQL("FOR SHARE" if lock else "")
            ),
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
        (record_id, action, form): _state(
            records.get(record_id), attachments.get(record_id, []), action, form
        )
        for record_id, action, form in wanted
    }


def _state(
    record: dict[str, Any] | None, attachments: list[dict[str, Any]], action: str, form: int
) -> _State:
    if record is None:
        return _State(None, "the record version does not exist")
    if action not in ACTIONS:
        return _State(None, f"unknown action {action!r}")
    if form not in FORMS:
        return _State(None, f"unknown canonical form {form!r}")
    files = []
    for a in sorted(attachments, key=lambda a: bytes(a["sha256"]).hex()):
        digest = bytes(a["sha256"]).hex()
        if bytes(a["actual_sha256"]) != bytes(a["sha256"]):
            return _State(
                None,
                f"attachment {a['filename']!r}: its content no longer has "
                f"the SHA-256 {digest} on record",
            )
        if int(a["actual_size"]) != int(a["size_bytes"]):
            return _State(
                None,
                f"attachment {a['filename']!r}: its content is "
                f"{a['actual_size']} bytes, not {a['size_bytes']}",
            )
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
        "supersedes": record["supersedes"],
        "correction_reason": record["correction_reason"],
        "attachments": files,
    }
    if form == 1:  # named the staff user: the names are kept in the staff audit log since
        data["published_by"] = record["published_by"]
    else:
        due = record["due_on"]
        data |= {
            "form": form,
            "origin": record["origin"],
            "due_on": None if due is None else due.isoformat(),
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
            "withdrawn_reason": record["withdrawn_reason"],
        }
        if form == 1:
            data["withdrawn_by"] = record["withdrawn_by"]
    try:
        canonical = rfc8785.dumps(data)
    except rfc8785.CanonicalizationError as exc:
        return _State(None, f"the content cannot be canonicalised (RFC 8785): {exc}")
    return _State(canonical, None, record["record_key"], int(record["version"]), logged_at)


def canonical_record(
    conn: psycopg.Connection[Any], record_id: int, action: Action, *, form: int = CURRENT_FORM
) -> bytes:
    """The RFC 8785 canonical JSON of a record version as published (``publish``: the fields
    that never change after publication, attachments sorted by SHA-256) or withdrawn
    (``withdraw``: those and ``withdrawn_at``, ``withdrawn_reason``). Times are ISO 8601 UTC
    with microseconds.

    Form 2 (``"form": 2``, every entry since issue 15) adds ``due_on`` (the legal deadline,
    so that timeliness cannot be faked) and ``origin``, and leaves out who published or
    withdrew (``published_by``, ``withdrawn_by``: the public log names no staff; the staff
    audit log keeps them). Form 1 (no ``form`` field) has the names and no ``due_on``;
    entries logged in it are verified in it."""
    state = record_states(conn, [(record_id, action, form)])[(record_id, action, form)]
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


def scalar(conn: psycopg.Connection[Any], query: str, params: Sequence[Any] = ()) -> Any:
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(query, params)
        row = cur.fetchone()
    return None if row is None else row[0]


def lock_log(conn: psycopg.Connection[Any]) -> None:
    row = conn.execute(
        "SELECT current_setting('transaction_isolation'), pg_advisory_xact_lock(%s)",
        (_LOCK_KEY,),
    ).fetchone()
    level = None if row is None else row[0]
    if level != "read committed":
        # Under a snapshot taken before the lock, the newest entry could be invisible.
        raise LedgerError(f"the publication log needs READ COMMITTED transactions, not {level}")


def append(conn: psycopg.Connection[Any], record_id: int, action: Action) -> LedgerEntry:
    """Log the publication or withdrawal of a record version, inside the caller's transaction
    (a savepoint; in autocommit mode a transaction of its own). The record must already carry
    its ``published_at`` (and for a withdrawal ``withdrawn_at``); each (version, action) is
    logged once. Raises :class:`LedgerError`."""
    if action not in ACTIONS:
        raise LedgerError(f"unknown action {action!r} (publish or withdraw)")
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        lock_log(conn)
        wanted = (record_id, action, CURRENT_FORM)
        state = record_states(conn, [wanted], lock=True)[wanted]
        if state.canonical is None:
            raise LedgerError(f"record version {record_id}: {state.problem}")
        assert state.logged_at is not None and state.record_key is not None
        assert state.version is not None
        cur.execute(
            "SELECT (SELECT seq FROM publication_log WHERE record_id = %s AND action = %s)"
            " AS done, last.seq, last.entry_hash FROM (SELECT 1) one LEFT JOIN"
            " (SELECT seq, entry_hash FROM publication_log ORDER BY seq DESC LIMIT 1) last"
            " ON true",
            (record_id, action),
        )
        last = cur.fetchone()
        assert last is not None
        if last["done"] is not None:
            raise LedgerError(
                f"record version {record_id}: {action} is already entry {last['done']}"
            )
        seq = 1 if last["seq"] is None else int(last["seq"]) + 1
        prev = ZERO_HASH if last["seq"] is None else bytes(last["entry_hash"])
        content_sha256 = hashlib.sha256(state.canonical).digest()
        entry_hash = compute_entry_hash(seq, state.logged_at, action, prev, content_sha256)
        cur.execute(
            sql.SQL(
                "INSERT INTO publication_log ({fields}) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING {fields}"
            ).format(fields=_ENTRY_FIELDS),
            (
                seq,
                state.logged_at,
                record_id,
                state.record_key,
                state.version,
                action,
                state.canonical.decode(),
                content_sha256,
                prev,
                entry_hash,
            ),
        )
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
            sql.SQL(
                "SELECT {fields} FROM publication_log WHERE seq > %s ORDER BY seq LIMIT %s"
            ).format(fields=_ENTRY_FIELDS),
            (after_seq, limit),
        )
        return [_entry(row) for row in cur.fetchall()]


def entry_hashes(
    conn: psycopg.Connection[Any], seqs: Sequence[int]
) -> tuple[dict[int, tuple[bytes, date]], int]:
    """(seq → (entry_hash, day) of those of ``seqs`` in the log, the log's last seq or 0)."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT seq, entry_hash, logged_at FROM publication_log WHERE seq = ANY(%s)",
            (list(seqs),),
        )
        found = {int(seq): (bytes(h), local_day(at)) for seq, h, at in cur.fetchall()}
    last = scalar(conn, "SELECT coalesce(max(seq), 0) FROM publication_log")
    return found, int(last)


def withdrawn_versions(conn: psycopg.Connection[Any], record_ids: Sequence[int]) -> set[int]:
    """Those of the record versions that the log withdrew."""
    with conn.cursor(row_factory=tuple_row) as cur:
        cur.execute(
            "SELECT record_id FROM publication_log WHERE action = 'withdraw' "
            "AND record_id = ANY(%s)",
            (list(record_ids),),
        )
        return {int(r[0]) for r in cur.fetchall()}


def iter_entries(conn: psycopg.Connection[Any], after_seq: int = 0) -> Iterator[LedgerEntry]:
    while batch := entries(conn, after_seq=after_seq, limit=_BATCH):
        yield from batch
        after_seq = batch[-1].seq


def root_of(row: Mapping[str, Any]) -> Root:
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
        return [root_of(row) for row in cur.fetchall()]


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
