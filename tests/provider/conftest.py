"""The app with registered OAuth clients, a signed-in browser, and an independent OAuth
client (Authlib's httpx OAuth2Client) talking to the app through the same transport."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from authlib.integrations.httpx_client import OAuth2Client
from fastapi.testclient import TestClient

from authbridge.config import Settings
from authbridge.config.model import ClientSettings
from tests.conftest import make_settings, started_clients
from tests.web.conftest import AppFactory
from tests.web.test_pages import sign_up

ISSUER = "http://localhost:8080"
RP_CALLBACK = "https://rp.example/callback"
SECRET = "s3cret-of-the-confidential-client-0123456789"

CLIENTS = {
    "webapp": ClientSettings(
        name="Web app",
        secret=SECRET,
        redirect_uris=[RP_CALLBACK, "https://rp.example/cb?tenant=a"],
        post_logout_redirect_uris=["https://rp.example/bye"],
        grant_types=["authorization_code", "refresh_token"],
    ),
    "spa": ClientSettings(
        name="Single-page app",
        public=True,
        redirect_uris=["https://spa.example/"],
        grant_types=["authorization_code", "implicit", "refresh_token"],
    ),
    "native": ClientSettings(
        name="Native app",
        public=True,
        redirect_uris=["http://127.0.0.1/callback"],
        grant_types=[
            "authorization_code",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
        ],
    ),
}


@pytest.fixture
def app_factory(sqlite_url: str) -> Iterator[AppFactory]:
    """The app on a TestClient with its lifespan (as tests/web/conftest.py builds it)."""
    from authbridge.web.app import create_app

    def build(settings: Settings | None = None, **env: str) -> TestClient:
        app = create_app(settings or make_settings(sqlite_url, **env))
        return start(app, base_url=ISSUER)

    with started_clients() as start:
        yield build


@pytest.fixture
def op(app_factory: AppFactory, database_url: str) -> TestClient:
    """The app with the test clients, on SQLite and (when configured) on PostgreSQL."""
    settings = make_settings(database_url).model_copy(update={"clients": CLIENTS})
    return app_factory(settings)


@pytest.fixture
def browser(op: TestClient) -> TestClient:
    """The user's browser, signed in (the first account; not an admin)."""
    assert sign_up(op).status_code == 303
    return op


@pytest.fixture
def rp(op: TestClient) -> Callable[..., OAuth2Client]:
    """An independent OAuth client library, pointed at the app's in-process transport."""

    def build(client_id: str = "webapp", **kwargs: Any) -> OAuth2Client:
        return OAuth2Client(
            client_id=client_id,
            base_url=ISSUER,
            transport=op._transport,
            **kwargs,
        )

    return build


def location_params(response: Any) -> dict[str, str]:
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(response.headers["location"])
    return dict(parse_qsl(parts.fragment or parts.query))
