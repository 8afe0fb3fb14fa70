"""The private PostgreSQL cluster of the embedded default, against the machine's real server
binaries (skipped where there are none)."""

from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from schemas.core.migrate import migrate
from sourcewatch.embedded_postgres import (
    ServerUser,
    as_user,
    embedded_postgres,
    find_server_binaries,
    library_folder,
    preload_libraries,
    server_user,
    timescaledb_installed,
)

ROOT = Path(__file__).resolve().parents[1]

needs_server = pytest.mark.skipif(
    find_server_binaries() is None,
    reason="no PostgreSQL server binaries (apt-get install postgresql, or sourcewatch[embedded])",
)


def _server_processes(folder: Path) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-af", str(folder)], check=False, capture_output=True, text=True
    )
    return [line for line in found.stdout.splitlines() if line.strip()]


def test_as_user_leaves_this_process_user_alone() -> None:
    me = ServerUser("me", os.geteuid(), os.getegid())
    assert as_user(["initdb", "-D", "x"], me) == ["initdb", "-D", "x"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops privileges")
def test_root_runs_the_server_as_an_unprivileged_user() -> None:
    user = server_user()
    assert user.uid != 0 and user.name in ("postgres", "nobody")
    out = subprocess.run(as_user(["id", "-u"], user), capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(user.uid)


@needs_server
@pytest.mark.skipif(os.geteuid() != 0, reason="only root drops privileges")
def test_a_data_folder_the_server_user_cannot_reach_gets_a_cluster_elsewhere(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """As root in a private folder (a clone in root's home, mode 0700): the cluster lives in a
    folder the server user can use, the log and DATA/postgres.location say where, and the
    same data folder finds the same cluster again."""
    with tempfile.TemporaryDirectory() as tmp:  # mode 0700, owned by root
        Path(tmp).chmod(0o700)
        private = Path(tmp) / "var"
        fallback = data_dir / "clusters"
        with (
            caplog.at_level(logging.WARNING, logger="sourcewatch.embedded_postgres"),
            embedded_postgres(private, fallback_root=fallback) as url,
            psycopg.connect(url, autocommit=True) as conn,
        ):
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
        (moved,) = fallback.iterdir()
        assert (moved / "PG_VERSION").exists()
        assert not (private / "postgres").exists()
        assert (private / "postgres.location").read_text().splitlines()[0] == str(moved)
        assert f"cannot enter {tmp}" in caplog.text and str(moved) in caplog.text
        with (
            embedded_postgres(private, fallback_root=fallback) as again,
            psycopg.connect(again, autocommit=True) as conn,
        ):
            assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]
        assert list(fallback.iterdir()) == [moved]


@needs_server
def test_cluster_keeps_its_data_across_runs_and_stops_on_exit(data_dir: Path) -> None:
    with embedded_postgres(data_dir) as url:
        assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/sourcewatch")
        with psycopg.connect(url, autocommit=True) as conn:
            assert migrate(conn)  # a fresh database: every migration applies
            conn.execute("CREATE TABLE kept (note text)")
            conn.execute("INSERT INTO kept VALUES ('still here')")
        assert _server_processes(data_dir)
    assert not _server_processes(data_dir)
    assert (data_dir / "postgres" / "PG_VERSION").exists()

    with embedded_postgres(data_dir) as again, psycopg.connect(again, autocommit=True) as conn:
        assert migrate(conn) == []  # nothing left to apply
        assert conn.execute("SELECT note FROM kept").fetchall() == [("still here",)]
        listen = conn.execute("SHOW listen_addresses").fetchone()
        assert listen == ("127.0.0.1",)
    assert not _server_processes(data_dir)


def test_timescaledb_is_preloaded_only_where_installed(tmp_path: Path) -> None:
    bindir = tmp_path / "15" / "bin"  # a Debian-like layout without pg_config
    (tmp_path / "15" / "lib").mkdir(parents=True)
    bindir.mkdir()
    assert library_folder(bindir) == tmp_path / "15" / "lib"
    assert preload_libraries(bindir) == []
    (tmp_path / "15" / "lib" / "timescaledb.so").touch()
    assert preload_libraries(bindir) == ["timescaledb"]


@needs_server
@pytest.mark.skipif(
    not timescaledb_installed(),
    reason="the TimescaleDB extension is not installed beside the PostgreSQL server",
)
def test_cluster_uses_timescaledb_where_installed(data_dir: Path) -> None:
    with embedded_postgres(data_dir) as url, psycopg.connect(url, autocommit=True) as conn:
        migrate(conn)
        rows = conn.execute(
            "SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1"
        ).fetchall()
        assert ("measurement_rows",) in rows and ("frames",) in rows  # measurements: its view
        assert conn.execute("SHOW timescaledb.telemetry_level").fetchone() == ("off",)
        # room for the jobs beside a scheduler per database (PostgreSQL's default is 8)
        assert conn.execute("SHOW max_worker_processes").fetchone() == ("27",)
        assert conn.execute("SHOW timescaledb.max_background_workers").fetchone() == ("16",)


def test_up_says_why_a_private_server_cannot_start_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """No server binaries anywhere: ``sourcewatch up`` exits 1 with the reason on one line."""
    from sourcewatch import embedded_postgres as module
    from sourcewatch.cli import main

    monkeypatch.delenv("SOURCEWATCH_DATABASE_URL", raising=False)
    monkeypatch.setattr(module, "find_server_binaries", lambda major=None: None)
    assert main(["up", "--data", str(tmp_path / "var")]) == 1
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "no PostgreSQL server binaries found" in record.getMessage()
    assert record.exc_info is None
