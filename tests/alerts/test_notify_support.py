"""Shared helpers of the notification tests (no tests here): case events in SQL, a clock,
a recording channel, and local HTTP and SMTP servers on port 0."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
from aiosmtpd.controller import Controller

from alerts.notify import DeliveryResult, Message, Notification
from tests.fixtures.registry import add_outlet

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)

POLLUTANT_NAMES = {
    "a21026": ("二氧化硫", "sulfur dioxide (SO2)"),
    "w01018": ("化学需氧量", "COD (chemical oxygen demand)"),
}


class Clock:
    """An injected clock that only moves when told."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def case_event(
    conn: psycopg.Connection,
    *,
    mn: str = "MN1",
    uscc: str = "91330000000000000X",
    district: str | None = None,
    kind: str = "exceedance",
    severity: str = "major",
    action: str = "opened",
    pollutant: str | None = "a21026",
    case_id: int | None = None,
    at: datetime = T0,
) -> Notification:
    """A case (new unless ``case_id``) and one case_events row in SQL, as the evaluator writes
    them; returns the Notification the evaluator would build for the event."""
    found = conn.execute("SELECT id FROM outlets WHERE mn = %s", (mn,)).fetchone()
    outlet_id = int(found[0]) if found else add_outlet(conn, mn, uscc=uscc)
    row = conn.execute(
        "UPDATE enterprises e SET district = %s FROM outlets o "
        "WHERE o.id = %s AND e.id = o.enterprise_id RETURNING e.id, e.name_zh, e.name_en",
        (district, outlet_id),
    ).fetchone()
    assert row is not None
    enterprise_id, name_zh, name_en = row
    if case_id is None:
        got = conn.execute(
            "INSERT INTO cases (kind, outlet_id, pollutant, period, subject, severity, first_at, "
            "last_at) VALUES (%s, %s, %s, 'hour', %s, %s, %s, %s) RETURNING id",
            (kind, outlet_id, pollutant or "", uuid.uuid4().hex, severity, at, at),
        ).fetchone()
        assert got is not None
        case_id = int(got[0])
    event = conn.execute(
        "INSERT INTO case_events (case_id, actor, action, severity) "
        "VALUES (%s, 'evaluator', %s, %s) RETURNING id",
        (case_id, action, severity),
    ).fetchone()
    assert event is not None
    names = POLLUTANT_NAMES.get(pollutant or "", (None, None))
    return Notification(
        event_id=int(event[0]), case_id=case_id, kind=kind, action=action, severity=severity,
        occurred_at=at, enterprise_id=int(enterprise_id), enterprise_name_zh=name_zh,
        enterprise_name_en=name_en, district=district, outlet_id=outlet_id,
        outlet_name_zh="1号排口", mn=mn, pollutant=pollutant, pollutant_name_zh=names[0],
        pollutant_name_en=names[1], title_zh=f"超标：测试企业 1号排口 {names[0] or ''}",
        title_en=f"Exceedance: Test plant outlet {mn}",
        details={"mean": 123.4, "limit": 100, "unit": "mg/m³", "multiple": 0.23},
    )  # fmt: skip


def outbox(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
    """(event_id, subscription_id, status, attempts) of every outbox row, in id order."""
    return conn.execute(
        "SELECT event_id, subscription_id, status, attempts FROM notification_outbox ORDER BY id"
    ).fetchall()


@dataclass
class Sent:
    target: str
    secret: str | None
    message: Message


@dataclass
class RecordingChannel:
    """A fake channel behind the real interface: records messages, fails when told."""

    fail: Callable[[Message], DeliveryResult | None] = lambda _m: None
    sent: list[Sent] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    closed: bool = False

    def send(self, target: str, secret: str | None, message: Message) -> DeliveryResult:
        if (failure := self.fail(message)) is not None:
            return failure
        with self.lock:
            self.sent.append(Sent(target, secret, message))
        return DeliveryResult(True, 200, "ok")

    def close(self) -> None:
        self.closed = True


# A local HTTP endpoint ------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Endpoint:
    url: str
    requests: list[Request]
    # (status, body) answers in order; the last one repeats.
    answers: list[tuple[int, bytes]]


@contextmanager
def http_endpoint(*answers: tuple[int, bytes], delay_s: float = 0.0) -> Iterator[Endpoint]:
    """An HTTP server on 127.0.0.1, port 0, that records POSTs and answers as scripted
    (after ``delay_s``)."""
    endpoint = Endpoint("", [], list(answers) or [(200, b"ok")])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            endpoint.requests.append(Request(self.path, dict(self.headers.items()), body))
            index = min(len(endpoint.requests), len(endpoint.answers)) - 1
            status, reply = endpoint.answers[index]
            time.sleep(delay_s)
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (timeout tests)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# A local SMTP server --------------------------------------------------------------------


class _Inbox:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.mails: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), mail))
        return "250 OK"


class _Controller(Controller):
    """aiosmtpd's Controller on port 0: learn the port before it checks the server is up."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@dataclass
class SmtpServer:
    port: int
    mails: list[tuple[str, list[str], EmailMessage]]


@contextmanager
def smtp_server(*, refuse: set[str] | None = None) -> Iterator[SmtpServer]:
    """An SMTP server (aiosmtpd) on 127.0.0.1, port 0, keeping what it receives; addresses in
    ``refuse`` are refused for good (550)."""
    inbox = _Inbox(refuse or set())
    controller = _Controller(inbox, hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield SmtpServer(controller.port, inbox.mails)
    finally:
        controller.stop()
