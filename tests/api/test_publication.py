"""``/v1/publication``: the log, the signed roots, the keys, and the service's own verification.
Everything a client gets here is enough to check the log independently."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from api.routes import publication
from schemas.disclosure.keys import key_id
from schemas.disclosure.ledger import append
from schemas.disclosure.signing import sign_roots
from tests.api.conftest import csv_rows, error_of

DAY1 = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 2026-11-26 local
DAY2 = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)  # 2026-11-27 local


def publish(db: psycopg.Connection, key: str, at: datetime) -> int:
    enterprise = db.execute(
        "INSERT INTO enterprises (uscc, name_zh) VALUES ('91330100000000001A', '杭州热电') "
        "ON CONFLICT (uscc) DO UPDATE SET name_zh = EXCLUDED.name_zh RETURNING id"
    ).fetchone()
    assert enterprise is not None
    row = db.execute(
        "INSERT INTO disclosure_records (record_key, version, record_type, category, "
        "enterprise_id, title_zh, content, origin, status, formed_at, created_by, updated_by, "
        "published_at, published_by) VALUES (%s, 1, 'supervisory_monitoring', 'monitoring', %s, "
        "'监督性监测结果', %s, 'staff', 'published', %s, 'editor', 'editor', %s, 'editor') "
        "RETURNING id",
        (key, enterprise[0], Jsonb({"so2_mg_m3": 35.2}), at - timedelta(days=1), at),
    ).fetchone()
    assert row is not None
    append(db, int(row[0]), "publish")
    return int(row[0])


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def signed(db: psycopg.Connection, key: Ed25519PrivateKey) -> list[int]:
    ids = [publish(db, "K-1", DAY1), publish(db, "K-2", DAY1), publish(db, "K-3", DAY2)]
    sign_roots(db, key, through=date(2026, 11, 27))
    return ids


def test_log_pages_and_can_be_checked_by_anyone(client: TestClient, signed: list[int]) -> None:
    r = client.get("/v1/publication/log", params={"limit": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["meta"]["last_seq"] == 3 and body["meta"]["after_seq"] == 0
    assert [e["seq"] for e in body["results"]] == [1, 2]
    assert body["meta"]["next"] is not None and "after_seq=2" in body["meta"]["next"]
    rest = client.get(body["meta"]["next"]).json()
    assert [e["seq"] for e in rest["results"]] == [3] and rest["meta"]["next"] is None
    prev = "00" * 32
    for e in [*body["results"], *rest["results"]]:
        assert e["prev_hash"] == prev
        assert hashlib.sha256(e["canonical"].encode()).hexdigest() == e["content_sha256"]
        utc = datetime.fromisoformat(e["logged_at"]["utc"]).astimezone(UTC)
        layout = (
            f"sourcewatch-log-v1\n{e['seq']}\n{utc.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}\n"
            f"{e['action']}\n{e['prev_hash']}\n{e['content_sha256']}"
        )
        assert hashlib.sha256(layout.encode()).hexdigest() == e["entry_hash"]
        assert e["content"]["record_key"] == e["record_key"]
        prev = e["entry_hash"]
    assert body["results"][0]["day"] == "2026-11-26" and rest["results"][0]["day"] == "2026-11-27"
    assert client.get("/v1/publication/log", params={"after_seq": 3}).json()["results"] == []


def test_roots_and_keys_verify_the_chain(
    client: TestClient, signed: list[int], key: Ed25519PrivateKey
) -> None:
    log = client.get("/v1/publication/log").json()["results"]
    roots = client.get("/v1/publication/roots").json()
    assert roots["meta"]["found"] == 2
    keys = client.get("/v1/publication/keys").json()["results"]
    assert [k["key_id"] for k in keys] == [key_id(key.public_key())]
    public = load_pem_public_key(keys[0]["public_key_pem"].encode())
    for root in roots["results"]:
        assert root["root_hash"] == log[root["last_seq"] - 1]["entry_hash"]
        assert root["signed_message"] == (
            f"sourcewatch-root-v1\n{root['day']}\n{root['last_seq']}\n{root['root_hash']}"
        )
        public.verify(bytes.fromhex(root["signature"]), root["signed_message"].encode())  # type: ignore[union-attr]
    assert [(r["day"], r["entry_count"]) for r in roots["results"]] == [
        ("2026-11-26", 2),
        ("2026-11-27", 1),
    ]
    csv = client.get("/v1/publication/roots", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert [row["root_hash"] for row in csv_rows(csv.text)] == [
        r["root_hash"] for r in roots["results"]
    ]


def test_verify_reports_ok_and_is_cached(
    client: TestClient, db: psycopg.Connection, signed: list[int]
) -> None:
    r = client.get("/v1/publication/verify")
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["ok"], body["entries_checked"], body["roots_checked"]) == (True, 3, 2)
    assert body["first_failure"] is None and body["summary"].startswith("ok")
    db.execute("UPDATE disclosure_records SET title_zh = '改' WHERE id = %s", (signed[1],))
    assert client.get("/v1/publication/verify").json()["ok"] is True  # cached for 60 s


def test_verify_never_runs_twice_at_once(
    client: TestClient, db: psycopg.Connection, signed: list[int]
) -> None:
    with publication._run_lock:  # another request is verifying
        busy = client.get("/v1/publication/verify")
        assert busy.status_code == 503 and busy.json()["error"]["code"] == "unavailable"
        assert busy.headers["retry-after"] == "5"
    first = client.get("/v1/publication/verify").json()
    client.app.state.publication_verification.at -= 3600  # type: ignore[attr-defined]  # stale
    with publication._run_lock:
        stale = client.get("/v1/publication/verify")
    assert stale.status_code == 200 and stale.json() == first  # the previous result meanwhile


def test_verify_names_the_changed_record(
    client: TestClient, db: psycopg.Connection, signed: list[int]
) -> None:
    db.execute("UPDATE disclosure_records SET content = '{}' WHERE id = %s", (signed[1],))
    body = client.get("/v1/publication/verify").json()
    assert body["ok"] is False
    failure = body["first_failure"]
    assert (failure["kind"], failure["seq"], failure["record_id"], failure["record_key"]) == (
        "entry",
        2,
        signed[1],
        "K-2",
    )
    assert "content" in failure["reason"]


def test_empty_log(client: TestClient, db: psycopg.Connection) -> None:
    body = client.get("/v1/publication/log").json()
    assert body == {
        "meta": {"after_seq": 0, "limit": 100, "last_seq": None, "next": None},
        "results": [],
    }
    assert client.get("/v1/publication/roots").json()["results"] == []
    assert client.get("/v1/publication/keys").json()["results"] == []
    verification = client.get("/v1/publication/verify").json()
    assert verification["ok"] is True and verification["entries_checked"] == 0


def test_bad_parameters_get_the_one_error_shape(client: TestClient, db: psycopg.Connection) -> None:
    error_of(client.get("/v1/publication/log", params={"after_seq": -1}), 422, "after_seq")
    error_of(client.get("/v1/publication/log", params={"limit": 1001}), 422, "limit")
    error_of(client.get("/v1/publication/roots", params={"page": 0}), 422, "page")


def test_verify_checks_the_roots_you_pinned(
    client: TestClient, db: psycopg.Connection, signed: list[int]
) -> None:
    saved = client.get("/v1/publication/roots").json()["results"]
    pins = [f"{r['day']}:{r['last_seq']}:{r['root_hash']}" for r in saved]
    body = client.get("/v1/publication/verify", params={"pin": pins}).json()
    assert (body["ok"], body["pins_checked"]) == (True, 2)
    forged = f"2026-11-27:3:{'ab' * 32}"  # what a rebuilt log would have to lead to
    body = client.get("/v1/publication/verify", params={"pin": [pins[0], forged]}).json()
    assert body["ok"] is False and body["pins_checked"] == 0
    failure = body["first_failure"]
    assert (failure["kind"], failure["day"]) == ("root", "2026-11-27")
    assert "not the one of the pinned root" in failure["reason"]
    assert body["summary"].startswith("FAILED")
    beyond = client.get("/v1/publication/verify", params={"pin": f"2026-11-28:9:{'00' * 32}"})
    assert "the log ends at entry 3" in beyond.json()["first_failure"]["reason"]
    error_of(client.get("/v1/publication/verify", params={"pin": "2026-11-27:3"}), 422, "pin")
    error_of(client.get("/v1/publication/verify", params={"pin": [pins[0]] * 101}), 422, "pin")
    error_of(
        client.get("/v1/publication/verify", params={"pin": [pins[1], forged]}), 422, "pin"
    )  # two different roots of one day


def test_verify_fails_for_completed_days_without_roots(
    client: TestClient, db: psycopg.Connection
) -> None:
    publish(db, "K-1", DAY1)  # the 26th is long over (verify uses the real time)
    body = client.get("/v1/publication/verify").json()
    assert body["ok"] is False
    assert (body["first_failure"]["kind"], body["first_failure"]["day"]) == ("root", "2026-11-26")
    assert "no signed root" in body["first_failure"]["reason"]


def test_roots_feed_to_mirror(
    client: TestClient, signed: list[int], key: Ed25519PrivateKey
) -> None:
    body = client.get("/v1/feeds/publication-roots.json")
    assert body.status_code == 200
    assert body.headers["content-type"].startswith("application/feed+json")
    items = body.json()["items"]
    assert [i["id"] for i in items] == [
        "tag:sourcewatch,2026:publication-root/2026-11-27",
        "tag:sourcewatch,2026:publication-root/2026-11-26",
    ]
    roots = {r["day"]: r for r in client.get("/v1/publication/roots").json()["results"]}
    newest = roots["2026-11-27"]
    assert newest["signature"] in items[0]["content_text"]
    assert repr(newest["signed_message"]) in items[0]["content_text"]
    checked = client.get(items[0]["url"]).json()  # the link verifies against that root
    assert checked["ok"] is True and checked["pins_checked"] == 1
    atom = client.get("/v1/feeds/publication-roots.atom")
    assert atom.status_code == 200 and b"publication-root/2026-11-26" in atom.content
    assert client.get("/v1/feeds/publication-roots.rss").status_code == 200
    again = client.get(
        "/v1/feeds/publication-roots.atom", headers={"If-None-Match": atom.headers["etag"]}
    )
    assert again.status_code == 304
