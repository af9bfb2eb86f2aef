"""The code flow against a real OpenID provider (oidc-provider-mock) on loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from oidc_provider_mock import User, run_server_in_thread

from tests.connectors.diagnostics import explained
from tests.connectors.upstream import APP, approve_at_mock, land, query, start
from tests.web.conftest import AppFactory
from tests.wiring import system_roles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

USERS = [
    User(
        sub="ada",
        claims={
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada Lovelace",
            "groups": ["data-eng", "admins-ish"],
        },
    ),
    User(sub="bob", claims={"email": "bob@example.com", "email_verified": "false"}),
]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread(require_nonce=True, user_claims=USERS) as server:
        yield f"http://localhost:{server.server_port}"


def register(issuer: str, redirect_path: str = "/v1/oauth/callback/") -> dict[str, Any]:
    response = httpx.post(
        f"{issuer}/oauth2/clients",
        json={"redirect_uris": [APP + redirect_path]},
        trust_env=False,
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


def env_for(issuer: str, client: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "AUTH__OPENID_CONNECT__FLOW": "code",
        "AUTH__OPENID_CONNECT__CORP__ENABLED": "true",
        "AUTH__OPENID_CONNECT__CORP__CLIENT_ID": client["client_id"],
        "AUTH__OPENID_CONNECT__CORP__CLIENT_SECRET": client["client_secret"],
        "AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL": issuer,
        "AUTH__OPENID_CONNECT__CORP__DISPLAY_NAME": "Corp SSO",
        "AUTH__OPENID_CONNECT__CORP__INSECURE_ENABLE_GROUPS": "true",
        **extra,
    }


@pytest.fixture
def app(provider: str, app_factory: AppFactory) -> TestClient:
    return app_factory(**env_for(provider, register(provider)))


def login(app: TestClient, sub: str = "ada") -> httpx.Response:
    return land(app, approve_at_mock(start(app, "corp", "/account"), sub))


def test_login_page_shows_the_configured_button_and_no_mock(app: TestClient) -> None:
    page = app.get("/login").text
    assert "Log in with Corp SSO" in page
    assert "/v1/oauth/start?provider=corp" in page
    assert "Mock IdP" not in page
    assert app.get("/v1/oauth/mock/authorize?state=x").status_code == 404


def test_authorization_request_is_code_with_pkce_state_and_nonce(app: TestClient) -> None:
    params = query(start(app, "corp"))
    assert params["response_type"] == "code"
    assert params["redirect_uri"] == APP + "/v1/oauth/callback/"
    assert params["code_challenge_method"] == "S256" and len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert set(params["scope"].split()) >= {"openid", "email", "profile"}


def test_code_flow_signs_in_with_email_name_and_groups(app: TestClient) -> None:
    response = login(app)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account"
    page = app.get("/account")
    assert "ada@example.com" in page.text
    assert "data-eng" in page.text and "admins-ish" in page.text
    token = re.search(r'<textarea id="token"[^>]*>([\w.-]+)</textarea>', page.text)
    assert token is not None


def test_second_login_finds_the_same_account(app: TestClient) -> None:
    login(app)
    first = app.get("/account").text
    app.cookies.clear()
    login(app)
    assert app.get("/account").text.count("ada@example.com") == first.count("ada@example.com")
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    assert ready.storage.users.count() == 1


def test_state_cannot_be_replayed(app: TestClient) -> None:
    location = approve_at_mock(start(app, "corp"), "ada")
    assert land(app, location).status_code == 303
    again = land(app, location)
    assert again.status_code == 400
    assert "already completed" in again.text


def test_state_is_bound_to_the_browser_that_started(
    app: TestClient, app_factory: AppFactory
) -> None:
    location = approve_at_mock(start(app, "corp"), "ada")
    app.cookies.clear()  # another browser: the attacker's link opened by a victim
    response = land(app, location)
    assert response.status_code == 400 and "another browser" in response.text


def test_access_denied_ends_on_a_clear_page(app: TestClient) -> None:
    location = approve_at_mock(start(app, "corp"), "ada", deny=True)
    assert query(location)["error"] == "access_denied"
    response = land(app, location)
    assert response.status_code == 400
    assert "cancelled or refused" in response.text
    assert app.get("/account", follow_redirects=False).status_code == 303


def test_wrong_client_secret_is_explained(
    provider: str, app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    client = {**register(provider), "client_secret": "wrong"}
    app = app_factory(**env_for(provider, client))
    response = login(app)
    assert response.status_code == 400
    assert "clientSecret" in explained(capsys, response)
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    assert ready.storage.users.count() == 0


def test_unregistered_redirect_uri_is_refused_by_the_idp(
    provider: str, app_factory: AppFactory
) -> None:
    app = app_factory(**env_for(provider, register(provider, "/elsewhere/")))
    with httpx.Client(trust_env=False) as idp:
        response = idp.get(start(app, "corp"))
    assert response.status_code == 400


def test_email_verified_string_false_stays_unverified(
    provider: str, app_factory: AppFactory
) -> None:
    env = env_for(provider, register(provider))
    env["AUTH__OPENID_CONNECT__CORP__INSECURE_SKIP_EMAIL_VERIFIED"] = "true"
    env["AUTHORIZER__INITIAL_ADMINS"] = '["bob@example.com"]'
    app = app_factory(**env)
    assert login(app, "bob").status_code == 303
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    user = ready.storage.users.by_username("bob@example.com") or ready.storage.users.by_username(
        "bob"
    )
    assert user is not None and user.email_verified is False
    assert system_roles(ready.storage, user.id) == ["viewer"]


def test_initial_admin_with_a_verified_email_becomes_admin(
    provider: str, app_factory: AppFactory
) -> None:
    env = env_for(provider, register(provider))
    env["AUTHORIZER__INITIAL_ADMINS"] = '["ada"]'
    env["AUTHORIZER__PRINCIPAL_DOMAIN"] = "example.com"
    app = app_factory(**env)
    assert login(app).status_code == 303
    assert "admin" in app.get("/account").text


def test_principal_domain_refuses_other_domains(provider: str, app_factory: AppFactory) -> None:
    env = env_for(provider, register(provider))
    env["AUTHORIZER__PRINCIPAL_DOMAIN"] = "corp.example"
    app = app_factory(**env)
    response = login(app)
    assert response.status_code == 403 and "corp.example" in response.text
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    assert ready.storage.users.count() == 0
