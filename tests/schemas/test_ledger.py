"""The publication log (schemas/disclosure/ledger.py): the chain, the signed roots, and a
verification that names the first entry, root or record that does not match — whoever
changed what directly in the database."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql
from psycopg.types.json import Jsonb

from alerts.settings import AlertsSettings
from schemas.disclosure import ledger
from schemas.disclosure.keys import (
    SigningKeyError,
    generate_key,
    key_id,
    load_private_key,
    load_public_keys,
    public_key_pem,
    raw_public_key,
)
from schemas.disclosure.ledger import LedgerError, append, canonical_record
from schemas.disclosure.signing import sign_roots
from schemas.disclosure.verification import verify
from sourcewatch.cli import main

# 2026-11-27 in Asia/Shanghai runs from 2026-11-26T16:00Z to 2026-11-27T16:00Z.
DAY1 = datetime(2026, 11, 26, 15, 59, 59, 123456, tzinfo=UTC)  # 23:59:59 local, 26th
DAY2 = datetime(2026, 11, 26, 16, 0, 0, 1, tzinfo=UTC)  # 00:00:00 local, 27th
RECENT = DAY2 + timedelta(hours=1)  # unsigned days not yet due for their root (verify's now)


def enterprise(db: psycopg.Connection) -> int:
    row = db.execute(
        "INSERT INTO enterprises (uscc, name_zh) VALUES ('91330100000000001A', '杭州热电') "
        "ON CONFLICT (uscc) DO UPDATE SET name_zh = EXCLUDED.name_zh RETURNING id"
    ).fetchone()
    assert row is not None
    return int(row[0])


def record(
    db: psycopg.Connection,
    key: str,
    published_at: datetime | None,
    *,
    version: int = 1,
    supersedes: int | None = None,
    content: dict[str, object] | None = None,
) -> int:
    """A record version as the workflow leaves it: published (or a draft without a time)."""
    row = db.execute(
        "INSERT INTO disclosure_records (record_key, version, record_type, category, "
        "enterprise_id, title_zh, title_en, content, origin, status, formed_at, created_by, "
        "updated_by, published_at, published_by, supersedes, correction_reason) "
        "VALUES (%s, %s, 'supervisory_monitoring', 'monitoring', %s, '监督性监测结果', "
        "'Supervisory monitoring result', %s, 'staff', %s, %s, 'editor', 'editor', %s, %s, %s, %s) "
        "RETURNING id",
        (
            key,
            version,
            enterprise(db),
            Jsonb(content or {"so2_mg_m3": 35.2, "note": "合格", "samples": [1, 2]}),
            "published" if published_at else "draft",
            (published_at or DAY1) - timedelta(days=2),
            published_at,
            "editor" if published_at else None,
            supersedes,
            "corrected value" if supersedes else None,
        ),
    ).fetchone()
    assert row is not None
    return int(row[0])


def publish(db: psycopg.Connection, key: str, at: datetime, **kw: object) -> int:
    record_id = record(db, key, at, **kw)  # type: ignore[arg-type]
    append(db, record_id, "publish")
    return record_id


def withdraw(db: psycopg.Connection, record_id: int, at: datetime) -> ledger.LedgerEntry:
    db.execute(
        "UPDATE disclosure_records SET status = 'withdrawn', withdrawn_at = %s, "
        "withdrawn_by = 'admin', withdrawn_reason = 'published by mistake' WHERE id = %s",
        (at, record_id),
    )
    return append(db, record_id, "withdraw")


def attach(db: psycopg.Connection, record_id: int, name: str, content: bytes) -> None:
    db.execute(
        "INSERT INTO disclosure_attachments (record_id, filename, media_type, size_bytes, "
        "sha256, content, uploaded_by) VALUES (%s, %s, 'application/pdf', %s, %s, %s, 'editor')",
        (record_id, name, len(content), hashlib.sha256(content).digest(), content),
    )


@contextmanager
def as_superuser_without_triggers(db: psycopg.Connection) -> Iterator[None]:
    """What someone with the database's superuser can do: every trigger (the append-only ones
    included) off for one transaction."""
    with db.transaction():
        db.execute("SET LOCAL session_replication_role = replica")
        yield


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def three_signed(db: psycopg.Connection, key: Ed25519PrivateKey) -> list[int]:
    """Three published records over two local days, the roots of both days signed."""
    ids = [
        publish(db, "K-1", DAY1 - timedelta(hours=1)),
        publish(db, "K-2", DAY1),
        publish(db, "K-3", DAY2),
    ]
    assert len(sign_roots(db, key, through=date(2026, 11, 27))) == 2
    return ids


# --- Appending ------------------------------------------------------------------------------


def test_entries_chain_publications_and_withdrawals(db: psycopg.Connection) -> None:
    first = publish(db, "K-1", DAY1)
    second = publish(db, "K-2", DAY2)
    entry = withdraw(db, first, DAY2 + timedelta(hours=1))
    log = ledger.entries(db)
    assert [(e.seq, e.record_id, e.action) for e in log] == [
        (1, first, "publish"),
        (2, second, "publish"),
        (3, first, "withdraw"),
    ]
    assert log[-1] == entry
    assert log[0].prev_hash == bytes(32)
    for prev, e in zip([None, *log], log, strict=False):
        if prev is not None:
            assert e.prev_hash == prev.entry_hash
        assert e.content_sha256 == hashlib.sha256(e.canonical).digest()
        layout = (
            f"sourcewatch-log-v1\n{e.seq}\n{ledger.iso_utc(e.logged_at)}\n{e.action}\n"
            f"{e.prev_hash.hex()}\n{e.content_sha256.hex()}"
        )
        assert e.entry_hash == hashlib.sha256(layout.encode()).digest()
    assert log[0].logged_at == DAY1 and log[2].logged_at == DAY2 + timedelta(hours=1)
    assert ledger.iso_utc(DAY1) == "2026-11-26T15:59:59.123456Z"
    published = log[0].content()
    assert published["published_at"] == "2026-11-26T15:59:59.123456Z"
    assert published["record_key"] == "K-1" and published["version"] == 1
    assert "status" not in published and "withdrawn_at" not in published
    withdrawn = log[2].content()
    assert withdrawn["withdrawn_reason"] == "published by mistake"
    assert withdrawn["withdrawn_at"] == "2026-11-26T17:00:00.000001Z"
    assert verify(db, now=RECENT).ok


def test_canonical_content_is_rfc8785_of_the_fields_that_never_change(
    db: psycopg.Connection,
) -> None:
    old = publish(db, "K-1", DAY1)
    before = canonical_record(db, old, "publish")
    db.execute("UPDATE disclosure_records SET status = 'superseded' WHERE id = %s", (old,))
    assert canonical_record(db, old, "publish") == before  # status is not content
    new = record(db, "K-1", DAY2, version=2, supersedes=old, content={"b": 1.50, "a": "x"})
    attach(db, new, "z.pdf", b"%PDF zzz")
    attach(db, new, "a.pdf", b"%PDF aaa")
    canonical = canonical_record(db, new, "publish")
    data = json.loads(canonical)
    assert canonical == rfc8785.dumps(data)
    assert list(data) == sorted(data)
    assert data["content"] == {"a": "x", "b": 1.5}
    assert data["supersedes"] == old and data["correction_reason"] == "corrected value"
    digests = [a["sha256"] for a in data["attachments"]]
    assert digests == sorted(digests) and len(digests) == 2
    assert {a["filename"] for a in data["attachments"]} == {"a.pdf", "z.pdf"}
    assert data["attachments"][0]["size_bytes"] == 8


def test_append_refuses_what_was_not_published_and_logs_each_action_once(
    db: psycopg.Connection,
) -> None:
    draft = record(db, "K-1", None)
    with pytest.raises(LedgerError, match="never published"):
        append(db, draft, "publish")
    published = publish(db, "K-2", DAY1)
    with pytest.raises(LedgerError, match="already entry 1"):
        append(db, published, "publish")
    with pytest.raises(LedgerError, match="not withdrawn"):
        append(db, published, "withdraw")
    with pytest.raises(LedgerError, match="does not exist"):
        append(db, 999_999, "publish")
    with pytest.raises(LedgerError, match="unknown action"):
        append(db, published, "delete")  # type: ignore[arg-type]
    assert [e.seq for e in ledger.entries(db)] == [1]


def test_append_belongs_to_the_callers_transaction(db: psycopg.Connection) -> None:
    with pytest.raises(RuntimeError), db.transaction():
        publish(db, "K-1", DAY1)
        raise RuntimeError("the publication fails after the append")
    assert ledger.entries(db) == []
    publish(db, "K-2", DAY1)
    assert [e.seq for e in ledger.entries(db)] == [1]  # no gap


def test_append_needs_read_committed(db: psycopg.Connection) -> None:
    draft_to_publish = record(db, "K-1", DAY1)
    with db.transaction():
        db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(LedgerError, match="READ COMMITTED"):
            append(db, draft_to_publish, "publish")


def test_concurrent_appends_stay_gapless(db: psycopg.Connection, database_url: str) -> None:
    ids = [record(db, f"K-{i}", DAY1 + timedelta(seconds=i)) for i in range(40)]
    errors: list[Exception] = []

    def worker(mine: list[int]) -> None:
        try:
            with psycopg.connect(database_url) as conn:
                for record_id in mine:
                    append(conn, record_id, "publish")
                    conn.commit()
        except Exception as exc:  # noqa: BLE001  (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [e.seq for e in ledger.entries(db)] == list(range(1, 41))
    assert verify(db, now=RECENT).ok


def test_the_log_and_roots_are_append_only(db: psycopg.Connection, key: Ed25519PrivateKey) -> None:
    three_signed(db, key)
    for statement in [
        "UPDATE publication_log SET record_key = 'X' WHERE seq = 1",
        "DELETE FROM publication_log WHERE seq = 3",
        "UPDATE publication_roots SET entry_count = 9",
        "DELETE FROM publication_roots",
        "UPDATE signing_keys SET created_at = created_at - interval '1 day'",
        "DELETE FROM signing_keys",
    ]:
        with pytest.raises(psycopg.errors.RaiseException):
            db.execute(statement)
    db.execute("UPDATE signing_keys SET retired_at = now()")  # retiring a key is allowed
    with pytest.raises(LedgerError, match="retired"):
        sign_roots(db, key, through=date(2026, 12, 31))


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE publication_roots, publication_log",
        "TRUNCATE publication_log CASCADE",
        "TRUNCATE publication_roots",
        "TRUNCATE signing_keys",
        "TRUNCATE disclosure_records CASCADE",  # reaches the log through its foreign key
        "TRUNCATE staff_audit",
    ],
)
def test_the_log_cannot_be_wiped(
    db: psycopg.Connection, key: Ed25519PrivateKey, statement: str
) -> None:
    """The first step of "wipe and re-sign": even the tables' owner cannot empty them."""
    three_signed(db, key)
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        db.execute(statement)
    assert len(ledger.entries(db)) == 3 and len(ledger.roots(db)) == 2


# --- Signing --------------------------------------------------------------------------------


def test_daily_roots_are_signed_once(db: psycopg.Connection, key: Ed25519PrivateKey) -> None:
    publish(db, "K-1", DAY1 - timedelta(hours=1))
    publish(db, "K-2", DAY1)
    publish(db, "K-3", DAY2)
    assert sign_roots(db, key, through=date(2026, 11, 25)) == []
    [first] = sign_roots(db, key, through=date(2026, 11, 26))
    [second] = sign_roots(db, key, through=date(2026, 11, 28))
    assert sign_roots(db, key, through=date(2026, 11, 28)) == []  # idempotent
    log = ledger.entries(db)
    assert (first.day, first.last_seq, first.entry_count) == (date(2026, 11, 26), 2, 2)
    assert (second.day, second.last_seq, second.entry_count) == (date(2026, 11, 27), 3, 1)
    assert first.root_hash == log[1].entry_hash and second.root_hash == log[2].entry_hash
    assert (
        first.message == f"sourcewatch-root-v1\n2026-11-26\n2\n{log[1].entry_hash.hex()}".encode()
    )
    key.public_key().verify(first.signature, first.message)
    assert first.key_id == key_id(key.public_key())
    [stored] = ledger.signing_keys(db)
    assert (stored.key_id, stored.public_key) == (first.key_id, raw_public_key(key))
    assert ledger.roots(db) == [first, second]
    report = verify(db)
    assert (report.ok, report.entries_checked, report.roots_checked) == (True, 3, 2)
    assert report.unsigned_entries == 0


def test_a_late_entry_is_covered_by_the_next_root(
    db: psycopg.Connection, key: Ed25519PrivateKey
) -> None:
    publish(db, "K-1", DAY1)
    sign_roots(db, key, through=date(2026, 11, 26))
    publish(db, "K-2", DAY1 - timedelta(minutes=5))  # committed late, logged on a signed day
    assert verify(db).unsigned_entries == 1
    assert sign_roots(db, key, through=date(2026, 11, 26)) == []
    publish(db, "K-3", DAY2)
    [root] = sign_roots(db, key, through=date(2026, 11, 27))
    assert root.last_seq == 3
    report = verify(db)
    assert report.ok and report.unsigned_entries == 0


def test_signing_refuses_a_log_that_does_not_verify(
    db: psycopg.Connection, key: Ed25519PrivateKey
) -> None:
    record_id = publish(db, "K-1", DAY1)
    db.execute("UPDATE disclosure_records SET title_zh = '改' WHERE id = %s", (record_id,))
    with pytest.raises(LedgerError, match="does not verify: entry 1"):
        sign_roots(db, key, through=date(2026, 11, 30))
    assert ledger.roots(db) == []


def test_another_key_under_a_known_key_id_is_refused(
    db: psycopg.Connection, key: Ed25519PrivateKey
) -> None:
    three_signed(db, key)
    other = Ed25519PrivateKey.generate()
    with as_superuser_without_triggers(db):
        db.execute("UPDATE signing_keys SET key_id = %s", (key_id(other.public_key()),))
    with pytest.raises(LedgerError, match="another public key"):
        sign_roots(db, other, through=date(2026, 11, 30))


# --- Verification: tampering ----------------------------------------------------------------


def test_a_published_row_changed_in_the_database_is_named(
    db: psycopg.Connection, key: Ed25519PrivateKey
) -> None:
    ids = three_signed(db, key)
    assert verify(db).ok
    db.execute(
        "UPDATE disclosure_records SET content = %s WHERE id = %s",
        (Jsonb({"so2_mg_m3": 15.2, "note": "合格", "samples": [1, 2]}), ids[1]),
    )
    report = verify(db)
    assert not report.ok
    failure = report.first_failure
    assert failure is not None
    assert (failure.kind, failure.seq, failure.record_id, failure.record_key) == (
        "entry",
        2,
        ids[1],
        "K-2",
    )
    assert "content" in failure.reason and report.entries_checked == 1


@pytest.mark.parametrize("column", ["published_at", "title_en", "formed_at", "outlet_id"])
def test_any_published_field_changed_is_named(
    db: psycopg.Connection, key: Ed25519PrivateKey, column: str
) -> None:
    ids = three_signed(db, key)
    value = {"published_at": DAY1, "title_en": "Nothing to see", "formed_at": DAY2}.get(column)
    if column == "outlet_id":
        db.execute(
            "INSERT INTO outlets (enterprise_id, mn, name_zh, kind) "
            "SELECT id, 'MN1', '1号', 'gas' FROM enterprises LIMIT 1"
        )
        value = db.execute("SELECT id FROM outlets").fetchone()[0]  # type: ignore[index]
    db.execute(
        sql.SQL("UPDATE disclosure_records SET {} = %s WHERE id = %s").format(
            sql.Identifier(column)
        ),
        (value, ids[0]),
    )
    failure = verify(db).first_failure
    assert failure is not None and (failure.seq, failure.record_key) == (1, "K-1")
    assert column in failure.reason


def test_a_tampered_attachment_is_named(db: psycopg.Connection, key: Ed25519PrivateKey) -> None:
    first = record(db, "K-1", DAY1)
    attach(db, first, "decision.pdf", b"%PDF penalty 100000 yuan")
    append(db, first, "publish")
    publish(db, "K-2", DAY2)
    sign_roots(db, key, through=date(2026, 11, 30))
    db.execute("UPDATE disclosure_attachments SET content = '%PDF penalty 1000 yuan'")
    failure = verify(db).first_failure
    assert failure is not None and (failure.seq, failure.record_key) == (1, "K-1")
    assert "decision.pdf" in failure.reason and "SHA-256" in failure.reason
    forged = b"%PDF penalty 1000 yuan"  # digest and size made to match the new content
    db.execute(
        "UPDATE disclosure_attachments SET content = %s, sha256 = %s, size_bytes = %s",
        (forged, hashlib.sha256(forged).digest(), len(forged)),
    )
    failure = verify(db).first_failure
    assert failure is not None and failure.seq == 1 and "attachments" in failure.reason


def test_an_added_attachment_is_named(db: psycopg.Connection, key: Ed25519PrivateKey) -> None:
    ids = three_signed(db, key)
    attach(db, ids[2], "later.pdf", b"%PDF added afterwards")
    failure = verify(db).first_failure
    assert failure is not None and (failure.seq, failure.record_id) == (3, ids[2])


def test_a_deleted_log_entry_is_named(db: psycopg.Connection, key: Ed25519PrivateKey) -> None:
    three_signed(db, key)
    publish(db, "K-4", DAY2 + timedelta(hours=1))
    with db.transaction():  # as the superuser: the trigger off, for this transaction only
        db.execute("ALTER TABLE publication_log DISABLE TRIGGER publication_log_append_only")
        db.execute("DELETE FROM publication_log WHERE seq = 1")  # no root ends there
        db.execute("ALTER TABLE publication_log ENABLE TRIGGER publication_log_append_only")
    failure = verify(db).first_failure
    assert failure is not None
    assert (failure.kind, failure.seq) == ("entry", 1) and "missing" in failure.reason


def test_a_deleted_entry_and_its_record_publication_are_caught(db: psycopg.Connection) -> None:
    publish(db, "K-1", DAY1)
    publish(db, "K-2", DAY2)
    with as_superuser_without_triggers(db):
        db.execute("DELETE FROM publication_log WHERE seq = 2")  # the newest: no gap left
    failure = verify(db, now=RECENT).first_failure
    assert failure is not None
    assert (failure.kind, failure.record_key) == ("record", "K-2")
    assert "not in the publication log" in failure.reason


def test_a_modified_log_entry_is_named(db: psycopg.Connection, key: Ed25519PrivateKey) -> None:
    three_signed(db, key)
    with as_superuser_without_triggers(db):
        db.execute(
            "UPDATE publication_log SET canonical = replace(canonical, '35.2', '15.2') "
            "WHERE seq = 2"
        )
    failure = verify(db).first_failure
    assert failure is not None and (failure.seq, failure.record_key) == (2, "K-2")
    assert "content_sha256" in failure.reason


def test_a_modified_log_time_is_named(db: psycopg.Connection, key: Ed25519PrivateKey) -> None:
    three_signed(db, key)
    with as_superuser_without_triggers(db):
        db.execute(
            "UPDATE publication_log SET logged_at = logged_at - interval '1 day' WHERE seq = 3"
        )
    failure = verify(db).first_failure
    assert failure is not None and failure.seq == 3 and "entry_hash" in failure.reason


def test_an_entry_rewritten_consistently_breaks_the_next_link(db: psycopg.Connection) -> None:
    ids = [publish(db, f"K-{i}", DAY1 + timedelta(minutes=i)) for i in range(3)]
    db.execute("UPDATE disclosure_records SET title_zh = '改' WHERE id = %s", (ids[1],))
    rechain(db, 2, through=2)  # entry 2 now matches the edited record …
    failure = verify(db).first_failure
    assert failure is not None and failure.seq == 3  # … but entry 3 still points to the old one
    assert "prev_hash" in failure.reason


def rechain(db: psycopg.Connection, first: int, *, through: int | None = None) -> None:
    """What an attacker with the database does: recompute entries from the records as they
    are now (no secret is needed for that)."""
    log = ledger.entries(db)
    prev = log[first - 2].entry_hash if first > 1 else bytes(32)
    with as_superuser_without_triggers(db):
        for e in log[first - 1 : through]:
            canonical = canonical_record(db, e.record_id, e.action)
            digest = hashlib.sha256(canonical).digest()
            entry_hash = ledger.compute_entry_hash(e.seq, e.logged_at, e.action, prev, digest)
            db.execute(
                "UPDATE publication_log SET canonical = %s, content_sha256 = %s, prev_hash = %s,"
                " entry_hash = %s WHERE seq = %s",
                (canonical.decode(), digest, prev, entry_hash, e.seq),
            )
            prev = entry_hash


def resign(db: psycopg.Connection, signer: Ed25519PrivateKey, *, as_key_id: str) -> None:
    """Recompute every root over the (rewritten) log and sign it with ``signer``."""
    log = {e.seq: e for e in ledger.entries(db)}
    with as_superuser_without_triggers(db):
        for root in ledger.roots(db):
            root_hash = log[root.last_seq].entry_hash
            signature = signer.sign(ledger.root_message(root.day, root.last_seq, root_hash))
            db.execute(
                "UPDATE publication_roots SET root_hash = %s, signature = %s, key_id = %s "
                "WHERE day = %s",
                (root_hash, signature, as_key_id, root.day),
            )


def test_a_rechained_log_with_the_roots_left_alone_fails_at_the_root(
    db: psycopg.Connection, key: Ed25519PrivateKey
) -> None:
    ids = three_signed(db, key)
    db.execute("UPDATE disclosure_records SET title_zh = '改' WHERE id = %s", (ids[1],))
    rechain(db, 2)
    failure = verify(db).first_failure
    assert failure is not None
    assert (failure.kind, failure.day) == ("root", date(2026, 11, 26))
    assert "root_hash" in failure.reason


def test_roots_resigned_with_another_key_are_rejected(
    db: psycopg.Connection, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    ids = three_signed(db, key)
    trusted_file = tmp_path / "sourcewatch.pub"
    trusted_file.write_text(public_key_pem(key))
    trusted = load_public_keys([trusted_file])
    assert verify(db, trusted).ok
    db.execute("UPDATE disclosure_records SET title_zh = '改' WHERE id = %s", (ids[1],))
    rechain(db, 2)
    attacker = Ed25519PrivateKey.generate()
    attacker_id = key_id(attacker.public_key())

    # the key id of the attacker's key is unknown
    resign(db, attacker, as_key_id=attacker_id)
    failure = verify(db).first_failure
    assert failure is not None and (failure.kind, failure.day) == ("root", date(2026, 11, 26))
    assert f"key {attacker_id}, which is not a trusted key" in failure.reason

    # the attacker's signature under the service's key id
    resign(db, attacker, as_key_id=key_id(key.public_key()))
    failure = verify(db).first_failure
    assert failure is not None and failure.kind == "root"
    assert "signature does not verify" in failure.reason

    # the attacker's public key put in signing_keys under the service's key id
    with as_superuser_without_triggers(db):
        db.execute("UPDATE signing_keys SET public_key = %s", (raw_public_key(attacker),))
    failure = verify(db).first_failure
    assert failure is not None and "not a trusted key" in failure.reason

    # the attacker's key registered in signing_keys as well: the database now agrees with
    # itself, so only keys saved outside it (the published PEM) tell
    with as_superuser_without_triggers(db):
        db.execute("UPDATE signing_keys SET public_key = %s", (raw_public_key(key),))
    resign(db, attacker, as_key_id=attacker_id)
    db.execute(
        "INSERT INTO signing_keys (key_id, public_key) VALUES (%s, %s)",
        (attacker_id, raw_public_key(attacker)),
    )
    assert verify(db).ok
    report = verify(db, trusted)
    assert not report.ok and report.first_failure is not None
    assert report.first_failure.kind == "root"
    assert "not a trusted key" in report.first_failure.reason
    assert report.trusted_key_ids == (key_id(key.public_key()),)


def test_a_record_published_without_its_entry_is_named(db: psycopg.Connection) -> None:
    publish(db, "K-1", DAY1)
    sneaked = record(db, "K-2", DAY2)  # published straight into the table
    failure = verify(db, now=RECENT).first_failure
    assert failure is not None
    assert (failure.kind, failure.record_id, failure.record_key) == ("record", sneaked, "K-2")
    append(db, sneaked, "publish")
    db.execute(
        "UPDATE disclosure_records SET status = 'withdrawn', withdrawn_at = %s, "
        "withdrawn_by = 'x', withdrawn_reason = 'y' WHERE id = %s",
        (DAY2, sneaked),
    )
    failure = verify(db, now=RECENT).first_failure
    assert failure is not None and "withdrawn but not in the publication log" in failure.reason


# --- Keys -----------------------------------------------------------------------------------


def test_key_files(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    kid = generate_key(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in path.read_bytes()
    private = load_private_key(path)
    assert (
        kid
        == key_id(private.public_key())
        == hashlib.sha256(raw_public_key(private)).hexdigest()[:16]
    )
    with pytest.raises(SigningKeyError, match="refusing to overwrite"):
        generate_key(path)
    public = tmp_path / "signing.pub"
    public.write_text(public_key_pem(private))
    assert list(load_public_keys([public])) == [kid]
    assert list(load_public_keys([path])) == [kid]  # a private key file names its public half
    (tmp_path / "junk.pem").write_text("not a key")
    with pytest.raises(SigningKeyError):
        load_public_keys([tmp_path / "junk.pem"])
    with pytest.raises(SigningKeyError):
        load_private_key(tmp_path / "missing.pem")


def test_the_signing_key_setting_may_be_unset() -> None:
    assert AlertsSettings.from_environ({}).signing_key_file is None
    assert (
        AlertsSettings.from_environ({"SOURCEWATCH_SIGNING_KEY_FILE": "None"}).signing_key_file
        is None
    )
    assert (
        AlertsSettings.from_environ({"SOURCEWATCH_SIGNING_KEY_FILE": ""}).signing_key_file is None
    )
    setting = AlertsSettings.from_environ({"SOURCEWATCH_SIGNING_KEY_FILE": "/etc/sw/key.pem"})
    assert setting.signing_key_file == Path("/etc/sw/key.pem")


# --- CLI ------------------------------------------------------------------------------------


def test_cli_keys_sign_and_verify(
    db: psycopg.Connection,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = tmp_path / "signing-key.pem"
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("SOURCEWATCH_SIGNING_KEY_FILE", str(key_file))
    assert main(["ledger", "sign"]) == 1
    assert "cannot read" in capsys.readouterr().err

    assert main(["keys", "generate"]) == 0
    out = capsys.readouterr().out
    kid = key_id(load_private_key(key_file).public_key())
    assert f"key id {kid}" in out and "BEGIN PUBLIC KEY" in out
    assert main(["keys", "generate"]) == 1  # never overwrites
    public_file = tmp_path / "sourcewatch.pub"
    public_file.write_text(out[out.index("-----BEGIN PUBLIC KEY") :])

    ids = [publish(db, "K-1", DAY1), publish(db, "K-2", DAY2)]
    assert main(["ledger", "sign", "--through", "2026-11-26"]) == 0
    assert "1 root(s) signed through 2026-11-26" in capsys.readouterr().out
    assert main(["ledger", "sign"]) == 0  # through yesterday: the 27th too
    assert "1 root(s) signed" in capsys.readouterr().out

    assert main(["verify"]) == 0
    assert capsys.readouterr().out.startswith("ok: 2 entries, 2 roots checked")
    assert main(["verify", "--public-key", str(public_file)]) == 0
    capsys.readouterr()

    other = tmp_path / "other.pem"
    generate_key(other)
    assert main(["verify", "--public-key", str(other)]) == 1
    assert "not a trusted key" in capsys.readouterr().out

    db.execute("UPDATE disclosure_records SET content = '{}' WHERE id = %s", (ids[1],))
    assert main(["verify"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "entry 2 (record K-2" in out and "content" in out
    assert main(["verify", "--public-key", str(tmp_path / "missing.pub")]) == 2
