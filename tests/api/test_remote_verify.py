"""``sourcewatch verify --from URL``: a citizen checks the publication log from the public API
alone, with a key and roots saved earlier (sourcewatch/remote_verify.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from psycopg.types.json import Jsonb

from schemas.disclosure import ledger
from schemas.disclosure import workflow as wf
from schemas.disclosure.keys import key_id, public_key_pem
from schemas.disclosure.pins import PinnedRoot
from schemas.disclosure.signing import sign_roots
from sourcewatch.cli import main
from sourcewatch.remote_verify import Fetch, RemoteError, http_fetch, verify_remote
from tests.api.test_publication import DAY1, DAY2, publish
from tests.schemas.test_ledger import as_superuser_without_triggers

LATER = datetime(2026, 12, 30, tzinfo=UTC)


def fetch_from(client: TestClient) -> Fetch:
    def fetch(path: str, params: Mapping[str, str | int]) -> Any:
        return client.get(path, params=dict(params)).json()

    return fetch


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def saved_roots(db: psycopg.Connection) -> list[PinnedRoot]:
    return [PinnedRoot(r.day, r.last_seq, r.root_hash) for r in ledger.roots(db)]


def test_a_citizen_verifies_from_the_api(
    client: TestClient, db: psycopg.Connection, key: Ed25519PrivateKey
) -> None:
    ids = [publish(db, "K-1", DAY1), publish(db, "K-2", DAY1), publish(db, "K-3", DAY2)]
    db.execute(
        "UPDATE disclosure_records SET status = 'withdrawn', withdrawn_at = %s, "
        "withdrawn_reason = '误发' WHERE id = %s",
        (DAY2 + timedelta(hours=1), ids[0]),
    )
    ledger.append(db, ids[0], "withdraw")  # its content withheld in public: only its hash
    sign_roots(db, key, through=date(2026, 11, 27))
    trusted = {key_id(key.public_key()): key.public_key()}
    pins = saved_roots(db)
    report = verify_remote(fetch_from(client), trusted, pinned=pins, now=LATER)
    assert report.ok, report.summary()
    assert (report.entries_checked, report.roots_checked, report.pins_checked) == (4, 2, 2)

    other = Ed25519PrivateKey.generate()  # roots signed by a key the citizen did not save
    report = verify_remote(fetch_from(client), {key_id(other): other.public_key()}, now=LATER)
    assert not report.ok and "not a trusted key" in report.summary()


def test_a_rebuilt_log_fails_from_the_api_against_saved_roots(
    client: TestClient, db: psycopg.Connection, key: Ed25519PrivateKey
) -> None:
    """The whole attack of issue 15, seen from outside: wiped, edited, re-logged and signed
    again with the service's own key — the citizen's saved roots do not match."""
    ids = [publish(db, "K-1", DAY1), publish(db, "K-2", DAY2)]
    sign_roots(db, key, through=date(2026, 11, 27))
    pins = saved_roots(db)
    with as_superuser_without_triggers(db):
        db.execute("TRUNCATE publication_roots, publication_log")
    db.execute(
        "UPDATE disclosure_records SET content = %s WHERE id = %s",
        (Jsonb({"so2_mg_m3": 3.5}), ids[0]),
    )
    for record_id in ids:
        ledger.append(db, record_id, "publish")
    sign_roots(db, key, through=date(2026, 11, 27))
    trusted = {key_id(key.public_key()): key.public_key()}
    assert verify_remote(fetch_from(client), trusted, now=LATER).ok  # self-consistent …
    report = verify_remote(fetch_from(client), trusted, pinned=pins, now=LATER)
    assert not report.ok and report.first_failure is not None  # … but not what was public
    assert "not the one of the pinned root" in report.first_failure.reason


def test_a_tampered_public_answer_is_named(
    client: TestClient, db: psycopg.Connection, key: Ed25519PrivateKey
) -> None:
    publish(db, "K-1", DAY1)
    publish(db, "K-2", DAY2)
    sign_roots(db, key, through=date(2026, 11, 27))
    trusted = {key_id(key.public_key()): key.public_key()}
    honest = fetch_from(client)

    def lying(path: str, params: Mapping[str, str | int]) -> Any:
        body = honest(path, params)
        if path == "/v1/publication/log":
            for e in body["results"]:
                if e["seq"] == 1:  # the content shown is not what was hashed
                    e["canonical"] = e["canonical"].replace("35.2", "3.52")
        return body

    report = verify_remote(lying, trusted, now=LATER)
    assert not report.ok and report.first_failure is not None
    assert (report.first_failure.seq, report.first_failure.kind) == (1, "entry")
    assert "content_sha256" in report.first_failure.reason
    much_later = verify_remote(honest, trusted, now=LATER + timedelta(days=400))
    assert much_later.ok  # every day with entries is signed


def test_cli_verify_from_a_running_service(
    api_url: str,
    db: psycopg.Connection,
    key: Ed25519PrivateKey,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    draft = wf.create_draft(
        db,
        record_type="inspection_result",
        content={
            "inspected_on": "2026-11-02",
            "inspection_type": "double_random",
            "inspecting_body": "宁波市生态环境执法支队",
            "findings": "污水处理设施运行正常",
            "violations_found": False,
        },
        actor="li.na",
    )
    wf.approve(db, draft.id, actor="wang.qiang")
    wf.publish(db, draft.id, actor="li.na")
    public = tmp_path / "sourcewatch.pub"
    public.write_text(public_key_pem(key))
    assert main(["verify", "--from", api_url, "--public-key", str(public)]) == 0
    assert capsys.readouterr().out.startswith("ok: 1 entry, 0 roots checked")
    sign_roots(db, key, through=ledger.local_day(datetime.now(UTC)))  # today, as published
    roots = tmp_path / "roots.json"
    roots.write_text(
        json.dumps(
            {
                "results": [
                    {
                        "day": p.day.isoformat(),
                        "last_seq": p.last_seq,
                        "root_hash": p.root_hash.hex(),
                    }
                    for p in saved_roots(db)
                ]
            }
        )
    )
    args = ["verify", "--from", api_url, "--public-key", str(public), "--pinned", str(roots)]
    assert main(args) == 0
    assert "1 pinned checked" in capsys.readouterr().out
    assert main(["verify", "--from", api_url]) == 2  # a key of your own is required
    assert "--public-key" in capsys.readouterr().err
    assert main(["verify", "--from", "ftp://x", "--public-key", str(public)]) == 2
    with pytest.raises(RemoteError, match="GET"):
        verify_remote(http_fetch(api_url + "/no-such-prefix"), {key_id(key): key.public_key()})
