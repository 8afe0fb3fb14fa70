"""An unknown query parameter: 422 on the operations of the OpenAPI document, naming it and
listing those the operation declares (api/params.py reject_unknown); HTML pages stay lenient."""

from __future__ import annotations

import psycopg
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import World, error_of
from tests.api.test_staff_cases import auth

pytestmark = pytest.mark.integration


def test_every_operation_takes_exactly_its_documented_query_parameters(
    settings: ApiSettings,
) -> None:
    app = create_app(settings)
    spec = app.openapi()
    index = app.state.query_names
    checked = 0
    for context in iter_route_contexts(app.routes):
        if id(context.original_route) not in index:
            continue
        for method in context.methods:
            operation = spec["paths"][context.path_format][method.lower()]
            documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
            assert index[id(context.original_route)] == documented, (method, context.path_format)
            checked += 1
    operations = sum(len(ops) for ops in spec["paths"].values())
    assert checked == operations  # every documented operation is checked, and nothing else


def test_a_typo_is_named_with_what_the_endpoint_takes(client: TestClient, world: World) -> None:
    error = error_of(client.get("/v1/stats/districts?day=2026-12-01"), 422, "day")
    assert error["code"] == "invalid_parameter"
    assert error["message"] == (
        "unknown query parameter 'day'; this endpoint takes end, format, limit, page, start"
    )
    # several at once; the names of nested dependencies (pagination, format) count, and a
    # near miss is suggested
    error = error_of(client.get("/v1/stats/districts?stat=2026-12-01&Limit=5"), 422, "stat")
    assert error["message"].startswith(
        "unknown query parameters 'stat', 'Limit' (did you mean 'start' for 'stat', "
        "'limit' for 'Limit'?); this endpoint takes"
    )
    body = client.get("/v1/stats/districts?start=2026-11-27&limit=5&format=json&page=1")
    assert body.status_code == 200, body.text
    error = error_of(client.get("/readyz?verbose=1"), 422, "verbose")
    assert error["message"].endswith("this endpoint takes no query parameters")


def test_the_check_comes_before_the_other_parameter_errors(
    client: TestClient, world: World
) -> None:
    response = client.get(f"/v1/outlets/{world.gas}/measurements?resolution=week&pollutnt=a21026")
    error_of(response, 422, "pollutnt")


def test_tracking_and_cache_busting_parameters_pass(client: TestClient, world: World) -> None:
    plain = client.get("/v1/exceedances")
    tagged = client.get("/v1/exceedances?utm_source=wechat&utm_medium=share&_=1733446800000")
    assert tagged.status_code == 200, tagged.text
    assert tagged.json()["results"] == plain.json()["results"]


def test_feeds_are_strict(client: TestClient, world: World) -> None:
    response = client.get(f"/v1/feeds/exceedances.atom?enterprise={world.hangzhou}")
    error = error_of(response, 422, "enterprise")
    assert "did you mean 'enterprise_id' for 'enterprise'?" in error["message"]
    tagged = client.get(f"/v1/feeds/exceedances.atom?enterprise_id={world.hangzhou}&utm_source=x")
    assert tagged.status_code == 200, tagged.text


def test_staff_endpoints_are_strict(
    client: TestClient, world: World, db: psycopg.Connection
) -> None:
    viewer = auth(db, "li.na", "viewer")
    # no token: 401 before anything else is looked at
    assert client.get("/v1/staff/cases?stat=open").status_code == 401
    error = error_of(client.get("/v1/staff/cases?stat=open", headers=viewer), 422, "stat")
    assert "'state' for 'stat'" in error["message"]
    assert client.get("/v1/staff/cases?state=open", headers=viewer).status_code == 200


def test_pages_people_visit_and_portals_embed_stay_lenient(
    client: TestClient, world: World
) -> None:
    shared = "utm_source=wechat&from=singlemessage&isappinstalled=0&spm=a1.b2"
    for path in (
        f"/portal/?{shared}",
        f"/portal/enterprises/{world.hangzhou}?lang=en&{shared}",
        f"/widgets/outlet-chart?outlet_id={world.gas}&cb=12345",
        f"/widgets/exceedances?enterprise_id={world.hangzhou}&{shared}",
        f"/widgets/enterprise-status?enterprise_id={world.hangzhou}&{shared}",
        f"/portal/requests?{shared}",
    ):
        response = client.get(path)
        assert response.status_code == 200, (path, response.text[:200])
        assert response.headers["content-type"].startswith("text/html"), path
