"""An app on Starlette's TestClient, started with its lifespan (storage, keys, setup link)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from authbridge.config import Settings
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients

AppFactory = Callable[..., TestClient]


@pytest.fixture
def app_factory(sqlite_url: str) -> Iterator[AppFactory]:
    def build(settings: Settings | None = None, **env: str) -> TestClient:
        return start(create_app(settings or make_settings(sqlite_url, **env)))

    with started_clients() as start:
        yield build


@pytest.fixture
def client(app_factory: AppFactory) -> TestClient:
    return app_factory()
