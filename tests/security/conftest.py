"""The app on a TestClient that answers like production: an unhandled exception becomes the
500 page (raise_server_exceptions=False), so a test sees the status a browser would see."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from authbridge.config import Settings
from authbridge.web.app import create_app
from tests.conftest import LOCAL, make_settings, started_clients

AppFactory = Callable[..., TestClient]


@pytest.fixture
def app_factory(sqlite_url: str) -> Iterator[AppFactory]:
    def build(settings: Settings | None = None, **env: str) -> TestClient:
        app = create_app(settings or make_settings(sqlite_url, **env))
        return start(app, raise_server_exceptions=False)

    with started_clients() as start:
        yield build


@pytest.fixture
def client(app_factory: AppFactory) -> TestClient:
    return app_factory()


@pytest.fixture
def any_backend_client(database_url: str) -> Iterator[TestClient]:
    """The app on SQLite, and on PostgreSQL when AUTHBRIDGE_TEST_DATABASE_URL is set."""
    client = TestClient(
        create_app(make_settings(database_url)),
        base_url="http://localhost:8080",
        raise_server_exceptions=False,
        client=LOCAL,
    )
    with client:
        yield client
