"""Issue 15, request bodies: no body is read before a staff request is authenticated, and every
route has a body limit (413 in the one error shape). Against the real API under uvicorn, with
raw sockets, so that what the server reads is what the client chose to send."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.bodylimit import body_limit
from api.settings import ApiSettings
from tests.api.conftest import World, error_of
from tests.fixtures.staff import staff_headers

MiB = 1024 * 1024
ATTACH = "/v1/staff/disclosures/1/attachments"
BOUNDARY = "sourcewatch-boundary"


def _open(api_url: str) -> socket.socket:
    url = urlsplit(api_url)
    sock = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=30)
    return sock


def _answer(sock: socket.socket) -> tuple[int, dict[str, object]]:
    """The status and JSON body of the response, read while the client sends nothing more.
    (A server still waiting for the rest of the body answers nothing: the read times out.)"""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection without an answer"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = dict(line.split(": ", 1) for line in lines[1:])
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return status, json.loads(body[:length]) if length else {}


def _request(path: str, headers: dict[str, str], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: test", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _multipart_start() -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n%PDF-1.7\n"
    ).encode()


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic eDp5"])
def test_an_unauthenticated_upload_is_refused_before_its_body_is_read(
    api_url: str, authorization: str | None
) -> None:
    """The exploit: a 30 MB anonymous multipart upload was spooled before the 401. Here the
    client sends the headers and 64 KiB of a chunked body, then waits: the 401 must come
    without the rest."""
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Transfer-Encoding": "chunked",
    }
    if authorization:
        headers["Authorization"] = authorization
    with _open(api_url) as sock:
        sock.sendall(_request(ATTACH, headers) + _chunk(_multipart_start() + b"x" * 65536))
        status, body = _answer(sock)
    assert status == 401, body
    assert body["error"]["code"] == "unauthorized"


def test_a_declared_length_over_the_limit_is_refused_unread(api_url: str) -> None:
    """30 MB announced: 413 at once, for anyone, on any route; nothing of the body is sent."""
    for path, method in (
        (ATTACH, "POST"),
        ("/v1/outlets", "GET"),
        ("/v1/staff/cases/1/close", "POST"),
    ):
        with _open(api_url) as sock:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(30 * MiB)}
            sock.sendall(_request(path, headers, method))
            status, body = _answer(sock)
        assert status == 413, (path, body)
        assert body["error"]["code"] == "too_large"


def test_a_chunked_body_is_cut_off_at_the_limit(
    api_url: str, db: psycopg.Connection, world: World
) -> None:
    """An authenticated client streaming JSON past 1 MiB gets 413 once it has sent the limit
    and a little more; the server does not wait for the end of the body."""
    token = staff_headers(db, "li.na", "enforcement")["Authorization"]
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    headers["Authorization"] = token
    with _open(api_url) as sock:
        sock.sendall(_request("/v1/staff/cases/1/close", headers))
        sent = 0
        while sent <= MiB:
            sock.sendall(_chunk(b" " * 65536))
            sent += 65536
        status, body = _answer(sock)
    assert status == 413, body
    assert body["error"]["message"] == "body: larger than the 1024 KiB this endpoint takes"


def test_401_comes_before_any_answer_about_the_body(client: TestClient) -> None:
    """Malformed bodies to staff write routes without a token: 401, not 400 or 422."""
    for path, content in (
        ("/v1/staff/cases/1/close", b"{not json"),
        ("/v1/staff/disclosures", b"\x00\xff"),
        (ATTACH, b"--x\r\nbroken"),
        ("/v1/staff/disclosures/import?record_type=nonsense", b""),
    ):
        response = client.post(path, content=content, headers={"Content-Type": "application/json"})
        error_of(response, 401)


def test_uploads_have_their_own_limits_from_the_settings(
    role_urls: dict[str, str], db: psycopg.Connection
) -> None:
    settings = ApiSettings(
        database_url=role_urls["api"],
        api_rate_limit_per_minute=0,
        api_max_body_bytes=4096,
        api_max_attachment_bytes=200_000,
        api_max_import_bytes=100_000,
    )
    assert body_limit(settings, "POST", ATTACH) == 200_000
    assert body_limit(settings, "POST", "/v1/staff/disclosures/import") == 100_000
    assert body_limit(settings, "POST", "/v1/staff/registry/import") == 100_000
    assert body_limit(settings, "POST", "/v1/staff/limits/import") == 100_000
    assert body_limit(settings, "GET", ATTACH) == 4096
    assert body_limit(settings, "POST", "/v1/staff/cases/1/close") == 4096
    editor = staff_headers(db, "zhao.editor", "editor")
    with TestClient(create_app(settings)) as client:
        files = {"file": ("a.pdf", b"%PDF-1.7\n" + b"x" * 150_000, "application/pdf")}
        assert client.post(ATTACH, files=files, headers=editor).status_code != 413
        files = {"file": ("a.pdf", b"%PDF-1.7\n" + b"x" * 250_000, "application/pdf")}
        error_of(client.post(ATTACH, files=files, headers=editor), 413)
        big = {"reason": "x" * 5000}
        error_of(client.post("/v1/staff/cases/1/close", json=big, headers=editor), 413)


def test_a_malformed_multipart_body_is_a_documented_422(
    client: TestClient, db: psycopg.Connection
) -> None:
    """With a valid token, Starlette's 400 for a broken multipart body became an undocumented
    answer (schemathesis, issue 15); it is a 422 naming the body, like every bad body."""
    editor = staff_headers(db, "zhao.editor", "editor")
    for content_type in ("multipart/form-data", "multipart/form-data; boundary=x"):
        response = client.post(
            ATTACH, content=b"--y\r\nbroken", headers={**editor, "Content-Type": content_type}
        )
        error = error_of(response, 422, "body")
        assert error["message"].startswith("body: ")
