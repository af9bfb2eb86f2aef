"""GitHub (OAuth 2.0 + REST API) through the app, against recorded API payloads on loopback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.connectors.conftest import Handler, StaticIdp
from tests.connectors.diagnostics import explained
from tests.connectors.oidc_fakes import form
from tests.connectors.upstream import APP, land, query, start
from tests.web.conftest import AppFactory

RECORDED: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "connectors" / "github.json").read_text()
)


@pytest.fixture
def github(static_idp: StaticIdp) -> StaticIdp:
    def token(handler: Handler) -> tuple[int, Any]:
        fields = form(handler)
        if fields.get("client_secret") != "gh-secret":
            return 200, {"error": "incorrect_client_credentials"}
        if fields.get("code") != "gh-code" or not fields.get("code_verifier"):
            return 200, {"error": "bad_verification_code"}
        return 200, {"access_token": "gho_token", "token_type": "bearer", "scope": "read:user"}

    static_idp.routes["/login/oauth/access_token"] = token
    static_idp.routes["/user"] = RECORDED["user"]
    static_idp.routes["/user/emails"] = RECORDED["emails"]
    static_idp.routes["/user/orgs"] = RECORDED["orgs"]
    static_idp.routes["/user/teams"] = RECORDED["teams"]
    return static_idp


def app_for(github: StaticIdp, app_factory: AppFactory, **extra: str) -> TestClient:
    return app_factory(
        AUTH__GITHUB__ENABLED="true",
        AUTH__GITHUB__CLIENT_ID="gh-client",
        AUTH__GITHUB__CLIENT_SECRET=extra.pop("secret", "gh-secret"),
        AUTH__GITHUB__BASE_URL=github.url,
        AUTH__GITHUB__API_URL=github.url,
        **extra,
    )


def github_login(app: TestClient, code: str = "gh-code") -> Any:
    params = query(start(app, "github"))
    assert params["redirect_uri"] == APP + "/v1/oauth/callback/"
    assert params["code_challenge_method"] == "S256"
    return land(app, f"{APP}/v1/oauth/callback/?code={code}&state={params['state']}")


def test_github_login_uses_numeric_id_verified_primary_email_and_org_teams(
    github: StaticIdp, app_factory: AppFactory
) -> None:
    app = app_for(github, app_factory)
    assert "Log in with GitHub" in app.get("/login").text
    assert github_login(app).status_code == 303
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    user = ready.storage.users.by_identity("github", "583231")
    assert user is not None
    # The public profile email is unverified; the verified primary one is used.
    assert user.email == "octocat@users.noreply.github.com" and user.email_verified
    assert ready.storage.users.teams(user.id) == ["github", "github:justice-league", "octo-side"]


def test_github_app_registered_for_dex_signs_in_through_dex_callback(
    github: StaticIdp, app_factory: AppFactory
) -> None:
    # A Pachyderm `type: github` upstreamIDP keeps its OAuth app's callback URL.
    app = app_for(github, app_factory, AUTH__GITHUB__REDIRECT_URI=APP + "/dex/callback")
    params = query(start(app, "github"))
    assert params["redirect_uri"] == APP + "/dex/callback"
    response = land(app, f"{APP}/dex/callback?code=gh-code&state={params['state']}")
    assert response.status_code == 303, response.text


def test_allowed_organizations(github: StaticIdp, app_factory: AppFactory) -> None:
    app = app_for(github, app_factory, AUTH__GITHUB__ALLOWED_ORGANIZATIONS='["github"]')
    assert github_login(app).status_code == 303
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    user = ready.storage.users.by_identity("github", "583231")
    assert user is not None
    assert ready.storage.users.teams(user.id) == ["github", "github:justice-league"]
    other = app_for(github, app_factory, AUTH__GITHUB__ALLOWED_ORGANIZATIONS='["acme"]')
    response = github_login(other)
    assert response.status_code == 400 and "allowed organisation" in response.text


def test_github_errors_are_explained(
    github: StaticIdp, app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = app_for(github, app_factory, secret="nope")
    response = github_login(wrong)
    assert response.status_code == 400 and "clientSecret" in explained(capsys, response)
    app = app_for(github, app_factory)
    response = github_login(app, code="stale")
    assert response.status_code == 400 and "try again" in response.text
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    assert ready.storage.users.count() == 0
