"""Each process connects with its own database role (schemas/core/roles.py): the API and the
publisher may only append to the publication log, only the publisher signs roots, and nothing
may rewrite or empty the log — run against the real PostgreSQL with the real roles."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from schemas.core.roles import PROCESSES, WRITES, RoleError, apply_roles, role_name
from schemas.disclosure import ledger
from schemas.disclosure import workflow as wf
from schemas.disclosure.signing import sign_roots
from sourcewatch.cli import main
from tests.schemas.test_ledger import DAY1, publish

DENIED = psycopg.errors.InsufficientPrivilege

REWRITES = [
    "UPDATE publication_log SET record_key = 'X'",
    "DELETE FROM publication_log",
    "TRUNCATE publication_log CASCADE",
    "UPDATE publication_roots SET entry_count = 9",
    "DELETE FROM publication_roots",
    "TRUNCATE publication_roots",
    "DELETE FROM signing_keys",
    "TRUNCATE signing_keys",
    "DELETE FROM staff_audit",
    "TRUNCATE disclosure_records CASCADE",
]


@pytest.fixture
def connect(role_urls: dict[str, str]) -> Iterator[object]:
    opened: list[psycopg.Connection] = []

    def as_role(process: str) -> psycopg.Connection:
        conn = psycopg.connect(role_urls[process], autocommit=True)
        opened.append(conn)
        return conn

    yield as_role
    for conn in opened:
        conn.close()


def signed_log(db: psycopg.Connection) -> None:
    publish(db, "K-1", DAY1)
    sign_roots(db, Ed25519PrivateKey.generate(), through=date(2026, 11, 26))


@pytest.mark.parametrize("process", PROCESSES)
@pytest.mark.parametrize("statement", REWRITES)
def test_no_process_role_may_rewrite_or_empty_the_log(
    db: psycopg.Connection, connect: object, process: str, statement: str
) -> None:
    signed_log(db)
    conn = connect(process)  # type: ignore[operator]
    with pytest.raises(DENIED):
        conn.execute(statement)
    assert [e.seq for e in ledger.entries(db)] == [1] and len(ledger.roots(db)) == 1


def test_only_the_publisher_signs_and_only_publishers_append(
    db: psycopg.Connection, connect: object
) -> None:
    publish(db, "K-1", DAY1)
    key = Ed25519PrivateKey.generate()
    for process in ("api", "ingest"):  # a forged root or key from the API or a logger's path
        conn = connect(process)  # type: ignore[operator]
        with pytest.raises(DENIED):
            sign_roots(conn, key, through=date(2026, 11, 26))
    record_id = publish(db, "K-2", DAY1 - timedelta(minutes=1))
    with pytest.raises(DENIED):  # the ingest role appends nothing …
        ledger.append(connect("ingest"), record_id, "withdraw")  # type: ignore[operator]
    with pytest.raises(DENIED):  # … and changes no record
        connect("ingest").execute("UPDATE disclosure_records SET title_zh = '改'")  # type: ignore[operator]
    [root] = sign_roots(connect("alerts"), key, through=date(2026, 11, 26))  # type: ignore[operator]
    assert root.last_seq == 2


def test_the_api_role_runs_the_staff_workflow(db: psycopg.Connection, connect: object) -> None:
    conn: psycopg.Connection = connect("api")  # type: ignore[operator]
    content = {
        "monitored_on": "2026-11-20",
        "point": "1号排气筒",
        "pollutant": "a21026",
        "pollutant_name": "二氧化硫",
        "value": "35.2",
        "unit": "mg/m³",
        "limit_value": "100",
        "standard": "GB 13223-2011",
        "monitoring_body": "杭州市环境监测中心站",
    }
    draft = wf.create_draft(
        conn,
        record_type="supervisory_monitoring",
        content=content,
        actor="li.na",
        formed_at=datetime(2026, 11, 20, tzinfo=UTC),
    )
    wf.approve(conn, draft.id, actor="wang.qiang")
    wf.publish(conn, draft.id, actor="li.na")
    wf.withdraw(conn, draft.id, actor="li.na", reason="误发")
    assert [e.action for e in ledger.entries(conn)] == ["publish", "withdraw"]


def test_roles_are_idempotent_and_hold_only_their_privileges(
    db: psycopg.Connection, database_url: str, role_urls: dict[str, str]
) -> None:
    prefix = database_url.rsplit("/", 1)[1]
    names = apply_roles(db, prefix)  # a second run: the same roles, the same privileges
    assert names == [role_name(prefix, p) for p in PROCESSES]
    for process, name in zip(PROCESSES, names, strict=True):
        # The project's tables are in public; TimescaleDB gives its own relations (compressed
        # hypertables, chunks) the grants of their hypertable.
        rows = db.execute(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) "
            "FROM information_schema.role_table_grants WHERE grantee = %s "
            "AND table_schema = 'public' AND privilege_type <> 'SELECT' GROUP BY table_name",
            (name,),
        ).fetchall()
        held = {table: set(privileges.split(",")) for table, privileges in rows}
        assert held == {t: set(p) for t, p in WRITES[process].items()}, process
    assert all(p.startswith("postgresql://") for p in role_urls.values())


def test_a_role_with_powers_is_refused(db: psycopg.Connection, database_url: str) -> None:
    prefix = database_url.rsplit("/", 1)[1] + "_x"
    name = role_name(prefix, "api")
    db.execute(sql.SQL("CREATE ROLE {} CREATEDB").format(sql.Identifier(name)))
    try:
        with pytest.raises(RoleError, match="CREATEDB"):
            apply_roles(db, prefix)
        with pytest.raises(RoleError, match="letters, digits"):
            role_name("bad name;", "api")
    finally:
        db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def test_cli_creates_the_roles_with_passwords(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = database_url.rsplit("/", 1)[1] + "_cli"
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("API_DB_PASSWORD", "correct-horse")
    args = ["db", "roles", "--prefix", prefix]
    try:
        assert main([*args, "--password-env", "api=API_DB_PASSWORD"]) == 0
        assert "password set for api" in capsys.readouterr().out
        stored = db.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role_name(prefix, "api"),)
        ).fetchone()
        assert stored is not None and stored[0].startswith("SCRAM-SHA-256$")
        assert main(args) == 0  # again: nothing changes, the password stays
        assert main([*args, "--password-env", "nobody=X"]) == 2
        assert main([*args, "--password-env", "api=UNSET_VARIABLE_OF_THE_TEST"]) == 1
    finally:
        for process in PROCESSES:
            name = role_name(prefix, process)
            if db.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
                db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
