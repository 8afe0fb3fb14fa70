from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from schemas.migrate import migrate
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
