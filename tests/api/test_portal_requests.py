"""The portal's request form and tracking page (issue 17): bilingual, the token shown once and
never cached, errors shown in the form, the per-address limit, and a requester who sees only
their own request — against the real database."""

from __future__ import annotations

import re

import psycopg
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings

FORM = {
    "requester_kind": "person",
    "requester_name": "赵六",
    "contact": "zhaoliu@example.cn",
    "description": "某污水处理厂2026年10月出水在线监测数据",
    "preferred_form": "paper",
}


def _submitted(html: str) -> tuple[str, str]:
    reference = re.search(r'<code id="reference">([^<]+)</code>', html)
    token = re.search(r'<code id="token">([^<]+)</code>', html)
    assert reference and token, html
    return reference.group(1), token.group(1)


def test_form_in_both_languages(client: TestClient) -> None:
    zh = client.get("/portal/requests")
    assert zh.status_code == 200
    assert "政府信息公开申请" in zh.text and "20个工作日内答复" in zh.text
    assert 'name="description"' in zh.text and 'href="/portal/requests?lang=en"' in zh.text
    en = client.get("/portal/requests", params={"lang": "en"}).text
    assert "Request for government information" in en and "within 20 working days" in en
    assert 'href="/portal/requests?lang=zh"' in client.get("/portal/?lang=zh").text


def test_submit_then_follow_only_ones_own_request(
    client: TestClient, db: psycopg.Connection
) -> None:
    done = client.post("/portal/requests", data=FORM)
    assert done.status_code == 201, done.text
    assert done.headers["cache-control"] == "private, no-store"
    reference, token = _submitted(done.text)
    row = db.execute(
        "SELECT requester_name, channel, created_by FROM disclosure_requests WHERE reference = %s",
        (reference,),
    ).fetchone()
    assert row == ("赵六", "online", "public")
    other_reference, other_token = _submitted(
        client.post("/portal/requests", data={**FORM, "requester_name": "钱七"}).text
    )

    seen = client.post("/portal/requests/track", data={"reference": reference, "token": token})
    assert seen.status_code == 200 and seen.headers["cache-control"] == "private, no-store"
    assert '<dd id="status">办理中</dd>' in seen.text and FORM["description"] in seen.text
    assert token not in seen.text  # the token is never shown again
    for ref, tok in [(reference, other_token), (other_reference, token), (reference, "")]:
        refused = client.post("/portal/requests/track", data={"reference": ref, "token": tok})
        assert refused.status_code == 404 and "查询密码不正确" in refused.text
        assert FORM["description"] not in refused.text


def test_errors_are_shown_in_the_form(client: TestClient, db: psycopg.Connection) -> None:
    bad = client.post(
        "/portal/requests", data={**FORM, "description": "   "}, params={"lang": "en"}
    )
    assert bad.status_code == 422
    assert "Please correct" in bad.text and 'role="alert"' in bad.text
    assert "赵六" in bad.text  # what was typed is kept
    odd = client.post("/portal/requests", data={**FORM, "preferred_form": "<script>"})
    assert odd.status_code == 422 and "<script>" not in odd.text
    assert db.execute("SELECT count(*) FROM disclosure_requests").fetchone() == (0,)


def test_the_form_shares_the_submit_limit(
    role_urls: dict[str, str], db: psycopg.Connection
) -> None:
    settings = ApiSettings(
        database_url=role_urls["api"], api_rate_limit_per_minute=0, api_request_submits_per_hour=1
    )
    with TestClient(create_app(settings)) as c:
        assert c.post("/portal/requests", data=FORM).status_code == 201
        limited = c.post("/portal/requests", data=FORM)
        assert limited.status_code == 429 and "提交过于频繁" in limited.text
        assert int(limited.headers["retry-after"]) >= 1
        assert c.post("/v1/requests", json=FORM).status_code == 429  # the same limit
    assert db.execute("SELECT count(*) FROM disclosure_requests").fetchone() == (1,)


def test_requester_downloads_the_answers_file(client: TestClient, db: psycopg.Connection) -> None:
    from schemas.disclosure import requests as rq

    reference, token = _submitted(client.post("/portal/requests", data=FORM).text)
    (request_id,) = db.execute(
        "SELECT id FROM disclosure_requests WHERE reference = %s", (reference,)
    ).fetchone() or (None,)
    pdf = b"%PDF-1.7 answer"
    attached = rq.attach(
        db, request_id, actor="li.na", filename="答复书.pdf", media_type="application/pdf", data=pdf
    )
    page = client.post("/portal/requests/track", data={"reference": reference, "token": token})
    assert f'name="sha256" value="{attached.sha256}"' in page.text and "答复书.pdf" in page.text
    form = {"reference": reference, "token": token, "sha256": attached.sha256}
    file = client.post("/portal/requests/track/file", data=form)
    assert file.status_code == 200 and file.content == pdf
    assert file.headers["cache-control"] == "private, no-store"
    refused = client.post("/portal/requests/track/file", data={**form, "token": "wrong"})
    assert refused.status_code == 404 and refused.content != pdf
    bad = client.post("/portal/requests/track/file", data={**form, "sha256": "zz"})
    assert bad.status_code == 422
