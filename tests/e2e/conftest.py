"""The real server for end-to-end tests, and a PostgreSQL database of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from authbridge.storage.database import engine_url
from tests.e2e.server import AuthbridgeServer

PG_ENV = "AUTHBRIDGE_TEST_DATABASE_URL"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthbridgeServer]:
    """`authbridge serve` on its embedded default (a SQLite file in a fresh directory)."""
    with AuthbridgeServer(tmp_path_factory.mktemp("serve")) as running:
        yield running


@contextmanager
def _new_postgres_database() -> Iterator[str]:
    """An empty PostgreSQL database of its own, dropped at the end (skips without one)."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    name = f"authbridge_e2e_{uuid.uuid4().hex[:12]}"
    admin = create_engine(engine_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def e2e_postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database created for one test and dropped after it."""
    with _new_postgres_database() as url:
        yield url


@pytest.fixture(scope="module")
def e2e_postgres_module_url() -> Iterator[str]:
    """An empty PostgreSQL database shared by one module's tests (a cluster's fixture)."""
    with _new_postgres_database() as url:
        yield url


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path
