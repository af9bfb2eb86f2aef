"""A database error that came with the loss of its connection is an outage (503 with
Retry-After), whatever its class: PostgreSQL ending a session idle in a transaction
(SQLSTATE 25P03) raises an InternalError. Any other database error stays a 500."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError, InternalError

from authbridge.web.errors import install


def _app(error: Exception) -> TestClient:
    app = FastAPI()
    install(app)

    @app.get("/x")
    def fail() -> None:
        raise error

    return TestClient(app, raise_server_exceptions=False)


def _ended(invalidated: bool) -> InternalError:
    orig = Exception("terminating connection due to idle-in-transaction timeout")
    return InternalError("SELECT 1", {}, orig, connection_invalidated=invalidated)


def test_an_error_that_lost_its_connection_is_a_503() -> None:
    response = _app(_ended(True)).get("/x", headers={"accept": "application/json"})
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()


@pytest.mark.parametrize(
    "error",
    [
        _ended(False),
        IntegrityError("INSERT", {}, Exception("duplicate key"), connection_invalidated=False),
    ],
)
def test_other_database_errors_stay_500(error: Exception) -> None:
    assert _app(error).get("/x").status_code == 500
