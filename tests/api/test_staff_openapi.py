"""The staff management routes against their own OpenAPI document (schemathesis over ASGI, as
``test_openapi_property`` does for the public routes), called with an admin token: every
answer to valid and invalid requests is a status the operation documents, in the documented
content type and shape, and never a 5xx."""

from __future__ import annotations

import psycopg
import pytest
import schemathesis
from schemathesis import BaseSchema
from schemathesis.core.result import Ok

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import World
from tests.api.test_openapi_property import _check
from tests.fixtures.staff import staff_headers

MAX_EXAMPLES = 15
# The routes of issue 13 (registry, limits, subscriptions, users and tokens), of issue 14 (recall,
# system alerts) and of issue 17 (requests for information and their challenges).
PATHS = (
    r"^/v1/staff/(enterprises|outlets|registry|limits|standards|subscriptions|users|tokens"
    r"|recall|system-alerts|requests|request-challenges)"
)


@pytest.fixture
def admin_headers(db: psycopg.Connection) -> dict[str, str]:
    return staff_headers(db, "wang.admin", "admin")


@pytest.fixture
def staff_schema(settings: ApiSettings, world: World) -> BaseSchema:
    app = create_app(settings)
    # File uploads are left out: Starlette answers a broken multipart body with its own 400
    # before the route runs (as for the disclosure records' attachments, not fuzzed either).
    return (
        schemathesis.openapi.from_asgi("/openapi.json", app)
        .include(path_regex=PATHS)
        .exclude(path_regex=r"/attachments$")
    )


@pytest.mark.integration
@pytest.mark.filterwarnings("default")  # schemathesis' and hypothesis' own deprecations
def test_staff_management_conforms_to_its_openapi(
    staff_schema: BaseSchema, admin_headers: dict[str, str]
) -> None:
    failures: dict[str, str] = {}
    operations = [
        result.ok() for result in staff_schema.get_all_operations() if isinstance(result, Ok)
    ]
    assert len(operations) >= 20, [op.label for op in operations]
    for operation in operations:
        try:
            _check(operation, admin_headers, MAX_EXAMPLES)
        except (AssertionError, BaseExceptionGroup) as exc:
            failures[operation.label] = str(exc)[:3000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
