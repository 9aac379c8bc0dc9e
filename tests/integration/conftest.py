"""Fixtures the integration tests share: one real PostgreSQL server for the run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.integration.postgres import Postgres


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """One PostgreSQL server for the whole run (stopped and deleted at the end). A test may
    stop it (an outage); `fleet_db` starts it again for the next test."""
    server = Postgres()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def fleet_db(postgres: Postgres) -> str:
    """The URL of a fresh, empty database owned by the `onsight` user."""
    if not postgres.running:
        postgres.stop()  # forget a server that died, then bring it back
        postgres.start()
    return postgres.create_database(f"fleet_{uuid.uuid4().hex[:16]}")
