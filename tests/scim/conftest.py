"""An app with both SCIM endpoints configured, and clients holding each one's credential."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient

from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients

OKTA_USER, OKTA_PASSWORD = "okta-provisioner", "s3cret:with:colons"
ENTRA_TOKEN = "entra-0123456789abcdef"
SCIM_ENV = {
    "SCIM__OKTA__AUTH_CODE": f"{OKTA_USER}:{OKTA_PASSWORD}",
    "SCIM__MICROSOFT__AUTH_CODE": ENTRA_TOKEN,
}
BASIC = "Basic " + base64.b64encode(f"{OKTA_USER}:{OKTA_PASSWORD}".encode()).decode()
HEADERS = {
    "okta": {"Authorization": BASIC, "Content-Type": "application/scim+json"},
    "microsoft": {
        "Authorization": f"Bearer {ENTRA_TOKEN}",
        "Content-Type": "application/scim+json",
    },
}
ScimFactory = Callable[..., TestClient]


@pytest.fixture
def scim_app(database_url: str) -> Iterator[ScimFactory]:
    """Build the app on each backend (SQLite always, PostgreSQL when configured)."""

    def build(**env: str) -> TestClient:
        return start(create_app(make_settings(database_url, **{**SCIM_ENV, **env})))

    with started_clients() as start:
        yield build


@pytest.fixture
def api(scim_app: ScimFactory) -> TestClient:
    return scim_app()


def scim(client: TestClient, source: str, method: str, path: str, **kwargs: object):
    """One SCIM request to `/v1/scim/v2/<source><path>` with that source's credential."""
    headers = {**HEADERS[source], **dict(kwargs.pop("headers", {}) or {})}  # type: ignore[call-overload]
    return client.request(method, f"/v1/scim/v2/{source}{path}", headers=headers, **kwargs)  # type: ignore[arg-type]
