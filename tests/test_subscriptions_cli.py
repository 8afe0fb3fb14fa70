"""``sourcewatch subscriptions`` keeps working on schemas/subscriptions.py, audited, with the
secret never printed."""

from __future__ import annotations

import psycopg
import pytest

from sourcewatch.cli import main

SECRET = "K3y-from-the-shell"


def test_add_list_remove(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    add = ["subscriptions", "add", "--subscriber", "wang.wei", "--channel", "webhook"]
    add += ["--target", "https://hooks.example.gov.cn/sw", "--kind", "exceedance"]
    assert main(add) == 1  # a webhook needs a secret
    assert "webhook subscriptions need a secret" in capsys.readouterr().err
    assert main([*add, "--secret", SECRET]) == 0
    (sid,) = db.execute("SELECT id FROM subscriptions").fetchone() or ()
    assert capsys.readouterr().out == f"subscription {sid}\n"
    assert main(["subscriptions", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"{sid}\twang.wei\twebhook\tinfo\thttps://hooks.example.gov.cn/sw")
    assert SECRET not in listed
    assert main(["subscriptions", "remove", str(sid)]) == 0
    assert "deactivated; 0 pending" in capsys.readouterr().out
    assert main(["subscriptions", "remove", "999"]) == 1
    audit = db.execute("SELECT actor, action, after::text FROM staff_audit ORDER BY id").fetchall()
    assert [a[1] for a in audit] == ["subscription.create", "subscription.deactivate"]
    assert all(a[0].startswith("cli:") and SECRET not in a[2] for a in audit)


def test_a_robot_key_is_not_listed(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 15: a WeCom robot URL's key is its credential; ``list`` masks it."""
    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=R0bot-key-9"
    add = ["subscriptions", "add", "--subscriber", "duty", "--channel", "wecom", "--target", url]
    assert main(add) == 0
    capsys.readouterr()
    assert main(["subscriptions", "list"]) == 0
    listed = capsys.readouterr().out
    assert "R0bot-key-9" not in listed and listed.rstrip().endswith("send?key=***")
    assert db.execute("SELECT target FROM subscriptions").fetchone() == (url,)


def test_a_staff_user_is_subscribed_to_system_alerts_only(
    db: psycopg.Connection,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from schemas.staff.accounts import add_staff_user

    monkeypatch.setenv("SOURCEWATCH_DATABASE_URL", database_url)
    add = ["subscriptions", "add", "--subscriber", "ops.li", "--channel", "email"]
    add += ["--target", "ops.li@example.gov.cn", "--system-alerts", "--no-cases"]
    add += ["--system-alert-kind", "broker-drops"]
    assert main(add) == 1  # not a staff user (yet)
    assert "staff" in capsys.readouterr().err
    add_staff_user(db, "ops.li", ["viewer"], actor="test")
    assert main(add) == 0
    row = db.execute("SELECT cases, system_alerts, system_alert_kinds FROM subscriptions")
    assert row.fetchone() == (False, True, ["broker-drops"])
