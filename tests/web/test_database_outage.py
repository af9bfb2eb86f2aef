"""No free database connection within database.poolTimeout is an outage: 503 with
Retry-After on every route (SCIM as an RFC 7644 §3.12 error), never a 500 or a queue."""

from __future__ import annotations

import inspect
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

from authbridge.web import ops
from tests.web.conftest import AppFactory

SCIM_AUTH = ("okta", "secret")


@pytest.fixture
def exhausted(app_factory: AppFactory) -> Iterator[TestClient]:
    client = app_factory(
        DATABASE__POOL_SIZE="1", DATABASE__POOL_TIMEOUT="0.5", SCIM__OKTA__AUTH_CODE="okta:secret"
    )
    with every_connection_held(client.app.state.services.ready().storage.db.engine):  # type: ignore[attr-defined]
        yield client


@contextmanager
def every_connection_held(engine: Engine, connections: int = 2) -> Iterator[None]:
    """Holds `connections` (pool_size + max_overflow) so none is free: an outage."""
    held: list[Connection] = [engine.connect() for _ in range(connections)]
    try:
        yield
    finally:
        for connection in held:
            connection.close()


def test_scim_answers_503_with_retry_after_when_the_pool_is_exhausted(
    exhausted: TestClient,
) -> None:
    started = time.monotonic()
    response = exhausted.get("/v1/scim/v2/okta/Users", auth=SCIM_AUTH)
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/scim+json"
    assert response.headers["retry-after"].isdigit()
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert body["status"] == "503"


def test_pages_answer_503_with_retry_after_when_the_pool_is_exhausted(
    exhausted: TestClient,
) -> None:
    exhausted.cookies.set("authbridge_session", "x" * 43)  # looked up in the database
    response = exhausted.get("/account", follow_redirects=False)
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()


def test_healthz_runs_on_the_event_loop_not_in_the_thread_pool(exhausted: TestClient) -> None:
    # A sync route would run in the worker-thread pool, behind every request a partition
    # holds there (tests/e2e/test_partition.py shows it live under load).
    assert inspect.iscoroutinefunction(ops.healthz)
    assert exhausted.get("/healthz").status_code == 200
