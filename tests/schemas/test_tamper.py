"""Attacks on the publication log by someone who can write the database (issue 15), each
refused: wipe and re-sign, signing around the last signed root, hiding a record by its
status, moving a deadline — and verification against roots saved outside the database."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg.types.json import Jsonb

from schemas.disclosure import ledger
from schemas.disclosure.keys import generate_key, load_private_key
from schemas.disclosure.ledger import LedgerError
from schemas.disclosure.pins import (
    PinError,
    PinnedRoot,
    parse_pins,
    pin_line,
    read_pins,
    signed_roots_file,
)
from schemas.disclosure.signing import sign_roots, sign_with_key_file
from schemas.disclosure.verification import verify
from sourcewatch.cli import main
from tests.schemas.test_ledger import (
    DAY1,
    DAY2,
    RECENT,
    as_superuser_without_triggers,
    publish,
    rechain,
    record,
    withdraw,
)

DAY3 = DAY2 + timedelta(days=1)  # 2026-11-28 local


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "signing-key.pem"
    generate_key(path)
    return path


def wipe(db: psycopg.Connection) -> None:
    """What the database's superuser can still do: every trigger off, both tables emptied."""
    with as_superuser_without_triggers(db):
        db.execute("TRUNCATE publication_roots, publication_log")


def signed_days(db: psycopg.Connection, key_file: Path) -> list[int]:
    ids = [publish(db, "K-1", DAY1), publish(db, "K-2", DAY2)]
    assert len(sign_with_key_file(db, key_file, through=date(2026, 11, 27))) == 2
    return ids


# --- The signer -----------------------------------------------------------------------------


def test_the_signer_records_what_it_signs(db: psycopg.Connection, key_file: Path) -> None:
    signed_days(db, key_file)
    pins = read_pins([signed_roots_file(key_file)])
    assert pins == [PinnedRoot(r.day, r.last_seq, r.root_hash) for r in ledger.roots(db)]
    publish(db, "K-3", DAY3)
    [third] = sign_with_key_file(db, key_file, through=date(2026, 11, 28))
    assert read_pins([signed_roots_file(key_file)])[-1].root_hash == third.root_hash
    assert sign_with_key_file(db, key_file, through=date(2026, 11, 28)) == []


def test_wipe_and_resign_is_refused(db: psycopg.Connection, key_file: Path) -> None:
    """The attack of issue 15: empty the log and its roots, publish edited records again,
    and let the signer sign the new log with the real key."""
    ids = signed_days(db, key_file)
    saved = ledger.roots(db)
    wipe(db)
    db.execute(  # the result made smaller, then both records logged again
        "UPDATE disclosure_records SET content = %s WHERE id = %s",
        (Jsonb({"so2_mg_m3": 15.2}), ids[0]),
    )
    for record_id in ids:
        ledger.append(db, record_id, "publish")
    with pytest.raises(LedgerError, match="no root of 2026-11-26, which was signed before"):
        sign_with_key_file(db, key_file, through=date(2026, 11, 27))
    assert ledger.roots(db) == []
    with as_superuser_without_triggers(db):  # the old roots (genuine signatures) put back
        for r in saved:
            db.execute(
                "INSERT INTO publication_roots (day, last_seq, root_hash, entry_count, key_id, "
                "signature, signed_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (r.day, r.last_seq, r.root_hash, r.entry_count, r.key_id, r.signature, r.signed_at),
            )
    with pytest.raises(LedgerError, match="does not extend the root of 2026-11-26"):
        sign_with_key_file(db, key_file, through=date(2026, 11, 28))


def test_roots_deleted_from_the_database_are_refused(
    db: psycopg.Connection, key_file: Path
) -> None:
    signed_days(db, key_file)
    with as_superuser_without_triggers(db):
        db.execute("DELETE FROM publication_roots WHERE day = '2026-11-27'")
    publish(db, "K-3", DAY3)
    with pytest.raises(LedgerError, match="publication_roots has no root of 2026-11-27"):
        sign_with_key_file(db, key_file, through=date(2026, 11, 28))


def test_a_log_rewritten_under_the_last_root_is_refused(
    db: psycopg.Connection, key_file: Path
) -> None:
    """Entries rewritten up to the last signed root, the root left alone: the signer checked
    only the entries after it, so it went on signing a chain that no longer leads there."""
    ids = signed_days(db, key_file)
    db.execute("UPDATE disclosure_records SET title_zh = '改' WHERE id = %s", (ids[0],))
    rechain(db, 1)
    publish(db, "K-3", DAY3)
    key = load_private_key(key_file)
    with pytest.raises(LedgerError, match="does not extend the root of 2026-11-26"):
        sign_roots(db, key, through=date(2026, 11, 28))  # the database's own roots suffice


def test_a_day_older_than_the_last_signed_day_is_never_signed(
    db: psycopg.Connection, key_file: Path
) -> None:
    signed_days(db, key_file)
    publish(db, "K-0", DAY1 - timedelta(days=2))  # logged on the 24th, after the 27th was signed
    publish(db, "K-3", DAY3)
    [root] = sign_with_key_file(db, key_file, through=date(2026, 11, 28))
    assert root.day == date(2026, 11, 28) and root.last_seq == 4  # covers the late entry
    assert [r.day for r in ledger.roots(db)] == [date(2026, 11, d) for d in (26, 27, 28)]


def test_a_root_in_the_database_not_signed_by_the_key_is_refused(
    db: psycopg.Connection, key_file: Path
) -> None:
    signed_days(db, key_file)
    forged = Ed25519PrivateKey.generate()
    with as_superuser_without_triggers(db):
        db.execute(
            "UPDATE publication_roots SET signature = %s WHERE day = '2026-11-27'",
            (forged.sign(b"anything"),),
        )
    publish(db, "K-3", DAY3)
    with pytest.raises(LedgerError, match="root of 2026-11-27 does not verify with key"):
        sign_with_key_file(db, key_file, through=date(2026, 11, 28))


# --- Pinned roots ---------------------------------------------------------------------------


def test_pins_from_lines_and_from_the_public_json() -> None:
    a = PinnedRoot(date(2026, 11, 26), 2, bytes(range(32)))
    b = PinnedRoot(date(2026, 11, 27), 3, bytes(32))
    text = f"# saved 2026-11-28\n{pin_line(a.day, a.last_seq, a.root_hash)}\n\n  {b.day} 3 {'00' * 32}\n"
    assert parse_pins(text) == [a, b]
    page = {
        "meta": {"found": 2},
        "results": [
            {"day": "2026-11-27", "last_seq": 3, "root_hash": "00" * 32, "signature": "ab"},
            {"day": "2026-11-26", "last_seq": 2, "root_hash": a.root_hash.hex()},
        ],
    }
    assert parse_pins(json.dumps(page)) == [a, b]
    assert parse_pins(json.dumps(page["results"])) == [a, b]
    assert parse_pins(json.dumps({"roots": page["results"]})) == [a, b]
    for bad, message in [
        ("2026-11-26 2", "line 1"),
        ("2026-11-26 0 " + "00" * 32, "last_seq"),
        ("2026-11-26 2 xyz", "root_hash"),
        ("2026-13-26 2 " + "00" * 32, "not a"),
        ('{"results": 3}', "list of roots"),
        ("[1]", "not an object"),
        ("{oops", "not JSON"),
        (f"{text}\n2026-11-27 4 {'00' * 32}", "two different roots of 2026-11-27"),
    ]:
        with pytest.raises(PinError, match=message):
            parse_pins(bad)


# --- Verification against saved roots -------------------------------------------------------

LATER = DAY3 + timedelta(days=30)  # every day of these logs long complete


def citizens_copy(db: psycopg.Connection) -> list[PinnedRoot]:
    """The public roots as a citizen saved them (the JSON of GET /v1/publication/roots)."""
    page = {
        "results": [
            {"day": r.day.isoformat(), "last_seq": r.last_seq, "root_hash": r.root_hash.hex()}
            for r in ledger.roots(db)
        ]
    }
    return parse_pins(json.dumps(page))


def test_a_wiped_and_resigned_log_fails_against_saved_roots(
    db: psycopg.Connection, key_file: Path
) -> None:
    """Even when the log is rebuilt and signed again with the real key (a signer that lost
    its record), the roots a citizen saved earlier expose it."""
    ids = signed_days(db, key_file)
    saved = citizens_copy(db)
    assert verify(db, pinned=saved, now=LATER).ok
    wipe(db)
    db.execute(
        "UPDATE disclosure_records SET content = %s WHERE id = %s",
        (Jsonb({"so2_mg_m3": 15.2}), ids[0]),
    )
    for record_id in ids:
        ledger.append(db, record_id, "publish")
    sign_roots(db, load_private_key(key_file), through=date(2026, 11, 27))  # no record kept
    assert verify(db, now=LATER).ok  # the database agrees with itself …
    report = verify(db, pinned=saved, now=LATER)  # … not with what was public before
    assert not report.ok and report.first_failure is not None
    failure = report.first_failure
    assert (failure.kind, failure.day) == ("root", date(2026, 11, 26))
    assert "not the one of the pinned root" in failure.reason


def test_a_suppressed_record_fails_against_saved_roots(
    db: psycopg.Connection, key_file: Path
) -> None:
    ids = signed_days(db, key_file)
    saved = citizens_copy(db)
    with as_superuser_without_triggers(db):  # the newest record and every trace of it gone
        db.execute("DELETE FROM publication_roots WHERE day = '2026-11-27'")
        db.execute("DELETE FROM publication_log WHERE seq = 2")
        db.execute("DELETE FROM disclosure_records WHERE id = %s", (ids[1],))
    assert verify(db, now=LATER).ok
    failure = verify(db, pinned=saved, now=LATER).first_failure
    assert failure is not None and failure.day == date(2026, 11, 27)
    assert "the log ends at entry 1" in failure.reason


def test_a_pinned_root_missing_or_changed_in_the_database_fails(
    db: psycopg.Connection, key_file: Path
) -> None:
    signed_days(db, key_file)
    saved = citizens_copy(db)
    with as_superuser_without_triggers(db):
        db.execute("DELETE FROM publication_roots WHERE day = '2026-11-26'")
    failure = verify(db, pinned=saved, now=DAY2).first_failure
    assert failure is not None and failure.day == date(2026, 11, 26)
    assert "no root of the day, which you pinned" in failure.reason


def test_completed_days_need_their_roots(db: psycopg.Connection, key_file: Path) -> None:
    """No roots at all used to verify as ok: a log emptied and rebuilt needs no key then."""
    publish(db, "K-1", DAY1)
    publish(db, "K-2", DAY2)
    assert verify(db, now=DAY2 + timedelta(hours=1)).ok  # the 26th ended an hour ago
    assert verify(db, now=DAY2 + timedelta(hours=5, minutes=59)).ok  # within the grace
    failure = verify(db, now=DAY2 + timedelta(hours=6)).first_failure
    assert failure is not None and (failure.kind, failure.day) == ("root", date(2026, 11, 26))
    assert "no signed root" in failure.reason
    sign_with_key_file(db, key_file, through=date(2026, 11, 26))
    assert verify(db, now=DAY3).ok
    failure = verify(db, now=LATER).first_failure
    assert failure is not None and failure.day == date(2026, 11, 27)


def test_a_late_entry_on_an_unsigned_day_waits_for_the_next_root(
    db: psycopg.Connection, key_file: Path
) -> None:
    signed_days(db, key_file)
    publish(db, "K-0", DAY1 - timedelta(days=2))  # logged on the 24th, after the 27th was signed
    failure = verify(db, now=LATER).first_failure
    assert failure is not None and failure.day == date(2026, 11, 24)
    publish(db, "K-3", DAY3)
    sign_with_key_file(db, key_file, through=date(2026, 11, 28))
    report = verify(db, now=LATER)
    assert report.ok and report.unsigned_entries == 0, report.summary()


def test_cli_verify_with_pinned_roots(
    db: psycopg.Connection,
    database_url: str,
    key_file: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    ids = signed_days(db, key_file)
    saved = tmp_path / "roots.json"
    saved.write_text(
        json.dumps(
            [
                {"day": p.day.isoformat(), "last_seq": p.last_seq, "root_hash": p.root_hash.hex()}
                for p in citizens_copy(db)
            ]
        )
    )
    signer_record = signed_roots_file(key_file)  # the signer's own record is a pins file too
    assert main(["verify", "--pinned", str(saved), "--pinned", str(signer_record)]) == 0
    assert "2 pinned checked" in capsys.readouterr().out
    with as_superuser_without_triggers(db):
        db.execute("DELETE FROM publication_roots WHERE day = '2026-11-27'")
        db.execute("DELETE FROM publication_log WHERE seq = 2")
        db.execute("DELETE FROM disclosure_records WHERE id = %s", (ids[1],))
    assert main(["verify", "--pinned", str(saved)]) == 1
    assert "the log ends at entry 1" in capsys.readouterr().out
    (tmp_path / "bad.txt").write_text("2026-11-27 2\n")
    assert main(["verify", "--pinned", str(tmp_path / "bad.txt")]) == 2
    assert "line 1" in capsys.readouterr().err


# --- Status and deadlines -------------------------------------------------------------------


def test_a_published_record_hidden_by_its_status_is_named(
    db: psycopg.Connection, key_file: Path
) -> None:
    """`UPDATE … SET status = 'draft'` took a published record off the public list, and the
    log still verified: the status was not checked."""
    ids = signed_days(db, key_file)
    assert verify(db, now=LATER).ok
    for status in ("draft", "approved", "superseded"):
        db.execute("UPDATE disclosure_records SET status = %s WHERE id = %s", (status, ids[0]))
        failure = verify(db, now=LATER).first_failure
        assert failure is not None and (failure.kind, failure.record_id) == ("record", ids[0])
        assert f"status is {status!r}" in failure.reason and "entry 1" in failure.reason
    db.execute("UPDATE disclosure_records SET status = 'published' WHERE id = %s", (ids[0],))
    withdraw(db, ids[1], DAY2 + timedelta(hours=1))
    assert verify(db, now=DAY2 + timedelta(hours=2)).ok
    db.execute(  # withdrawn, then quietly put back
        "UPDATE disclosure_records SET status = 'published' WHERE id = %s", (ids[1],)
    )
    failure = verify(db, now=DAY2 + timedelta(hours=2)).first_failure
    assert failure is not None and failure.record_id == ids[1]
    assert "status is 'published'" in failure.reason and "withdrew it" in failure.reason


def test_a_moved_deadline_is_named(db: psycopg.Connection, key_file: Path) -> None:
    """`due_on` was outside the hash: moving it faked timeliness."""
    ids = signed_days(db, key_file)
    db.execute("UPDATE disclosure_records SET due_on = '2026-12-31' WHERE id = %s", (ids[0],))
    failure = verify(db, now=LATER).first_failure
    assert failure is not None and (failure.kind, failure.seq) == ("entry", 1)
    assert "due_on" in failure.reason


def test_entries_of_the_first_form_still_verify(db: psycopg.Connection) -> None:
    """Entries logged before due_on was hashed (form 1, no "form" field) are rebuilt in
    their own form; new entries are form 2, without staff names."""
    first = record(db, "K-1", DAY1)
    canonical = ledger.canonical_record(db, first, "publish", form=1)
    digest = hashlib.sha256(canonical).digest()
    entry_hash = ledger.compute_entry_hash(1, DAY1, "publish", bytes(32), digest)
    db.execute(
        "INSERT INTO publication_log (seq, logged_at, record_id, record_key, version, action, "
        "canonical, content_sha256, prev_hash, entry_hash) "
        "VALUES (1, %s, %s, 'K-1', 1, 'publish', %s, %s, %s, %s)",
        (DAY1, first, canonical.decode(), digest, bytes(32), entry_hash),
    )
    second = publish(db, "K-2", DAY2)
    old, new = (e.content() for e in ledger.entries(db))
    assert "form" not in old and old["published_by"] == "editor" and "due_on" not in old
    assert new["form"] == 2 and "published_by" not in new and "due_on" in new
    assert verify(db, now=RECENT).ok
    db.execute("UPDATE disclosure_records SET due_on = '2026-12-31'")  # form 1: not covered
    failure = verify(db, now=RECENT).first_failure
    assert failure is not None and (failure.seq, failure.record_id) == (2, second)
