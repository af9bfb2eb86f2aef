"""Invitations accepted by an IdP login that proves the invited email (oidc-provider-mock on
loopback), never by one whose email is unverified; `signup: invite-only` refuses anyone
uninvited with a page that says so."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from oidc_provider_mock import User, run_server_in_thread

from tests.connectors.test_oidc_code_flow import env_for, register
from tests.connectors.upstream import approve_at_mock, land, start
from tests.web.api.conftest import Api
from tests.web.conftest import AppFactory

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

USERS = [
    User(sub="ada", claims={"email": "ada@example.com", "email_verified": True}),
    User(sub="bob", claims={"email": "bob@example.com", "email_verified": False}),
    User(sub="cy", claims={"email": "cy@example.com", "email_verified": True}),
]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread(require_nonce=True, user_claims=USERS) as server:
        yield f"http://localhost:{server.server_port}"


def app_with(provider: str, app_factory: AppFactory, signup: str) -> Api:
    env = env_for(provider, register(provider), AUTH__OPENID_CONNECT__CORP__SIGNUP=signup)
    return Api(app_factory(**env))


def login(client: TestClient, sub: str) -> httpx.Response:
    return land(client, approve_at_mock(start(client, "corp", "/account"), sub))


def refused(api: Api, sub: str) -> httpx.Response:
    """A browser's login as `sub` that authbridge refuses: the page (403) it shows."""
    location = approve_at_mock(start(api.client, "corp", "/account"), sub)
    response = api.client.get(
        location.removeprefix("http://localhost:8080"),
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert response.status_code == 403, response.text
    return response


def invite(api: Api, email: str) -> dict:
    created = api.post(
        "/api/v1/invitations",
        json={"email": email, "teams": ["analysts"], "roleBindings": [{"role": "editor"}]},
    )
    assert created.status_code == 201, created.text
    body: dict = created.json()
    return body


@pytest.mark.parametrize("signup", ["open", "invite-only"])
def test_a_verified_login_accepts_the_invitation(
    provider: str, app_factory: AppFactory, signup: str
) -> None:
    api = app_with(provider, app_factory, signup)
    body = invite(api, "ada@example.com")
    # The invitation page offers the IdP (and never the mock, which proves no email).
    page = api.client.get(body["link"].removeprefix("http://localhost:8080"))
    assert "Log in with Corp SSO" in page.text
    response = login(api.client, "ada")
    assert response.status_code == 303, response.text
    user = api.ready.storage.users.by_username("ada@example.com")
    assert user is not None
    assert [t.name for t in api.ready.membership.teams_of(user.id)] == ["analysts"]
    assert "editor" in api.ready.bindings.effective_roles(user.id).system
    status = api.get(f"/api/v1/invitations/{body['id']}").json()
    assert status["status"] == "accepted" and status["acceptedBy"] == user.id


def test_an_unverified_email_never_accepts_an_invitation(
    provider: str, app_factory: AppFactory
) -> None:
    api = app_with(provider, app_factory, "invite-only")
    body = invite(api, "bob@example.com")
    response = refused(api, "bob")
    assert "admits only invited people" in response.text
    assert api.ready.storage.users.by_username("bob@example.com") is None
    assert api.get(f"/api/v1/invitations/{body['id']}").json()["status"] == "pending"


def test_invite_only_refuses_the_uninvited(provider: str, app_factory: AppFactory) -> None:
    api = app_with(provider, app_factory, "invite-only")
    response = refused(api, "cy")
    assert "invitation" in response.text
    assert api.ready.storage.users.by_username("cy@example.com") is None


def test_a_revoked_invitation_admits_no_one(provider: str, app_factory: AppFactory) -> None:
    api = app_with(provider, app_factory, "invite-only")
    body = invite(api, "cy@example.com")
    assert api.delete(f"/api/v1/invitations/{body['id']}").status_code == 204
    assert login(api.client, "cy").status_code == 403
    assert api.ready.storage.users.by_username("cy@example.com") is None


def test_open_signup_without_an_invitation_still_works(
    provider: str, app_factory: AppFactory
) -> None:
    api = app_with(provider, app_factory, "open")
    assert login(api.client, "cy").status_code == 303
