"""``schemathesis run …/openapi.json`` against the real API under uvicorn with the rate limit off,
as issue 15 asks, at a bounded budget (a fixed seed, a few examples per operation): every
answer is a status the operation documents, in the documented content type, headers and shape,
never a 5xx. Run twice: anonymously over the staff routes (every one must answer 401 before it
looks at a body: before issue 15 malformed bodies got undocumented 400s), and with an admin
token over every operation.

Not yet ``--checks all``: see :data:`CHECKS` for what is left out and why.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from api.settings import ApiSettings
from tests.api.conftest import World, _free_port, running_api
from tests.fixtures.staff import staff_headers

MAX_EXAMPLES = 3
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# ``--checks all`` also runs positive_data_acceptance, negative_data_rejection,
# unsupported_method and allow_header_conformance, which still fail: several query parameters
# are validated beyond their schema (dates as free strings, "enterprise_id or district"), some
# path parameters are not typed in the route (PATCH …/disclosures/import is read as a record id:
# 422, not 405), and CORS answers OPTIONS with its own Allow.
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "missing_required_header",
)
# The stream never ends; revoking tokens and changing users would take away the run's own
# admin token (tests/api/test_staff_openapi.py runs those over ASGI).
EXCLUDED = r"^/v1/staff/(alerts/stream|tokens/.*|users/[^/]+(/deactivate)?)$"


def _schemathesis(base: str, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{base}/openapi.json",
            *("--checks", ",".join(CHECKS)),
            *("--max-examples", str(MAX_EXAMPLES), "--seed", "15", "--workers", "1"),
            *("--phases", "examples,coverage,fuzzing"),
            *("--exclude-path-regex", EXCLUDED),
            *("--report-dir", str(tmp_path)),
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
        cwd=tmp_path,  # its own caches (.schemathesis/) stay out of the checkout
    )


@pytest.mark.integration
@pytest.mark.parametrize("as_admin", [False, True], ids=["anonymous", "admin"])
def test_schemathesis_against_the_running_api(
    role_urls: dict[str, str],
    db: psycopg.Connection,
    world: World,
    tmp_path: Path,
    as_admin: bool,
) -> None:
    settings = ApiSettings(
        database_url=role_urls["api"],
        api_host="127.0.0.1",
        api_port=_free_port(),
        api_rate_limit_per_minute=0,
    )
    if as_admin:
        token = staff_headers(db, "wang.admin", "admin")["Authorization"]
        options = ("--header", f"Authorization: {token}")
    else:
        options = ("--include-path-regex", "^/v1/staff/")
    with running_api(settings) as base:
        run = _schemathesis(base, tmp_path, *options)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
