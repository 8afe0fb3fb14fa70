"""``schemathesis run …/openapi.json --checks all`` against the real API under uvicorn with the
rate limit off, as issue 15 asks, at a bounded budget (a fixed seed, a few examples per
operation): every answer is a status the operation documents, in the documented content type,
headers and shape, never a 5xx; a request the schema allows is accepted and one it forbids is
refused; an undeclared method is answered 405 with an ``Allow`` header naming the path's
methods. Run twice: anonymously over the staff routes (every one must answer 401 before it
looks at a body: before issue 15 malformed bodies got undocumented 400s), and with an admin
token over every operation.

The anonymous run skips the coverage phase, which max-examples does not bound: it sent 3166
requests (about 50 per operation, every schema boundary and malformed field of each body) that
all meet one middleware (api.auth.StaffGate) answering before the body is read; each request
is a round trip between two processes, so under load the run waited for the CPU thousands of
times (876 s at load 11-20). Fuzzing in both modes (valid and schema-violating requests),
ANON_EXAMPLES per operation, fixed by the seed, keeps a malformed body on every staff route;
the anonymous TRACE/OPTIONS answers are tests/api/test_schema_conformance.py's, and the admin
run keeps the coverage phase (every boundary, the undeclared methods) over every operation.

The operations whose schema-valid requests can still be refused by a rule OpenAPI cannot state
(two parameters together, a value that must exist in the database, an upload's contents) are
listed with that rule in ``schemathesis.toml`` beside this file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx2
import psycopg
import pytest

from api.settings import ApiSettings
from tests.api.conftest import World, _free_port, running_api
from tests.fixtures.processes import run_guarded
from tests.fixtures.staff import staff_headers

MAX_EXAMPLES = 3
ANON_EXAMPLES = 8
CONFIG = Path(__file__).with_name("schemathesis.toml")  # the rules OpenAPI cannot state
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# `all` enables max_response_time too (10 s by default); response times are measured in bench/,
# never asserted in a test (and this machine is shared), so its limit is above the request
# timeout: a request that slow is already an error of the run.
REQUEST_TIMEOUT_S = 60
# The stream never ends; revoking tokens and changing users would take away the run's own
# admin token (tests/api/test_staff_openapi.py runs those over ASGI).
EXCLUDED = r"^/v1/staff/(alerts/stream|tokens/.*|users/[^/]+(/deactivate)?)$"


def _schemathesis(base: str, tmp_path: Path, *options: str) -> subprocess.CompletedProcess[str]:
    # under a hang guard (no output nor CPU for 120 s, above the request timeout: a request that
    # slow is already an error of the run), not a fixed total
    return run_guarded(
        [
            str(SCHEMATHESIS),
            *("--config-file", str(CONFIG)),
            "run",
            f"{base}/openapi.json",
            *("--checks", "all", "--max-response-time", str(REQUEST_TIMEOUT_S + 1)),
            *("--seed", "15", "--workers", "1"),
            *("--request-timeout", str(REQUEST_TIMEOUT_S)),
            *("--exclude-path-regex", EXCLUDED),
            *("--report-dir", str(tmp_path)),
            *options,
        ],
        env={**os.environ, "NO_COLOR": "1"},
        cwd=tmp_path,  # its own caches (.schemathesis/) stay out of the checkout
        wait_s=3600,  # the admin run: 80 s idle, its coverage phase over 107 operations
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
        options: tuple[str, ...] = ("--header", f"Authorization: {token}")
        options += ("--max-examples", str(MAX_EXAMPLES), "--phases", "examples,coverage,fuzzing")
    else:
        options = ("--include-path-regex", "^/v1/staff/", "--max-examples", str(ANON_EXAMPLES))
        options += ("--phases", "examples,fuzzing")
    with running_api(settings) as base:
        # built on first request (seconds on a loaded machine): not inside schemathesis' timeout
        httpx2.get(f"{base}/openapi.json", timeout=300).raise_for_status()
        run = _schemathesis(base, tmp_path, *options)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-3000:]
