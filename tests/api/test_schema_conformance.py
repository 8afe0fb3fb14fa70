"""What ``schemathesis --checks all`` asks of the API (issue 15), one fast ASGI test per kind of
fix: a 405 names every method of its path in ``Allow``; a literal path is not read as a record
id; a day is only ``YYYY-MM-DD`` and a boolean only ``true``/``false``, as their schemas say;
staff operations declare how they are authenticated. Each answer is the one JSON error shape,
never a 5xx."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.errors import InvalidParameter
from api.params import parse_instant
from api.settings import ApiSettings
from tests.api.conftest import World, error_of
from tests.api.test_staff_cases import open_case
from tests.fixtures.staff import staff_headers

pytestmark = pytest.mark.integration


@pytest.fixture
def admin(db: psycopg.Connection) -> dict[str, str]:
    return staff_headers(db, "wang.admin", "admin")


def test_a_literal_path_is_not_read_as_a_record_id(
    client: TestClient, admin: dict[str, str]
) -> None:
    for path, allowed in [
        ("/v1/staff/disclosures/import", "POST"),
        ("/v1/staff/disclosures/import-template", "GET"),
        ("/v1/staff/outlets/unjudged", "GET"),
        ("/v1/staff/requests/overdue", "GET"),
    ]:
        response = client.patch(path, json={}, headers=admin)
        error = error_of(response, 405)
        assert error["code"] == "method_not_allowed"
        assert response.headers["allow"] == allowed, path


def test_405_allows_every_method_of_the_path(client: TestClient, admin: dict[str, str]) -> None:
    # two routes share the path (GET and PATCH): Starlette's own Allow named the first only
    for method in ("OPTIONS", "DELETE"):
        response = client.request(method, "/v1/staff/outlets/1", headers=admin)
        error = error_of(response, 405)
        assert response.headers["allow"] == "GET, PATCH"
        assert "(allowed: GET, PATCH)" in error["message"]
    response = client.options("/v1/staff/requests", headers=admin)
    assert error_of(response, 405) and response.headers["allow"] == "GET, POST"


def test_a_day_is_only_yyyy_mm_dd(client: TestClient, world: World, admin: dict[str, str]) -> None:
    for path, headers in [
        (f"/v1/outlets/{world.gas}", {}),
        (f"/v1/staff/outlets/{world.gas}/limits", admin),
    ]:
        for value in ("0", "1700000000", "2026-11-27T00:00:00", "27.11.2026"):
            error = error_of(client.get(path, params={"on": value}, headers=headers), 422, "on")
            assert "YYYY-MM-DD" in error["message"], error
        assert client.get(path, params={"on": "2026-11-27"}, headers=headers).status_code == 200


def test_body_days_and_booleans_are_strict(
    client: TestClient, db: psycopg.Connection, admin: dict[str, str]
) -> None:
    case_id = open_case(db, state="closed")
    reply = {"text": "the analyser was drifting", "on_behalf_of_enterprise": 0}
    response = client.post(f"/v1/staff/cases/{case_id}/reply", json=reply, headers=admin)
    error = error_of(response, 422, "on_behalf_of_enterprise")
    assert "valid boolean" in error["message"]
    reply["on_behalf_of_enterprise"] = False
    response = client.post(f"/v1/staff/cases/{case_id}/reply", json=reply, headers=admin)
    assert response.status_code == 200, response.text

    body = {"standard": "GB 13223-2011", "category": "coal-boiler-new", "source": "permit"}
    outlet = db.execute("SELECT outlet_id FROM cases WHERE id = %s", (case_id,)).fetchone()
    assert outlet is not None
    for day in (0, "0", "2026-11-27T00:00:00Z"):
        response = client.post(
            f"/v1/staff/outlets/{outlet[0]}/bindings",
            json={**body, "valid_from": day},
            headers=admin,
        )
        assert "YYYY-MM-DD" in error_of(response, 422, "valid_from")["message"]


def test_staff_operations_declare_their_authentication(settings: ApiSettings) -> None:
    spec = create_app(settings).openapi()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == "sw_session"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            declared = operation.get("security")
            if path.startswith("/v1/staff/"):
                assert declared == [{"bearer": []}, {"session": []}], (method, path)
            else:
                assert declared is None, (method, path)


def test_an_undeclared_method_on_a_staff_path_is_401_before_405(client: TestClient) -> None:
    # authentication comes before routing (issue 15: 401 before a body is read); the
    # operations declare it, so an anonymous TRACE is answered 401, not 405. On every staff
    # path (tests/api/test_schemathesis_cli.py's anonymous run has no coverage phase, whose
    # undeclared methods these are); an OPTIONS that is no preflight passes the gate: 405.
    paths = client.get("/openapi.json").json()["paths"]
    staff = {path: item for path, item in paths.items() if path.startswith("/v1/staff/")}
    assert len(staff) > 50
    for path, item in staff.items():
        url = re.sub(r"\{[^}]+\}", "1", path)
        declared = {method.upper() for method in item}
        for method in {"GET", "PUT", "POST", "DELETE", "PATCH", "TRACE", "QUERY"} - declared:
            response = client.request(method, url)
            assert error_of(response, 401)["code"] == "unauthorized", (method, path)
        response = client.options(url)
        assert error_of(response, 405), path
        assert set(response.headers["allow"].split(", ")) == declared, path


def test_instant_filters_take_any_rfc_3339_date_time(client: TestClient, world: World) -> None:
    # documented as `format: date-time`: a filter's bound of any year is a bound, not a 422
    for path, name in [
        ("/v1/exceedances", "since"),
        ("/v1/exceedances", "until"),
        ("/v1/disclosures", "published_since"),
        ("/v1/disclosures", "as_of"),
    ]:
        for value in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "2026-11-27"):
            response = client.get(path, params={name: value})
            assert response.status_code == 200, (path, name, value, response.text)
        error = error_of(client.get(path, params={name: "2024-01-01T12:99:00Z"}), 422, name)
        assert "ISO 8601" in error["message"]
        error_of(client.get(path, params={name: ""}), 422, name)


def test_parameters_document_what_the_code_accepts(settings: ApiSettings) -> None:
    paths = create_app(settings).openapi()["paths"]

    def schema(path: str, name: str) -> dict[str, object]:
        parameters = paths[path]["get"]["parameters"]
        found: dict[str, object] = next(p["schema"] for p in parameters if p["name"] == name)
        return found

    for path, name in [
        ("/v1/exceedances", "since"),
        ("/v1/disclosures", "published_since"),
        ("/v1/stats/districts", "start"),
        ("/v1/outlets/{outlet_id}/measurements", "end"),
    ]:
        assert schema(path, name)["type"] == "string", (path, name)
        assert schema(path, name)["format"] == "date-time", (path, name)
    for path in ("/v1/disclosures", "/v1/staff/disclosures"):
        assert "fee_record" in schema(path, "record_type")["enum"]  # type: ignore[operator]
    assert "pattern" in schema("/v1/enterprises", "near")
    assert "pattern" in schema("/v1/publication/verify", "pin")["items"]  # type: ignore[operator]


def test_patterned_parameters_are_refused_by_name(client: TestClient, world: World) -> None:
    for near in ("181,0", "0,91", "east"):
        error_of(client.get("/v1/enterprises", params={"near": near}), 422, "near")
    assert client.get("/v1/enterprises", params={"near": "120.15,30.28"}).status_code == 200
    pins = ["2026-11-27:3", "2026-13-01:1:" + "00" * 32]
    error_of(client.get("/v1/publication/verify", params={"pin": pins}), 422, "pin")
    response = client.get("/v1/staff/disclosures", params={"record_type": "no_such_type"})
    assert response.status_code == 401  # the staff gate answers before the parameters


def test_a_period_bound_outside_the_years_says_where_they_end() -> None:
    # 1900-01-01 without an offset is Asia/Shanghai, 1899-12-31T16:00Z: refused, and now the
    # message says that the years are counted in UTC ("between 1900 and 2200" did not)
    with pytest.raises(
        InvalidParameter, match=r"^start: must be from 1900-01-01 to before 2200-01-01 \(UTC\)$"
    ):
        parse_instant("1900-01-01", "start")
    with pytest.raises(InvalidParameter, match=r"\(UTC\)$"):
        parse_instant("0001-01-01", "end")  # overflows on the way to UTC
    assert parse_instant("1900-01-01T00:00:00Z", "start") == datetime(1900, 1, 1, tzinfo=UTC)
