"""``sourcewatch check``: the operating problems the service can see by itself.

Each check is a small function returning :class:`Finding` objects; a finding is a *problem*
(``sourcewatch check`` exits 1 when there is any) or a *note* (said, not counted):

* :func:`unjudged` — active outlets that reported data but have no limit in force, or none for
  a pollutant they measure (:mod:`schemas.limits.coverage`);
* :func:`silent` — active outlets that never reported data, or not for ``silent_after``;
* :func:`without_pw` — active outlets without an HJ 212 PW: a note, since the TCP gateway
  refuses their frames (docs/security.md#the-tcp-gateway) while MQTT loggers log in at the
  broker instead;
* :func:`broker_drops` — the broker's count of dropped messages (Mosquitto's
  ``$SYS/broker/publish/messages/dropped``, read with a short subscription); a broker that
  does not publish it is a note, one that cannot be reached a problem. The reading is one
  function (:func:`read_sys_dropped`) so that a recorded figure can replace it later;
* :func:`broker_version` — a note when the broker is Mosquitto older than 2.0.13, which pushes
  more than a worker's Receive Maximum (eclipse/mosquitto#2306; README, *Use Mosquitto 2.0.13
  or later*); read from ``$SYS/broker/version`` (:func:`read_sys_version`);
* :func:`broker_queue` — the broker's per-session queue limit (``max_queued_messages``, from
  the broker's configuration file or stated in the settings) is below what the registry's
  active outlets send during an outage of the stated length (their frames of the last day,
  or an assumed rate for outlets not heard in it): a worker away that long loses data;
* :func:`signing_key` — the publication log's signing key file is missing or unreadable;
* :func:`calendar` — ``chinesecalendar`` does not know this year's holidays (working-day clocks
  then count Monday to Friday); from 1 December, a note when it does not know next year's yet;
* :func:`requests` — requests for information past their deadline (a problem, one finding
  each) and those due within ``remind_within`` working days (a note each: the reminder).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg

from schemas.core.brokers import broker_address
from schemas.disclosure.keys import SigningKeyError, load_private_key
from schemas.disclosure.requests import open_requests
from schemas.disclosure.workdays import add_working_days, calendar_known
from schemas.limits.coverage import unjudged_outlets

__all__ = [
    "DROPPED_TOPIC",
    "Finding",
    "broker_drops",
    "broker_queue",
    "broker_version",
    "calendar",
    "queue_limit",
    "read_sys_dropped",
    "read_sys_version",
    "requests",
    "signing_key",
    "silent",
    "unjudged",
    "without_pw",
]

DROPPED_TOPIC = "$SYS/broker/publish/messages/dropped"
VERSION_TOPIC = "$SYS/broker/version"
# The first Mosquitto that keeps to a client's Receive Maximum (eclipse/mosquitto#2306).
MOSQUITTO_KEEPS_RECEIVE_MAXIMUM = (2, 0, 13)


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    level: Literal["problem", "note"]
    message: str

    def __str__(self) -> str:
        return f"{self.level}: [{self.check}] {self.message}"


def unjudged(conn: psycopg.Connection[Any], now: datetime, today: date) -> list[Finding]:
    """Active outlets with data in the last 30 days that are not (fully) judged today."""
    out = []
    for o in unjudged_outlets(conn, now, today, with_data_only=True):
        reasons = "; ".join(g.en for g in o.gaps)
        name = o.name_en or o.name_zh
        enterprise = o.enterprise_name_en or o.enterprise_name_zh
        out.append(
            Finding(
                "unjudged",
                "problem",
                f"outlet {o.mn} ({name}, {enterprise}) is not judged: {reasons}"
                f" — bind it (registry limit_category, sourcewatch limits bind) or import its"
                f" permit limits (sourcewatch limits import)",
            )
        )
    return out


def silent(conn: psycopg.Connection[Any], now: datetime, silent_after: timedelta) -> list[Finding]:
    """Active outlets without data, or silent for longer than ``silent_after``."""
    rows = conn.execute(
        "SELECT o.mn, coalesce(o.name_en, o.name_zh), a.last_data_at FROM outlets o"
        " LEFT JOIN outlet_activity a ON a.outlet_id = o.id"
        " WHERE o.active AND (a.last_data_at IS NULL OR a.last_data_at < %s) ORDER BY o.id",
        (now - silent_after,),
    ).fetchall()
    out = []
    for mn, name, last in rows:
        when = "has never reported data" if last is None else f"has reported no data since {last}"
        out.append(Finding("silent", "problem", f"active outlet {mn} ({name}) {when}"))
    return out


def without_pw(conn: psycopg.Connection[Any]) -> list[Finding]:
    """Active outlets without a PW: notes (they can report over MQTT, never over TCP)."""
    rows = conn.execute(
        "SELECT mn, coalesce(name_en, name_zh) FROM outlets"
        " WHERE active AND coalesce(password, '') = '' ORDER BY id"
    ).fetchall()
    return [
        Finding(
            "without-pw",
            "note",
            f"active outlet {mn} ({name}) has no HJ 212 PW: the TCP gateway refuses its frames"
            " (set one in the registry if its logger uses TCP)",
        )
        for mn, name in rows
    ]


def read_sys(mqtt_url: str, topic: str, timeout_s: float = 3.0) -> str | None:
    """The text of the broker's retained ``$SYS`` ``topic``; None when it does not publish it
    within ``timeout_s``; :class:`OSError` when the broker cannot be reached."""
    from paho.mqtt.client import Client
    from paho.mqtt.enums import CallbackAPIVersion

    host, port, tls, user, password = broker_address(mqtt_url)
    got: list[str] = []
    done = threading.Event()
    client = Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
    if user is not None:
        client.username_pw_set(user, password)
    if tls:
        client.tls_set()

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            done.set()
        else:
            c.subscribe(topic, qos=0)

    def on_message(c: Any, userdata: Any, message: Any) -> None:
        got.append(message.payload.decode(errors="replace").strip())
        done.set()

    client.on_connect = on_connect
    client.on_message = on_message
    client.connect(host, port, keepalive=10)
    client.loop_start()
    try:
        done.wait(timeout_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0] if got else None


def read_sys_dropped(mqtt_url: str, timeout_s: float = 3.0) -> int | None:
    """The broker's dropped-message count from its retained ``$SYS`` topic; None when it does
    not publish one within ``timeout_s`` (or not a number); :class:`OSError` when the broker
    cannot be reached."""
    text = read_sys(mqtt_url, DROPPED_TOPIC, timeout_s)
    return int(text) if text is not None and text.isdigit() else None


def read_sys_version(mqtt_url: str, timeout_s: float = 3.0) -> str | None:
    """The broker's own version text (``mosquitto version 2.0.11``), as :func:`read_sys`."""
    return read_sys(mqtt_url, VERSION_TOPIC, timeout_s)


def broker_drops(
    mqtt_url: str, read: Callable[[str], int | None] = read_sys_dropped
) -> list[Finding]:
    """A problem when the broker reports dropped messages or cannot be reached."""
    try:
        dropped = read(mqtt_url)
    except (OSError, ValueError) as exc:
        return [Finding("broker", "problem", f"the MQTT broker cannot be reached: {exc}")]
    if dropped is None:
        return [
            Finding(
                "broker",
                "note",
                f"the broker does not publish {DROPPED_TOPIC} (not Mosquitto, $SYS off, or"
                " not readable by this user): dropped messages cannot be checked",
            )
        ]
    if dropped > 0:
        return [
            Finding(
                "broker",
                "problem",
                f"the broker has dropped {dropped} message(s) since it started (queue or"
                " in-flight limits: max_queued_messages, max_inflight_messages)",
            )
        ]
    return []


def broker_version(
    mqtt_url: str, read: Callable[[str], str | None] = read_sys_version
) -> list[Finding]:
    """A note when the broker says it is Mosquitto older than 2.0.13. Nothing when it says
    another version or nothing (an unreachable broker is :func:`broker_drops`' problem)."""
    try:
        text = read(mqtt_url)
    except (OSError, ValueError):
        return []
    found = re.fullmatch(r"mosquitto version (\d+)\.(\d+)\.(\d+)\b.*", text or "", re.IGNORECASE)
    if found is None:
        return []
    version = tuple(int(n) for n in found.groups())
    if version >= MOSQUITTO_KEEPS_RECEIVE_MAXIMUM:
        return []
    return [
        Finding(
            "broker",
            "note",
            f"the broker is Mosquitto {'.'.join(found.groups())}, which pushes workers more than "
            "their Receive Maximum (eclipse/mosquitto#2306, fixed in 2.0.13): workers stay "
            "within their bound but may lose their connection for a late ping while a large "
            "backlog drains (nothing is lost); upgrade to 2.0.13 or later",
        )
    ]


MOSQUITTO_DEFAULT_QUEUE = 1000  # Mosquitto 2.x: max_queued_messages when not set (0: no limit)


def queue_limit(config_file: Path | None, stated: int | None) -> tuple[int | None, str]:
    """The broker's per-session queue limit and where it comes from: ``stated`` (the
    settings) wins, else the last ``max_queued_messages`` of the Mosquitto configuration
    file (Mosquitto's default 1000 when the file does not set it); None: no limit (0) or
    nothing known. :class:`OSError` when the file cannot be read."""
    if stated is not None:
        return (stated or None), "SOURCEWATCH_MQTT_MAX_QUEUED_MESSAGES"
    if config_file is None:
        return None, "unknown"
    found = MOSQUITTO_DEFAULT_QUEUE
    for line in config_file.read_text(encoding="utf-8").splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) == 2 and words[0] == "max_queued_messages" and words[1].isdigit():
            found = int(words[1])
    return (found or None), str(config_file)


def broker_queue(
    conn: psycopg.Connection[Any],
    now: datetime,
    *,
    limit: int | None,
    source: str,
    outage: timedelta,
    assumed_per_hour: int,
) -> list[Finding]:
    """A problem when ``limit`` messages cannot hold what the active outlets send in
    ``outage``: each outlet's frames of the last day (or ``assumed_per_hour`` for an outlet
    not heard in it), scaled to the outage. A note when the limit is unknown."""
    if source == "unknown":
        return [
            Finding(
                "broker-queue",
                "note",
                "the broker's queue limit is not known: set SOURCEWATCH_MQTT_BROKER_CONFIG "
                "(its mosquitto.conf) or SOURCEWATCH_MQTT_MAX_QUEUED_MESSAGES",
            )
        ]
    if limit is None:
        return []  # no limit
    rows = conn.execute(
        "SELECT count(*) FILTER (WHERE f.n IS NULL), coalesce(sum(f.n), 0) FROM outlets o"
        " LEFT JOIN LATERAL (SELECT count(*) AS n FROM frames"
        "  WHERE outlet_id = o.id AND received_at >= %s AND received_at < %s HAVING count(*) > 0"
        " ) f ON true WHERE o.active",
        (now - timedelta(days=1), now),
    ).fetchone()
    assert rows is not None
    unheard, per_day = int(rows[0]), int(rows[1])
    hours = outage.total_seconds() / 3600
    need = round(per_day * hours / 24 + unheard * assumed_per_hour * hours)
    if need <= limit:
        return []
    return [
        Finding(
            "broker-queue",
            "problem",
            f"the broker queues at most {limit} message(s) per session ({source}), but the"
            f" active outlets send about {need} in {_hours(outage)} (their frames of the last"
            f" day; {unheard} outlet(s) not heard in it counted at {assumed_per_hour}/h): an"
            " ingest worker away that long loses data (raise max_queued_messages, 0 for no"
            " limit)",
        )
    ]


def _hours(d: timedelta) -> str:
    h = d.total_seconds() / 3600
    return f"{h:g} h"


def signing_key(path: Path) -> list[Finding]:
    """A problem when the publication log's signing key is missing or unreadable."""
    try:
        load_private_key(path)
    except SigningKeyError as exc:
        return [
            Finding(
                "signing-key",
                "problem",
                f"the publication log cannot be signed: {exc} (sourcewatch keys generate, or"
                " set SOURCEWATCH_SIGNING_KEY_FILE)",
            )
        ]
    return []


def calendar(today: date, known: Callable[[int], bool] = calendar_known) -> list[Finding]:
    """A problem when ``chinesecalendar`` does not know this year's holidays (working-day clocks
    count Monday to Friday now); from 1 December a note when it does not know next year's yet
    (the State Council publishes them late in the year, and a release follows)."""
    years: list[tuple[int, Literal["problem", "note"]]] = [(today.year, "problem")]
    if today.month == 12:
        years.append((today.year + 1, "note"))
    return [
        Finding(
            "calendar",
            level,
            f"chinesecalendar does not know the holidays of {year}: working-day clocks "
            + ("count" if level == "problem" else "will count")
            + " Monday to Friday (upgrade chinesecalendar once the State Council's notice is"
            " in it)",
        )
        for year, level in years
        if not known(year)
    ]


def requests(conn: psycopg.Connection[Any], today: date, remind_within: int = 3) -> list[Finding]:
    """Open requests for information past their due day, and those due soon."""
    out = []
    for r in open_requests(conn, due_by=add_working_days(today, remind_within)):
        who = f"request {r.reference} (id {r.id}, {r.assigned_to or 'not assigned'})"
        if r.due_on < today:
            out.append(Finding("requests", "problem", f"{who} was due on {r.due_on}"))
        else:
            out.append(Finding("requests", "note", f"{who} is due on {r.due_on}"))
    return out
