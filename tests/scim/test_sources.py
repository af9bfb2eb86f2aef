"""Each source's SCIM service is built once: at start-up when the source has a credential
then, otherwise at the first request that passed authentication (scim/sources.py), so a
service that provisions nothing never loads scim2-models (`tests/test_imports.py`)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from authbridge.scim import service as scim_service
from authbridge.storage.errors import Unavailable
from authbridge.web.app import create_app
from authbridge.web.services import Services
from tests.conftest import make_settings, started_clients
from tests.scim.conftest import SCIM_ENV
from tests.web.api.conftest import Api

USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "ada@example.com",
}


@pytest.fixture
def unconfigured(sqlite_url: str) -> Iterator[Api]:
    """No SCIM credential anywhere at start-up."""
    with started_clients() as start:
        yield Api(start(create_app(make_settings(sqlite_url))))


def test_a_source_with_a_credential_is_built_at_start_up(sqlite_url: str) -> None:
    okta_only = {"SCIM__OKTA__AUTH_CODE": SCIM_ENV["SCIM__OKTA__AUTH_CODE"]}
    with started_clients() as start:
        api = Api(start(create_app(make_settings(sqlite_url, **okta_only))))
        assert api.ready.scim.built == {"okta"}


def test_a_credential_issued_later_provisions_on_its_first_request(unconfigured: Api) -> None:
    api = unconfigured
    assert api.ready.scim.built == frozenset()
    issued = api.post("/api/v1/scim/sources/okta/credentials", json={}).json()
    basic = base64.b64encode(f"{issued['username']}:{issued['password']}".encode()).decode()
    created = api.client.post(
        "/v1/scim/v2/okta/Users",
        json=USER,
        headers={"authorization": f"Basic {basic}", "content-type": "application/scim+json"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["userName"] == USER["userName"]
    assert api.ready.scim.built == {"okta"}
    # The same service answers every later request of that source.
    service = api.ready.scim["okta"]
    assert api.ready.scim["okta"] is service


def test_a_request_without_a_credential_builds_nothing(unconfigured: Api) -> None:
    api = unconfigured
    refused = api.client.get("/v1/scim/v2/microsoft/Users", headers={"authorization": "Bearer x"})
    assert refused.status_code == 401
    assert api.ready.scim.built == frozenset()


def test_a_configured_source_that_cannot_be_built_fails_the_start(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("scim2-models is not what this release expects")

    monkeypatch.setattr(scim_service.ScimService, "__init__", broken)
    services = Services(make_settings(sqlite_url, **SCIM_ENV))
    try:
        with pytest.raises(Unavailable):
            services.start(wait=True)
    finally:
        services.stop()
    # Without a SCIM credential nothing is built at start-up, so the same install starts.
    quiet = Services(make_settings(sqlite_url))
    try:
        quiet.start(wait=True)
        assert quiet.ready().scim.built == frozenset()
    finally:
        quiet.stop()
