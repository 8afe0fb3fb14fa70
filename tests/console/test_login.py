"""Staff console login: argon2id passwords, server-side sessions in PostgreSQL, a uniform
error, throttling per user name and per address, CSRF on every form, logout; API tokens still
work, and the session cookie works for the staff API too (reads freely, writes with the CSRF
header)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from schemas.staff.accounts import add_staff_user, issue_token
from schemas.staff.passwords import check_password, set_password
from sourcewatch.cli import main
from tests.console.conftest import PASSWORD, hidden, login, staff_user


def _session_cookie(response: Any) -> str:
    header = response.headers["set-cookie"]
    assert "sw_session=" in header, header
    return str(header)


def test_password_is_stored_as_argon2id_and_checked(db: psycopg.Connection) -> None:
    staff_user(db, "li.na", "editor")
    (stored,) = db.execute("SELECT password_hash FROM staff_users").fetchone() or ()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert check_password(db, "li.na", PASSWORD) is not None
    assert check_password(db, "li.na", PASSWORD + "x") is None
    assert check_password(db, "nobody", PASSWORD) is None
    with pytest.raises(ValueError, match="at least"):
        set_password(db, "li.na", "short", actor="test")
    with pytest.raises(LookupError):
        set_password(db, "nobody", PASSWORD, actor="test")
    audit = db.execute(
        "SELECT action, after::text FROM staff_audit WHERE action = 'user.password'"
    ).fetchall()
    assert audit == [("user.password", '{"password": "set"}')]


def test_cli_sets_a_password_from_stdin(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    add_staff_user(db, "zhao.lei", ["enforcement"], actor="test")
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
    assert main(["staff", "password", "zhao.lei", "--stdin"]) == 0
    assert "password set for zhao.lei" in capsys.readouterr().out
    assert check_password(db, "zhao.lei", PASSWORD) is not None
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["staff", "password", "zhao.lei", "--stdin"]) == 1
    assert "at least" in capsys.readouterr().err


def test_login_session_cookie_and_logout(client: TestClient, db: psycopg.Connection) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    assert (
        client.get("/staff/", follow_redirects=False)
        .headers["location"]
        .startswith("/staff/login?next=")
    )
    response = login(client, "zhao.lei")
    assert response.status_code == 303 and response.headers["location"] == "/staff/"
    cookie = _session_cookie(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain http, no setting: not Secure
    inbox = client.get("/staff/")
    assert inbox.status_code == 200 and "zhao.lei" in inbox.text
    assert inbox.headers["cache-control"] == "no-store"
    rows = db.execute("SELECT user_id, session_sha256, ended_at FROM staff_sessions").fetchall()
    assert len(rows) == 1 and rows[0][2] is None
    value = client.cookies["sw_session"]
    assert bytes(rows[0][1]) != value.encode()  # only its digest is stored
    # the staff API accepts the session: reads freely
    assert client.get("/v1/staff/cases").status_code == 200
    # logout needs the CSRF token too
    csrf = hidden(inbox.text)
    assert client.post("/staff/logout", data={}, follow_redirects=False).status_code == 403
    out = client.post("/staff/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    (ended,) = db.execute("SELECT ended_at FROM staff_sessions").fetchone() or ()
    assert ended is not None
    client.cookies.set("sw_session", value)  # the old cookie no longer works
    assert client.get("/staff/", follow_redirects=False).status_code == 303
    assert client.get("/v1/staff/cases").status_code == 401


def test_cookie_is_secure_over_https_or_by_setting(
    role_urls: dict[str, str], db: psycopg.Connection
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    settings = ApiSettings(database_url=role_urls["api"], api_rate_limit_per_minute=10_000)
    with TestClient(create_app(settings), base_url="https://testserver") as c:
        assert "secure" in _session_cookie(login(c, "zhao.lei")).lower()
    settings = ApiSettings(
        database_url=role_urls["api"], api_rate_limit_per_minute=10_000, staff_cookie_secure=True
    )
    with TestClient(create_app(settings)) as c:
        assert "secure" in _session_cookie(login(c, "zhao.lei")).lower()


def test_wrong_password_and_unknown_user_get_one_uniform_error(
    client: TestClient, db: psycopg.Connection
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    add_staff_user(db, "no.password", ["viewer"], actor="test")
    answers = [
        login(client, "zhao.lei", "wrong password!"),
        login(client, "nobody.here", PASSWORD),
        login(client, "no.password", PASSWORD),
    ]
    for a in answers:
        assert a.status_code == 401
        assert "用户名或密码错误" in a.text
        assert "sw_session=" not in a.headers.get("set-cookie", "")
    assert db.execute("SELECT count(*) FROM staff_sessions").fetchone() == (0,)


def test_repeated_failures_are_throttled_per_user_and_per_address(
    role_urls: dict[str, str], db: psycopg.Connection
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    staff_user(db, "li.na", "editor")
    settings = ApiSettings(
        database_url=role_urls["api"],
        api_rate_limit_per_minute=10_000,
        staff_login_failures_per_user=3,
        staff_login_failures_per_ip=5,
    )
    with TestClient(create_app(settings)) as c:
        for _ in range(3):
            assert login(c, "zhao.lei", "wrong password!").status_code == 401
        # the right password no longer helps: refused before it is checked
        refused = login(c, "zhao.lei")
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "900"
        assert "登录失败次数过多" in refused.text
        # another user from the same address still may, until the address has 5 failures
        assert login(c, "li.na").status_code == 303
        c.cookies.clear()  # logged out again
        for _ in range(2):
            assert login(c, "li.na", "wrong password!").status_code == 401
        assert login(c, "li.na").status_code == 429
    # the failures are in the database: a second API process sees them too
    counts = db.execute(
        "SELECT scope, count(*) FROM staff_login_failures GROUP BY scope ORDER BY scope"
    ).fetchall()
    assert counts == [("ip", 5), ("user", 5)]
    with TestClient(create_app(settings)) as other:
        assert login(other, "zhao.lei").status_code == 429


def test_login_form_without_its_csrf_token_is_refused(
    client: TestClient, db: psycopg.Connection
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    client.get("/staff/login")  # the cookie is set, but the field is missing
    refused = client.post(
        "/staff/login", data={"username": "zhao.lei", "password": PASSWORD}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert db.execute("SELECT count(*) FROM staff_sessions").fetchone() == (0,)


def test_tokens_still_work_and_cookie_writes_need_the_csrf_header(
    client: TestClient, db: psycopg.Connection, world: Any
) -> None:
    staff_user(db, "zhao.lei", "enforcement")
    token = issue_token(db, "zhao.lei", actor="test", expires_at=timedelta(days=1))
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/staff/cases", headers=bearer).status_code == 200
    login(client, "zhao.lei")
    inbox = client.get("/staff/")
    refused = client.post("/v1/staff/cases/1/comment", json={"text": "no token"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["error"]["message"]
    done = client.post(
        "/v1/staff/cases/1/comment",
        json={"text": "with the token"},
        headers={"X-CSRF-Token": hidden(inbox.text)},
    )
    assert done.status_code == 200, done.text
    actors = db.execute("SELECT actor FROM case_events WHERE action = 'commented'").fetchall()
    assert actors == [("zhao.lei",)]


def test_failures_older_than_the_window_no_longer_count(db: psycopg.Connection) -> None:
    from datetime import timedelta as td

    from schemas.staff.sessions import Throttle, record_failure, throttled

    throttle = Throttle(per_user=2, per_ip=10, window=td(minutes=15))
    record_failure(db, "zhao.lei", "10.0.0.1")
    record_failure(db, "Zhao.Lei ", "10.0.0.2")  # the same user name, however typed
    assert throttled(db, "zhao.lei", "10.0.0.3", throttle)
    db.execute("UPDATE staff_login_failures SET at = now() - interval '16 minutes'")
    assert not throttled(db, "zhao.lei", "10.0.0.3", throttle)
    assert db.execute("SELECT count(*) FROM staff_login_failures").fetchone() == (0,)
