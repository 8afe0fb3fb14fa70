from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from schemas.core.migrate import migrate
from sourcewatch.embedded_mqtt import aedes_command, embedded_aedes
from tests.fixtures import services

pytest_plugins = ["tests.fixtures.db"]


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    with services.postgres_server() as dsn:
        yield dsn


@pytest.fixture(scope="session")
def database_url(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh, migrated database with the reference data loaded, for this test session."""
    with services.fresh_database(pg_admin_dsn) as dsn:
        with psycopg.connect(dsn, autocommit=True) as conn:
            migrate(conn)
            from schemas.reference import load_reference_data

            load_reference_data(conn)
        yield dsn


@pytest.fixture(scope="session")
def mqtt_url() -> Iterator[str]:
    with services.mqtt_broker() as url:
        yield url


@pytest.fixture(scope="session")
def aedes_url() -> Iterator[str]:
    """The embedded default's broker where Mosquitto is not installed (Aedes on Node.js)."""
    if aedes_command() is None:
        pytest.skip("Aedes is not installed (Node.js >= 20 and npm, then make install)")
    with embedded_aedes() as url:
        yield url


@pytest.fixture(params=["mqtt_url", "aedes_url"], ids=["broker", "aedes"])
def any_broker(request: pytest.FixtureRequest) -> str:
    """The session's broker, then the embedded fallback: for behaviour both must keep."""
    return str(request.getfixturevalue(request.param))


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A folder an unprivileged server user can reach (pytest's own tmp is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="sourcewatch-data-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
