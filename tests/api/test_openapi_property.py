"""Property-based run of schemathesis against the app's own OpenAPI document, over ASGI.

For every public operation (the staff SSE stream is left out: it never ends), schemathesis
generates requests from the documented parameters — valid ones and invalid ones — and checks
each answer: no 5xx, a status code the operation documents, the documented content type, and
a body that conforms to the documented schema. The data is the ``world`` of the API fixtures
(enterprises, a gas and a water outlet, raw values, hourly and daily means, cases) plus the
periods and events of an exceedance case, so lookups by id find something.

Deterministic (``derandomize``, no example database) and bounded (:data:`MAX_EXAMPLES` per
operation).
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.app import create_app
from api.settings import ApiSettings
from tests.api.conftest import World, utc

MAX_EXAMPLES = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _case_history(db: psycopg.Connection, world: World) -> None:
    """Periods and events for the world's open exceedance case, as the evaluator writes them."""
    row = db.execute(
        "SELECT id FROM cases WHERE kind = 'exceedance' AND state = 'open' AND outlet_id = %s",
        (world.gas,),
    ).fetchone()
    assert row is not None
    case = row[0]
    details = {
        "limit": "100",
        "limit_min": None,
        "unit": "mg/m³",
        "reference_o2": "6",
        "limit_source": "standard",
        "standard": "GB 13223-2011",
        "category": "coal-boiler-new",
        "source_document": "GB 13223-2011 火电厂大气污染物排放标准",
        "clause": "表 1",
        "limit_confirmed": True,
        "limit_version": 1,
    }
    db.execute(
        "UPDATE cases SET max_multiple = 0.5, details = %s WHERE id = %s", (Jsonb(details), case)
    )
    db.execute(
        "INSERT INTO case_periods (case_id, period_start, value, limit_value, multiple, "
        "compliant, details) VALUES (%s, %s, 150, 100, 0.5, false, %s)",
        (case, utc(1), Jsonb({**details, "value": "150", "coverage": "50/60"})),
    )
    for at, action in [(utc(2, 5), "opened"), (utc(3), "escalated")]:
        db.execute(
            "INSERT INTO case_events (case_id, at, actor, action, severity, detail) "
            "VALUES (%s, %s, 'evaluator', %s, 'warning', %s)",
            (case, at, action, Jsonb(details)),
        )


@pytest.fixture
def api_schema(settings: ApiSettings, db: psycopg.Connection, world: World) -> BaseSchema:
    _case_history(db, world)
    app = create_app(settings)
    return schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex="^/v1/staff/")


def _check(
    operation: APIOperation[Any, Any, Any, Any],
    headers: dict[str, str] | None = None,
    max_examples: int = MAX_EXAMPLES,
) -> None:
    """Up to ``max_examples`` requests, valid and invalid (with ``headers``, e.g. a staff
    token), each answer validated."""
    strategy = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=strategy)
    @settings(
        max_examples=max_examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Case[Any]) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


# schemathesis' lazy pytest loader (``from_fixture``) breaks on pytest 9 (``Function._nodeid``),
# so this walks the operations itself and reports every failing one at the end.
@pytest.mark.integration
@pytest.mark.filterwarnings("default")  # schemathesis' and hypothesis' own deprecations
def test_api_conforms_to_its_openapi(api_schema: BaseSchema) -> None:
    failures: dict[str, str] = {}
    operations = [
        result.ok() for result in api_schema.get_all_operations() if isinstance(result, Ok)
    ]
    assert len(operations) >= 15, [op.label for op in operations]
    for operation in operations:
        try:
            _check(operation)
        except (AssertionError, BaseExceptionGroup) as exc:  # a Failure, or a group of them
            failures[operation.label] = str(exc)
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
