"""/v1/feeds/exceedances.{atom,rss,json}: valid Atom 1.0, RSS 2.0 and JSON Feed 1.1 of the
opened/closed transitions of exceedance cases, with stable ids and no staff data."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import error_of
from tests.api.test_exceedances import SECRETS, Cases, make_cases

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def cases(db: psycopg.Connection) -> Cases:
    return make_cases(db)


def _text(element: ET.Element, path: str) -> str:
    found = element.find(path)
    assert found is not None, path
    assert found.text and found.text.strip(), path
    return found.text


def _atom(client: TestClient, query: str = "") -> ET.Element:
    response = client.get(f"/v1/feeds/exceedances.atom{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    for secret in SECRETS:
        assert secret not in response.text
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    return root


def test_atom_has_rfc4287_required_elements(client: TestClient, cases: Cases) -> None:
    root = _atom(client)
    # RFC 4287 §4.1.1: atom:feed has id, title, updated, and author (or every entry has one)
    assert _text(root, f"{ATOM}id").startswith("tag:sourcewatch,2026:")
    assert "超标公告" in _text(root, f"{ATOM}title") and "Exceedance" in _text(root, f"{ATOM}title")
    _text(root, f"{ATOM}updated")
    _text(root, f"{ATOM}author/{ATOM}name")
    assert any(link.get("rel") == "self" for link in root.findall(f"{ATOM}link"))
    entries = root.findall(f"{ATOM}entry")
    # opened (hourly), closed and opened (daily); escalated, comments, assignments: no
    assert len(entries) == 3
    ids = []
    for entry in entries:  # §4.1.2: id, title, updated; a link (no content)
        ids.append(_text(entry, f"{ATOM}id"))
        _text(entry, f"{ATOM}title")
        _text(entry, f"{ATOM}updated")
        _text(entry, f"{ATOM}summary")
        links = [link.get("href", "") for link in entry.findall(f"{ATOM}link")]
        assert any(href.endswith(f"/v1/exceedances/{cases.hourly}") for href in links) or any(
            href.endswith(f"/v1/exceedances/{cases.daily}") for href in links
        )
    assert len(set(ids)) == 3 and all(i.startswith("tag:sourcewatch,2026:") for i in ids)
    newest = entries[0]
    assert _text(newest, f"{ATOM}title").startswith("超标结束")  # the close at 05:00
    assert _text(newest, f"{ATOM}updated").startswith("2026-11-27T05:00:00")
    assert _text(root, f"{ATOM}updated").startswith("2026-11-27T05:00:00")
    assert "未经环境保护主管部门审核" in _text(entries[1], f"{ATOM}summary")


def test_rss_has_required_elements(client: TestClient, cases: Cases) -> None:
    response = client.get("/v1/feeds/exceedances.rss")
    assert response.headers["content-type"].startswith("application/rss+xml")
    for secret in SECRETS:
        assert secret not in response.text
    root = ET.fromstring(response.content)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    for name in ("title", "link", "description"):  # RSS 2.0 required channel elements
        _text(channel, name)
    items = channel.findall("item")
    assert len(items) == 3
    for item in items:
        _text(item, "title")
        assert _text(item, "link").endswith(
            (f"/v1/exceedances/{cases.hourly}", f"/v1/exceedances/{cases.daily}")
        )
        guid = item.find("guid")
        assert guid is not None and guid.get("isPermaLink") == "false"
        assert (guid.text or "").startswith("tag:sourcewatch,2026:")
        _text(item, "pubDate")


def test_json_feed(client: TestClient, cases: Cases) -> None:
    response = client.get("/v1/feeds/exceedances.json")
    assert response.headers["content-type"].startswith("application/feed+json")
    body: dict[str, Any] = response.json()
    assert body["version"] == "https://jsonfeed.org/version/1.1"
    assert body["title"] and body["feed_url"].endswith("/v1/feeds/exceedances.json")
    assert len(body["items"]) == 3
    for item in body["items"]:
        assert item["id"].startswith("tag:sourcewatch,2026:")
        assert "/v1/exceedances/" in item["url"] and " / " in item["title"]
    assert body["items"][0]["date_published"] == "2026-11-27T05:00:00+00:00"
    for secret in SECRETS:
        assert secret not in response.text


def test_ids_are_stable_and_shared_across_formats(client: TestClient, cases: Cases) -> None:
    atom_ids = [_text(e, f"{ATOM}id") for e in _atom(client).findall(f"{ATOM}entry")]
    json_ids = [i["id"] for i in client.get("/v1/feeds/exceedances.json").json()["items"]]
    assert atom_ids == json_ids
    assert (
        client.get("/v1/feeds/exceedances.atom").content
        == client.get("/v1/feeds/exceedances.atom").content
    )


def test_filters(client: TestClient, cases: Cases) -> None:
    assert len(_atom(client, f"?enterprise_id={cases.hangzhou}").findall(f"{ATOM}entry")) == 1
    assert len(_atom(client, "?district=鄞州区").findall(f"{ATOM}entry")) == 2
    empty = _atom(client, "?district=nowhere")
    assert empty.findall(f"{ATOM}entry") == []
    _text(empty, f"{ATOM}updated")
    body = client.get(f"/v1/feeds/exceedances.json?enterprise_id={cases.ningbo}").json()
    assert body["feed_url"].endswith(f"exceedances.json?enterprise_id={cases.ningbo}")
    assert len(body["items"]) == 2


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("enterprise_id=abc", "enterprise_id"),
        ("enterprise_id=0", "enterprise_id"),
        ("district=", "district"),
        ("enterprise_id=1&district=x", "district"),
    ],
)
def test_bad_parameters(client: TestClient, cases: Cases, query: str, parameter: str) -> None:
    for ext in ("atom", "rss", "json"):
        error_of(client.get(f"/v1/feeds/exceedances.{ext}?{query}"), 422, parameter)


def test_unknown_format(client: TestClient, cases: Cases) -> None:
    error_of(client.get("/v1/feeds/exceedances.xml"), 404)


@pytest.mark.parametrize("ext", ["atom", "rss", "json"])
def test_etag_304(client: TestClient, cases: Cases, ext: str) -> None:
    first = client.get(f"/v1/feeds/exceedances.{ext}")
    assert first.headers["cache-control"] == "public, max-age=60"
    again = client.get(
        f"/v1/feeds/exceedances.{ext}", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
