"""The console's administration pages (admins only): registry upload with every bad row listed
and nothing imported, limits (in force, bind, permit import), subscriptions with a write-only
secret, staff users with passwords and tokens shown once."""

from __future__ import annotations

import re

import psycopg
import pytest
from fastapi.testclient import TestClient

from schemas.staff.passwords import check_password
from tests.alerts.test_registry_to_case import HEADER, MN, ROW
from tests.console.conftest import hidden, login, staff_user

BAD_ROWS = ROW.format(category="coal-boiler-exisiting") + ROW.format(
    category="coal-boiler-existing"
).replace(MN, "0CA065A6F43A75F68D981729").replace(",gas,", ",smoke,")


def _register(client: TestClient, csrf: str) -> None:
    """The registry row ROW, bound to coal-boiler-existing, uploaded on the console."""
    client.post(
        "/staff/admin/registry",
        data={"csrf": csrf},
        files={
            "file": (
                "r.csv",
                (HEADER + ROW.format(category="coal-boiler-existing")).encode(),
                "text/csv",
            )
        },
    )


@pytest.fixture
def admin(client: TestClient, db: psycopg.Connection) -> str:
    staff_user(db, "li.na", "admin")
    login(client, "li.na")
    return hidden(client.get("/staff/admin/registry").text)


def test_registry_upload_lists_every_bad_row_and_imports_nothing(
    client: TestClient, db: psycopg.Connection, admin: str
) -> None:
    bad = client.post(
        "/staff/admin/registry",
        data={"csrf": admin},
        files={"file": ("registry.csv", (HEADER + BAD_ROWS).encode(), "text/csv")},
    )
    assert bad.status_code == 422
    rows = re.findall(r"<tr><td>(\d+)</td><td>([a-z_]+)</td>", bad.text)
    assert rows == [("2", "limit_category"), ("3", "kind")]
    assert db.execute("SELECT count(*) FROM outlets").fetchone() == (0,)
    good = client.post(
        "/staff/admin/registry",
        data={"csrf": admin},
        files={
            "file": (
                "registry.csv",
                (HEADER + ROW.format(category="coal-boiler-existing")).encode(),
                "text/csv",
            )
        },
    )
    assert good.status_code == 200 and 'id="imported"' in good.text
    assert db.execute("SELECT count(*) FROM outlet_limit_bindings").fetchone() == (1,)
    shown = client.get(f"/staff/admin/limits?mn={MN}&lang=en").text
    assert "GB 13223-2011" in shown and "coal-boiler-existing" in shown
    assert "a21026" in shown and "mg/m" in shown  # the unit beside each limit


def test_limits_bind_and_import_with_row_errors(
    client: TestClient, db: psycopg.Connection, admin: str
) -> None:
    _register(client, admin)
    refused = client.post(
        "/staff/admin/limits/bind",
        data={
            "csrf": admin,
            "mn": MN,
            "standard": "GB 13223-2011",
            "category": "nope",
            "valid_from": "2026-01-01",
            "source": "permit 7",
        },
    )
    assert refused.status_code == 422
    bound = client.post(
        "/staff/admin/limits/bind",
        data={
            "csrf": admin,
            "mn": MN,
            "standard": "GB 13223-2011",
            "category": "coal-boiler-new",
            "valid_from": "2026-06-01",
            "source": "permit 7",
        },
    )
    assert bound.status_code == 200 and 'id="bound"' in bound.text
    assert db.execute("SELECT count(*) FROM outlet_limit_bindings").fetchone() == (2,)
    csv = (
        "mn,pollutant,value,unit,period,source_document,valid_from\n"
        f"{MN},a21026,35,mg/m³,hour,permit 7,2026-01-01\n"
        "UNKNOWNMN,a21026,35,mg/m³,hour,permit 7,2026-01-01\n"
    )
    bad = client.post(
        "/staff/admin/limits/import",
        data={"csrf": admin},
        files={"file": ("limits.csv", csv.encode(), "text/csv")},
    )
    assert bad.status_code == 422 and 'id="row-errors"' in bad.text
    assert db.execute("SELECT count(*) FROM outlet_limits").fetchone() == (0,)
    good = client.post(
        "/staff/admin/limits/import",
        data={"csrf": admin},
        files={"file": ("limits.csv", csv.rsplit("UNKNOWN", 1)[0].encode(), "text/csv")},
    )
    assert good.status_code == 200 and 'id="imported"' in good.text
    assert db.execute("SELECT count(*) FROM outlet_limits").fetchone() == (1,)


def test_subscription_secret_is_write_only(
    client: TestClient, db: psycopg.Connection, admin: str
) -> None:
    secret = "very-secret-hmac-key"
    made = client.post(
        "/staff/admin/subscriptions",
        data={
            "csrf": admin,
            "subscriber": "duty",
            "channel": "webhook",
            "target": "https://hooks.example.gov.cn/sw",
            "secret": secret,
            "kinds": "exceedance",
            "min_severity": "major",
            "cases": "1",  # ticked on the form
        },
    )
    assert made.status_code == 200, made.text[-800:]
    assert secret not in made.text and secret not in client.get("/staff/admin/subscriptions").text
    (sid,) = db.execute("SELECT id FROM subscriptions").fetchone() or ()
    stopped = client.post(f"/staff/admin/subscriptions/{sid}/deactivate", data={"csrf": admin})
    assert stopped.status_code == 200
    assert db.execute("SELECT active FROM subscriptions").fetchone() == (False,)
    audit = db.execute(
        "SELECT after::text FROM staff_audit WHERE object_type = 'subscription'"
    ).fetchall()
    assert audit and all(secret not in a[0] for a in audit)


def test_users_password_token_and_deactivation(
    client: TestClient, db: psycopg.Connection, admin: str
) -> None:
    saved = client.post(
        "/staff/admin/users",
        data={
            "csrf": admin,
            "username": "wang.wei",
            "roles": ["enforcement"],
            "password": "a long enough password",
        },
    )
    assert saved.status_code == 200, saved.text[-800:]
    assert check_password(db, "wang.wei", "a long enough password") is not None
    token = client.post(
        "/staff/admin/users/wang.wei/token", data={"csrf": admin, "label": "laptop"}
    )
    found = re.search(r'<code id="new-token">(sw_[^<]+)</code>', token.text)
    assert found
    assert (
        client.get(
            "/v1/staff/cases", headers={"Authorization": f"Bearer {found.group(1)}"}
        ).status_code
        == 200
    )
    assert found.group(1) not in client.get("/staff/admin/users").text  # shown once
    gone = client.post("/staff/admin/users/wang.wei/deactivate", data={"csrf": admin})
    assert gone.status_code == 200
    assert check_password(db, "wang.wei", "a long enough password") is None


@pytest.mark.parametrize(
    "path",
    [
        "/staff/admin/registry",
        "/staff/admin/limits",
        "/staff/admin/subscriptions",
        "/staff/admin/users",
        "/staff/admin/subscriptions/1",
        "/staff/admin/outlet?mn=X",
    ],
)
def test_only_admins(client: TestClient, db: psycopg.Connection, path: str) -> None:
    staff_user(db, "chen.jie", "editor", "enforcement")
    login(client, "chen.jie")
    assert client.get(path).status_code == 403


def test_a_robot_credential_is_masked_and_a_subscription_is_changed_on_its_page(
    client: TestClient, db: psycopg.Connection, admin: str
) -> None:
    key = "0f1e2d3c-robot-key"
    made = client.post(
        "/staff/admin/subscriptions",
        data={
            "csrf": admin,
            "subscriber": "duty",
            "channel": "dingtalk",
            "target": f"https://oapi.dingtalk.com/robot/send?access_token={key}",
            "secret": "sign-secret",
            "kinds": "exceedance",
            "cases": "1",
        },
    )
    assert made.status_code == 200, made.text.split('id="problem"')[-1][:300]
    assert key not in made.text and "access_token=***" in made.text
    (sid,) = db.execute("SELECT id FROM subscriptions").fetchone() or ()
    form = client.get(f"/staff/admin/subscriptions/{sid}?lang=en")
    assert form.status_code == 200 and key not in form.text and "sign-secret" not in form.text
    changed = client.post(
        f"/staff/admin/subscriptions/{sid}",
        data={
            "csrf": admin,
            "subscriber": "duty desk",
            "channel": "dingtalk",
            "target": "",  # kept
            "secret": "",  # kept
            "kinds": ["outage", "fault"],
            "min_severity": "major",
            "districts": "西湖区, 上城区",
            "max_per_hour": "12",
            "cases": "1",
        },
    )
    assert changed.status_code == 200 and 'id="done"' in changed.text, changed.text[-800:]
    row = db.execute(
        "SELECT subscriber, target, secret, kinds, min_severity, districts, max_per_hour"
        " FROM subscriptions WHERE id = %s",
        (sid,),
    ).fetchone()
    assert row == (
        "duty desk",
        f"https://oapi.dingtalk.com/robot/send?access_token={key}",
        "sign-secret",
        ["outage", "fault"],
        "major",
        ["西湖区", "上城区"],
        12,
    )
    removed = client.post(
        f"/staff/admin/subscriptions/{sid}",
        data={
            "csrf": admin,
            "subscriber": "duty desk",
            "channel": "dingtalk",
            "remove_secret": "1",
            "cases": "1",
        },
    )
    assert removed.status_code == 200
    assert db.execute("SELECT secret FROM subscriptions").fetchone() == (None,)
    refused = client.post(
        f"/staff/admin/subscriptions/{sid}",
        data={"csrf": admin, "subscriber": "x", "channel": "dingtalk", "min_severity": "loud"},
    )
    assert refused.status_code == 422 and 'id="problem"' in refused.text
    assert (
        client.post(
            "/staff/admin/subscriptions/999999", data={"csrf": admin, "subscriber": "x"}
        ).status_code
        == 404
    )
    assert (
        client.post(f"/staff/admin/subscriptions/{sid}", data={"subscriber": "no csrf"}).status_code
        == 403
    )
    audit = db.execute(
        "SELECT action, after::text FROM staff_audit WHERE object_type = 'subscription' ORDER BY id"
    ).fetchall()
    assert [a[0] for a in audit] == [
        "subscription.create",
        "subscription.update",
        "subscription.update",
    ]
    assert all(key not in a[1] and "sign-secret" not in a[1] for a in audit)


def test_a_single_token_is_revoked_from_the_users_page(
    client: TestClient, db: psycopg.Connection, admin: str
) -> None:
    staff_user(db, "wang.wei", "enforcement")
    tokens = []
    for label in ("laptop", "phone"):
        issued = client.post(
            "/staff/admin/users/wang.wei/token", data={"csrf": admin, "label": label}
        )
        found = re.search(r'<code id="new-token">(sw_[^<]+)</code>', issued.text)
        assert found
        tokens.append(found.group(1))
    listed = client.get("/staff/admin/users?lang=en").text
    ids = [int(i) for i in re.findall(r'<tr class="token" data-token="(\d+)">', listed)]
    assert len(ids) == 2 and "laptop" in listed and "phone" in listed
    assert all(t not in listed for t in tokens)  # never shown again
    (laptop,) = db.execute("SELECT id FROM staff_tokens WHERE label = 'laptop'").fetchone() or ()
    revoked = client.post(f"/staff/admin/tokens/{laptop}/revoke", data={"csrf": admin})
    assert revoked.status_code == 200 and 'id="done"' in revoked.text
    assert f'data-token="{laptop}"' not in revoked.text  # no longer usable, no longer listed

    def status(token: str) -> int:
        return client.get(
            "/v1/staff/cases", headers={"Authorization": f"Bearer {token}"}
        ).status_code

    assert (status(tokens[0]), status(tokens[1])) == (401, 200)
    assert client.post("/staff/admin/tokens/999999/revoke", data={"csrf": admin}).status_code == 422
    audit = db.execute(
        "SELECT actor, action FROM staff_audit WHERE action = 'token.revoke'"
    ).fetchall()
    assert audit == [("li.na", "token.revoke")]


def test_one_outlet_and_its_enterprise_are_changed_in_their_forms(
    client: TestClient, db: psycopg.Connection, admin: str
) -> None:
    _register(client, admin)
    db.execute("UPDATE outlets SET password = 'old-pw-123' WHERE mn = %s", (MN,))
    form = client.get(f"/staff/admin/outlet?mn={MN}&lang=en")
    assert form.status_code == 200, form.text[-500:]
    assert 'name="c.minute_interval_min"' in form.text and "Minute data interval" in form.text
    assert 'name="c.mn"' not in form.text and "old-pw-123" not in form.text
    assert "统一社会信用代码" in client.get(f"/staff/admin/outlet?mn={MN}&lang=zh").text
    changed = client.post(
        f"/staff/admin/outlet?mn={MN}",
        data={"csrf": admin, "c.minute_interval_min": "10", "c.expects_day": "true"},
    )
    assert changed.status_code == 200 and 'id="done"' in changed.text, changed.text[-800:]
    row = db.execute(
        "SELECT minute_interval_min, expects_day, password FROM outlets WHERE mn = %s", (MN,)
    ).fetchone()
    assert row == (10, True, "old-pw-123")  # the password kept: none typed
    client.post(f"/staff/admin/outlet?mn={MN}", data={"csrf": admin, "pw": "new-pw-456"})
    assert db.execute("SELECT password FROM outlets").fetchone() == ("new-pw-456",)
    refused = client.post(
        f"/staff/admin/outlet?mn={MN}", data={"csrf": admin, "c.minute_interval_min": "7"}
    )
    assert refused.status_code == 422 and 'id="problem"' in refused.text
    assert db.execute("SELECT minute_interval_min FROM outlets").fetchone() == (10,)
    district = client.post(
        f"/staff/admin/outlet/enterprise?mn={MN}",
        data={"csrf": admin, "c.district": "西湖区", "c.name_en": "Test Power Plant"},
    )
    assert district.status_code == 200 and 'id="done"' in district.text, district.text[-800:]
    assert db.execute("SELECT district, name_en FROM enterprises").fetchone() == (
        "西湖区",
        "Test Power Plant",
    )
    audit = db.execute(
        "SELECT action, before::text || after::text FROM staff_audit"
        " WHERE action IN ('outlet.update', 'enterprise.update') ORDER BY id"
    ).fetchall()
    assert [a[0] for a in audit] == ["outlet.update", "outlet.update", "enterprise.update"]
    assert all("pw-" not in a[1] for a in audit)  # passwords never in the audit log
    assert client.get("/staff/admin/outlet?mn=NOPE").status_code == 404
    assert client.post(f"/staff/admin/outlet?mn={MN}", data={"c.code": "x"}).status_code == 403


def test_a_staff_user_is_subscribed_to_system_alerts_on_the_console(
    client: TestClient, db: psycopg.Connection, admin: str
) -> None:
    form = client.get("/staff/admin/subscriptions?lang=en")
    assert 'name="system_alerts"' in form.text and 'value="broker-drops"' in form.text
    staff_user(db, "ops.li", "viewer")
    base = {
        "csrf": admin,
        "channel": "email",
        "target": "ops.li@example.gov.cn",
        "system_alerts": "1",
        "system_alert_kinds": "recall-failed",
    }
    refused = client.post("/staff/admin/subscriptions", data={**base, "subscriber": "someone"})
    assert refused.status_code == 422 and "staff" in refused.text
    assert db.execute("SELECT count(*) FROM subscriptions").fetchone() == (0,)
    made = client.post("/staff/admin/subscriptions?lang=en", data={**base, "subscriber": "ops.li"})
    assert made.status_code == 200, made.text.split('id="problem"')[-1][:300]
    row = db.execute("SELECT id, cases, system_alerts, system_alert_kinds FROM subscriptions")
    sid, *wants = row.fetchone() or ()
    assert wants == [False, True, ["recall-failed"]]
    page = client.get(f"/staff/admin/subscriptions/{sid}")
    assert re.search(r'name="system_alerts" value="1" checked', page.text)
    assert re.search(r'name="cases" value="1">', page.text)  # not ticked
    # ticked off again on its page: every kind, and cases too
    changed = client.post(
        f"/staff/admin/subscriptions/{sid}",
        data={**base, "subscriber": "ops.li", "system_alert_kinds": [], "cases": "1"},
    )
    assert changed.status_code == 200 and 'id="done"' in changed.text, changed.text[-800:]
    row = db.execute("SELECT cases, system_alerts, system_alert_kinds FROM subscriptions")
    assert row.fetchone() == (True, True, [])
