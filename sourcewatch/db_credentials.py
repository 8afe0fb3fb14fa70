"""Database logins for ``deploy/compose.yaml``: one env file per process, so that each
container holds only its own role's password (``sourcewatch db credentials``).

Written into the folder (every file 0600; passwords found there are kept, missing ones
generated):

* ``postgres.env`` — ``POSTGRES_PASSWORD`` of the server's superuser, for the database
  container only;
* ``migrate.env`` — the superuser's URL, and ``API_DB_PASSWORD``, ``INGEST_DB_PASSWORD``,
  ``ALERTS_DB_PASSWORD``, which ``sourcewatch db roles --password-env`` sets on the roles;
* ``api.env``, ``ingest.env``, ``alerts.env`` — ``SOURCEWATCH_DATABASE_URL`` with the
  process's own role (:mod:`schemas.core.roles`); the gateway uses ``ingest.env``.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from schemas.core.roles import PROCESSES, role_name

__all__ = ["PASSWORD_VARIABLES", "DbCredentials", "write_db_credentials"]

PASSWORD_VARIABLES = {p: f"{p.upper()}_DB_PASSWORD" for p in PROCESSES}
_SUPERUSER = "POSTGRES_PASSWORD"


@dataclass(frozen=True, slots=True)
class DbCredentials:
    folder: Path
    generated: list[str]  # POSTGRES_PASSWORD, API_DB_PASSWORD … made by this run
    kept: list[str]


def _read_env(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.lstrip().startswith("#"):
            found[name.strip()] = value.strip()
    return found


def _write_private(path: Path, lines: list[str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with wider permissions
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write("".join(f"{line}\n" for line in lines))


def write_db_credentials(
    folder: Path,
    *,
    host: str = "timescaledb",
    port: int = 5432,
    database: str = "sourcewatch",
    prefix: str = "sourcewatch",
) -> DbCredentials:
    """Write the env files (see the module); keep every password already in them."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    known = _read_env(folder / "postgres.env") | _read_env(folder / "migrate.env")
    wanted = [_SUPERUSER, *PASSWORD_VARIABLES.values()]
    passwords = {name: known.get(name) or secrets.token_urlsafe(24) for name in wanted}
    where = f"{host}:{port}/{database}"

    _write_private(folder / "postgres.env", [f"{_SUPERUSER}={passwords[_SUPERUSER]}"])
    _write_private(
        folder / "migrate.env",
        [
            "# sourcewatch migrate and db roles: the tables' owner, and the roles' passwords",
            f"SOURCEWATCH_DATABASE_URL=postgresql://postgres:{passwords[_SUPERUSER]}@{where}",
            *(f"{name}={passwords[name]}" for name in PASSWORD_VARIABLES.values()),
        ],
    )
    for process, variable in PASSWORD_VARIABLES.items():
        user = role_name(prefix, process)
        _write_private(
            folder / f"{process}.env",
            [f"SOURCEWATCH_DATABASE_URL=postgresql://{user}:{passwords[variable]}@{where}"],
        )
    return DbCredentials(
        folder=folder,
        generated=[n for n in wanted if not known.get(n)],
        kept=[n for n in wanted if known.get(n)],
    )
