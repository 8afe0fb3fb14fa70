"""Conventions every endpoint shares: caching, rate limits, CORS, gzip, errors, probes, OpenAPI."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from psycopg import sql

from api.app import create_app
from api.db import Database, Statement, get_database
from api.settings import ApiSettings
from tests.api.conftest import World, error_of


def test_etag_and_304(client: TestClient, world: World) -> None:
    first = client.get("/v1/enterprises")
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    assert first.headers["cache-control"] == "public, max-age=60"
    again = client.get("/v1/enterprises", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag
    assert client.get("/v1/enterprises", headers={"If-None-Match": '"other"'}).status_code == 200
    other = client.get("/v1/enterprises?limit=1").headers["etag"]
    assert other != etag
    detail = client.get(f"/v1/outlets/{world.gas}")
    cached = client.get(
        f"/v1/outlets/{world.gas}", headers={"If-None-Match": detail.headers["etag"]}
    )
    assert cached.status_code == 304


def test_rate_limit_headers_and_429(database_url: str) -> None:
    settings = ApiSettings(database_url=database_url, api_rate_limit_per_minute=3)
    with TestClient(create_app(settings)) as c:
        remaining = []
        for _ in range(3):
            response = c.get("/v1/flags")
            assert response.status_code == 200
            assert response.headers["ratelimit-limit"] == "3"
            remaining.append(response.headers["ratelimit-remaining"])
        assert remaining == ["2", "1", "0"]
        refused = c.get("/v1/flags")
        error = error_of(refused, 429)
        assert error["code"] == "rate_limited"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["ratelimit-reset"]) >= 1
        assert c.get("/healthz").status_code == 200  # probes are not counted
        assert "ratelimit-limit" not in c.get("/healthz").headers


def test_portal_and_widget_pages_count_but_not_their_static_files(
    database_url: str, world: World
) -> None:
    settings = ApiSettings(database_url=database_url, api_rate_limit_per_minute=2)
    with TestClient(create_app(settings)) as c:
        assert c.get("/portal/").headers["ratelimit-remaining"] == "1"
        page = c.get(f"/widgets/enterprise-status?enterprise_id={world.hangzhou}")
        assert page.headers["ratelimit-remaining"] == "0"
        for static in ("/portal/static/portal.css", "/widgets/sourcewatch-widgets.js"):
            answer = c.get(static)
            assert answer.status_code == 200 and "ratelimit-limit" not in answer.headers
        error_of(c.get("/portal/"), 429)


def test_rate_limit_zero_turns_it_off(database_url: str) -> None:
    settings = ApiSettings(database_url=database_url, api_rate_limit_per_minute=0)
    with TestClient(create_app(settings)) as c:
        response = c.get("/v1/flags?limit=1")
        assert response.status_code == 200 and "ratelimit-limit" not in response.headers


def test_cors_allows_any_origin_without_credentials(client: TestClient, world: World) -> None:
    response = client.get("/v1/enterprises", headers={"Origin": "https://portal.example.gov.cn"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers
    assert "ratelimit-remaining" in response.headers["access-control-expose-headers"].lower()
    preflight = client.options(
        "/v1/enterprises",
        headers={"Origin": "https://portal.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200
    assert "GET" in preflight.headers["access-control-allow-methods"]
    missing = client.get("/nowhere", headers={"Origin": "https://portal.example"})
    assert missing.headers["access-control-allow-origin"] == "*"


def test_gzip(client: TestClient) -> None:
    response = client.get("/v1/pollutants", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["vary"]
    assert response.json()["meta"]["limit"] == 100  # decoded by the client
    raw = client.get("/v1/pollutants?format=csv", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.text.startswith("code,")
    assert gzip.compress(b"x")  # the module is what the client used


def test_probes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_readyz_is_503_when_the_database_is_down() -> None:
    url = f"postgresql://nobody@127.0.0.1:{_closed_port()}/none?connect_timeout=1"
    with TestClient(create_app(ApiSettings(database_url=url))) as c:
        assert c.get("/healthz").status_code == 200
        error = error_of(c.get("/readyz"), 503)
        assert error["code"] == "unavailable"
        assert "127.0.0.1" not in error["message"]


def test_unknown_route_and_method(client: TestClient) -> None:
    error = error_of(client.get("/v1/nothing-here"), 404)
    assert error["code"] == "not_found" and "parameter" not in error
    error = error_of(client.post("/v1/pollutants"), 405)
    assert error["code"] == "method_not_allowed"
    assert "GET" in client.post("/v1/pollutants").headers["allow"]


@pytest.fixture
def broken_client(settings: ApiSettings) -> Iterator[TestClient]:
    """An app with two extra routes that fail: a bug, and SQL the database refuses."""
    app = create_app(settings)
    router = APIRouter()

    @router.get("/v1/test/bug")
    def bug() -> None:
        raise RuntimeError("secret internal detail")

    @router.get("/v1/test/bad-sql")
    def bad_sql(db: Annotated[Database, Depends(get_database)]) -> None:
        db.fetch_all(Statement(sql.SQL("SELECT no_such_column FROM enterprises")))

    app.include_router(router)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_500s_never_leak_details(
    broken_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    for path in ("/v1/test/bug", "/v1/test/bad-sql"):
        response = broken_client.get(path, headers={"Origin": "https://portal.example"})
        error = error_of(response, 500)
        assert error["code"] == "internal_error"
        assert "secret" not in response.text and "no_such_column" not in response.text
        assert "Traceback" not in response.text and "SELECT" not in response.text
        assert response.headers["access-control-allow-origin"] == "*"
    logged = caplog.text
    assert "secret internal detail" in logged and "no_such_column" in logged


PAGE = {"limit", "page", "format"}
ROUTES = {
    "/healthz": set(),
    "/readyz": set(),
    "/v1/enterprises": PAGE
    | {"q", "uscc", "district", "industry", "control_level", "bbox", "near", "radius_m", "sort"},
    "/v1/enterprises/{enterprise_id}": {"enterprise_id"},
    "/v1/outlets": PAGE | {"enterprise_id", "kind", "active", "q"},
    "/v1/outlets/{outlet_id}": {"outlet_id", "on"},
    "/v1/outlets/{outlet_id}/latest": {"outlet_id", "format"},
    "/v1/outlets/{outlet_id}/completeness": PAGE
    | {"outlet_id", "period", "from", "to", "headline"},
    "/v1/outlets/{outlet_id}/measurements": {
        "outlet_id",
        "pollutant",
        "resolution",
        "start",
        "end",
        "kind",
        "limit",
        "cursor",
        "format",
    },
    "/v1/pollutants": PAGE | {"medium", "q"},
    "/v1/pollutants/{code}": {"code"},
    "/v1/flags": PAGE | {"standard"},
    "/v1/exceedances": PAGE
    | {"enterprise_id", "outlet_id", "district", "pollutant", "state", "period", "since", "until"},
    "/v1/exceedances/{case_id}": {"case_id"},
    "/v1/stats/districts": PAGE | {"start", "end"},
    "/v1/stats/pollutants": PAGE | {"start", "end"},
    "/v1/feeds/exceedances.atom": {"enterprise_id", "district"},
    "/v1/feeds/exceedances.rss": {"enterprise_id", "district"},
    "/v1/feeds/exceedances.json": {"enterprise_id", "district"},
    "/v1/disclosures": PAGE
    | {"category", "record_type", "enterprise_id", "published_since", "published_until", "as_of"},
    "/v1/disclosures/{record_id}": {"record_id"},
    "/v1/disclosures/{record_id}/versions": {"record_id"},
    "/v1/disclosures/{record_id}/attachments/{sha256}": {"record_id", "sha256"},
    "/v1/disclosure-categories": set(),
    "/v1/outlets/{outlet_id}/comparisons": {"outlet_id"},
    "/v1/feeds/disclosures.atom": {"category", "enterprise_id", "district"},
    "/v1/feeds/disclosures.rss": {"category", "enterprise_id", "district"},
    "/v1/feeds/disclosures.json": {"category", "enterprise_id", "district"},
    "/v1/dumps": PAGE,
    "/v1/dumps/{day}/{path}": {"day", "path"},
    "/v1/timeliness": {"year", "by", "format"},
    "/v1/reports/annual/{year}": {"year", "format", "table"},
    "/v1/publication/log": {"after_seq", "limit"},
    "/v1/publication/roots": PAGE,
    "/v1/publication/keys": PAGE,
    "/v1/publication/verify": {"pin"},
    # requests for information (issue 17): tracking needs the requester's token
    "/v1/requests/{reference}": {"reference", "X-Tracking-Token"},
    "/v1/requests/{reference}/attachments/{sha256}": {"reference", "sha256", "X-Tracking-Token"},
    "/v1/request-outcomes": set(),
    "/v1/feeds/publication-roots.atom": set(),
    "/v1/feeds/publication-roots.rss": set(),
    "/v1/feeds/publication-roots.json": set(),
}
# Path parameters that do not name a stored resource (any year has a report).
NOT_RESOURCES = {"/v1/reports/annual/{year}"}
# Files, not JSON: what their 200 answer is.
FILES = {
    "/v1/disclosures/{record_id}/attachments/{sha256}",
    "/v1/requests/{reference}/attachments/{sha256}",
    "/v1/dumps/{day}/{path}",
    "/v1/reports/annual/{year}",
}
FEEDS = {"application/atom+xml", "application/rss+xml", "application/feed+json"}


def test_openapi_lists_every_route_with_parameters_and_errors(settings: ApiSettings) -> None:
    spec = create_app(settings).openapi()
    paths = {p: ops for p, ops in spec["paths"].items() if not p.startswith("/v1/staff")}
    # The one public route that writes: submitting a request for information.
    submit = paths.pop("/v1/requests")
    assert set(submit) == {"post"} and {"422", "429"} <= set(submit["post"]["responses"])
    assert set(paths) == set(ROUTES)
    error_ref = "#/components/schemas/ErrorBody"
    for path, parameters in ROUTES.items():
        assert set(paths[path]) == {"get"}, path
        operation = paths[path]["get"]
        assert operation.get("summary"), path
        documented = operation.get("parameters", [])
        assert {p["name"] for p in documented} == parameters, path
        assert all(p.get("description") for p in documented), path
        responses = operation["responses"]
        media = set(responses["200"]["content"])
        assert "application/json" in media or media & FEEDS or path in FILES, path
        errors = {"404"} if "{" in path and path not in NOT_RESOURCES else set()
        if path.startswith("/v1/"):
            errors |= {"422", "429", "500", "503"}
        elif path == "/readyz":
            errors |= {"500", "503"}
        for status in errors:
            schema = responses[status]["content"]["application/json"]["schema"]
            assert schema["$ref"] == error_ref, (path, status)
        if "format" in parameters:
            assert "text/csv" in responses["200"]["content"], path
    error = spec["components"]["schemas"]["ErrorDetail"]
    assert set(error["properties"]) == {"status", "code", "message", "parameter"}
    resolution = next(
        p
        for p in paths["/v1/outlets/{outlet_id}/measurements"]["get"]["parameters"]
        if p["name"] == "resolution"
    )
    assert resolution["schema"]["enum"] == ["raw", "hour", "day", "month"]
