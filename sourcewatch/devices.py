"""Broker credentials for the data loggers: a Mosquitto ``passwd`` file (one user per active
outlet MN), the per-device ``acl`` and the plain-text credentials to hand to the enterprises."""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import psycopg

from schemas.core.csvcells import TRIGGERS

__all__ = [
    "ACL",
    "SERVICE_USERS",
    "BrokerFiles",
    "active_mns",
    "hash_password",
    "new_password",
    "read_credentials",
    "verify_password",
    "write_broker_files",
]

# Same text as deploy/mosquitto/acl (a test keeps the two equal): the wheel ships no deploy/.
ACL = """\
# Data loggers log in with their MN as user name: each may publish only its own uplink
# topics and read its own downlink (9014 replies, commands).
pattern write hj212/%u/up
pattern write sourcewatch/v1/%u/data
pattern read hj212/%u/down

# Ingest workers (one user, many client ids): read every uplink, answer on the downlinks
# (9014, and the history queries of the recall), read the broker's count of dropped messages.
user sourcewatch-ingest
topic read hj212/+/up
topic read sourcewatch/v1/+/data
topic read $share/+/hj212/+/up
topic read $share/+/sourcewatch/v1/+/data
topic write hj212/+/down
topic read $SYS/broker/publish/messages/dropped

# Alert notifications published to MQTT subscribers.
user sourcewatch-alerts
topic write sourcewatch/v1/alerts/#
"""

SERVICE_USERS = {"ingest": "sourcewatch-ingest", "alerts": "sourcewatch-alerts"}

# mosquitto_passwd (Mosquitto 2.x) writes user:$7$<iterations>$<b64 salt>$<b64 PBKDF2-SHA512>.
_ITERATIONS = 101
_SALT_BYTES = 12


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = _ITERATIONS
) -> str:
    """The password hash exactly as ``mosquitto_passwd`` writes it (``$7$…``)."""
    salt = secrets.token_bytes(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    b64 = base64.b64encode
    return f"$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(hashed: str, password: str) -> bool:
    """True when ``password`` matches a ``$7$`` hash from a passwd file."""
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7":
        raise ValueError("not a Mosquitto PBKDF2-SHA512 ($7$) hash")
    salt = base64.b64decode(parts[3])
    expected = hash_password(password, salt=salt, iterations=int(parts[2]))
    return secrets.compare_digest(expected, hashed)


def active_mns(conn: psycopg.Connection) -> list[str]:
    return [mn for (mn,) in conn.execute("SELECT mn FROM outlets WHERE active ORDER BY mn")]


def read_credentials(path: Path) -> dict[str, str]:
    """``mn,password`` rows (a header row ``mn,password`` is allowed)."""
    found: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as f:
        for n, row in enumerate(csv.reader(f), start=1):
            if not row or not "".join(row).strip() or row[0].startswith("#"):
                continue
            if len(row) != 2:
                raise ValueError(f"{path}:{n}: expected mn,password")
            mn, password = row[0].strip(), row[1].strip()
            if (mn, password) == ("mn", "password"):
                continue
            if not password:
                raise ValueError(f"{path}:{n}: empty password for {mn}")
            found[mn] = password
    return found


@dataclass(frozen=True)
class BrokerFiles:
    folder: Path
    devices: int
    from_file: int
    generated: int
    unknown_in_file: list[str]
    service_passwords: dict[str, str]


def _check_user(name: str) -> None:
    if not name or ":" in name or any(c.isspace() for c in name):
        raise ValueError(f"cannot be a broker user name: {name!r}")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file existed with wider permissions
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)


def new_password() -> str:
    """A device password: 24 URL-safe characters, never starting with ``-`` (a spreadsheet
    opening ``credentials.csv`` would show a formula's error instead of the password)."""
    while (password := secrets.token_urlsafe(18)).startswith(TRIGGERS):
        pass
    return password


def write_broker_files(
    folder: Path,
    mns: Iterable[str],
    given: Mapping[str, str] | None = None,
    *,
    broker_host: str = "mosquitto",
    broker_port: int = 1883,
) -> BrokerFiles:
    """Write ``passwd``, ``acl``, ``credentials.csv`` (0600) and ``services.env`` (0600)."""
    given = dict(given or {})
    mns = list(dict.fromkeys(mns))
    for mn in mns:
        _check_user(mn)
    credentials = {mn: given.get(mn) or new_password() for mn in mns}
    services = {user: secrets.token_urlsafe(24) for user in SERVICE_USERS.values()}
    folder.mkdir(parents=True, exist_ok=True)

    lines = [f"{user}:{hash_password(pw)}\n" for user, pw in {**credentials, **services}.items()]
    (folder / "passwd").write_text("".join(lines), encoding="utf-8")
    (folder / "acl").write_text(ACL, encoding="utf-8")
    for name in ("passwd", "acl"):  # the broker drops root before reading them
        (folder / name).chmod(0o644)

    rows = ["mn,password\r\n", *(f"{mn},{pw}\r\n" for mn, pw in credentials.items())]
    _write_private(folder / "credentials.csv", "".join(rows))

    env = [
        "# Broker logins of the sourcewatch services, one per process (not an env_file: the\n",
        "# later line would win; use ingest.env and alerts.env for that).\n",
    ]
    for process, user in SERVICE_USERS.items():
        url = f"mqtt://{user}:{services[user]}@{broker_host}:{broker_port}"
        env.append(f"# sourcewatch {process}\n")
        env.append(f"SOURCEWATCH_MQTT_URL={url}\n")
        _write_private(folder / f"{process}.env", f"SOURCEWATCH_MQTT_URL={url}\n")
    _write_private(folder / "services.env", "".join(env))

    from_file = sum(1 for mn in mns if given.get(mn))
    return BrokerFiles(
        folder=folder,
        devices=len(mns),
        from_file=from_file,
        generated=len(mns) - from_file,
        unknown_in_file=sorted(set(given) - set(mns)),
        service_passwords=services,
    )
