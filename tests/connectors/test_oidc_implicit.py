"""Implicit and hybrid responses against the certified npm `oidc-provider` on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.connectors.diagnostics import explained
from tests.connectors.node_provider import _form, node_provider, sign_in_at_provider
from tests.connectors.upstream import APP, query, start
from tests.web.conftest import AppFactory

REDIRECT = APP + "/v1/oauth/redirect/"
CLIENT: dict[str, Any] = {
    "client_id": "authbridge",
    "client_secret": "a-long-enough-client-secret-for-hs-algs",
    "application_type": "native",  # lets the redirect URI be http://localhost
    "redirect_uris": [REDIRECT],
    "response_types": ["id_token token", "code id_token", "id_token"],
    "grant_types": ["implicit", "authorization_code"],
    "token_endpoint_auth_method": "client_secret_basic",
}


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with node_provider([CLIENT], tmp_path_factory.mktemp("op")) as url:
        yield url


def env(issuer: str, **extra: str) -> dict[str, str]:
    return {
        "AUTH__OPENID_CONNECT__FLOW": "implicit",
        "AUTH__OPENID_CONNECT__OKTA__ENABLED": "true",
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_ID": CLIENT["client_id"],
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET": CLIENT["client_secret"],
        "AUTH__OPENID_CONNECT__OKTA__DISCOVERY_URL": issuer + "/.well-known/openid-configuration",
        "AUTH__OPENID_CONNECT__OKTA__SCOPES": '["openid", "profile", "email", "groups"]',
        **extra,
    }


def deliver(app: TestClient, answer: httpx.Response) -> httpx.Response:
    """What the browser does with the provider's answer, our relay page included."""
    location = answer.headers.get("location")
    if location is None:  # form_post: the provider's page posts the fields to us
        action, fields = _form(answer.text)
        assert action == REDIRECT
        return app.post("/v1/oauth/redirect/", data=fields, follow_redirects=False)
    parts = urlsplit(location)
    assert parts.path == "/v1/oauth/redirect/"
    if parts.query:
        return app.get(f"{parts.path}?{parts.query}", follow_redirects=False)
    relay = app.get(parts.path)  # the fragment stays in the browser...
    assert 'src="/static/oauth-redirect.js"' in relay.text and 'id="oauth-relay"' in relay.text
    fields = dict(parse_qsl(parts.fragment))  # ...and our script posts it
    return app.post(
        "/v1/oauth/redirect/", data={**fields, "authbridge_relayed": "1"}, follow_redirects=False
    )


def test_implicit_id_token_token_with_form_post(issuer: str, app_factory: AppFactory) -> None:
    app = app_factory(**env(issuer))
    authorize = start(app, "okta", "/account")
    params = query(authorize)
    assert params["response_type"] == "id_token token"
    assert params["response_mode"] == "form_post"
    assert params["redirect_uri"] == REDIRECT
    assert "code_challenge" not in params
    answer = sign_in_at_provider(authorize, "ada", APP)
    response = deliver(app, answer)
    assert response.status_code == 303, response.text
    page = app.get("/account").text
    # email and groups come from userinfo (the ID token carries only sub with a token).
    assert "ada@example.com" in page and "team-ada" in page


def test_implicit_through_the_fragment_relay(issuer: str, app_factory: AppFactory) -> None:
    app = app_factory(
        **env(issuer, AUTH__OPENID_CONNECT__OKTA__AUTH_URL_PARAMS__RESPONSE_MODE="fragment")
    )
    authorize = start(app, "okta")
    assert query(authorize)["response_mode"] == "fragment"
    answer = sign_in_at_provider(authorize, "bob", APP)
    assert "#" in answer.headers["location"]
    response = deliver(app, answer)
    assert response.status_code == 303, response.text
    assert "bob@example.com" in app.get("/account").text


def test_hybrid_code_id_token(issuer: str, app_factory: AppFactory) -> None:
    app = app_factory(
        **env(issuer, AUTH__OPENID_CONNECT__OKTA__AUTH_URL_PARAMS__RESPONSE_TYPE="code id_token")
    )
    authorize = start(app, "okta")
    params = query(authorize)
    assert params["response_type"] == "code id_token" and params["code_challenge_method"] == "S256"
    response = deliver(app, sign_in_at_provider(authorize, "cy", APP))
    assert response.status_code == 303, response.text
    assert "cy@example.com" in app.get("/account").text


def test_form_post_from_another_site_is_relayed_then_accepted(
    issuer: str, app_factory: AppFactory
) -> None:
    app = app_factory(**env(issuer))
    authorize = start(app, "okta")
    answer = sign_in_at_provider(authorize, "dee", APP)
    _, fields = _form(answer.text)
    binding = dict(app.cookies)
    app.cookies.clear()  # a cross-site POST: the SameSite=Lax cookie is not sent
    relay = app.post("/v1/oauth/redirect/", data=fields, follow_redirects=False)
    assert relay.status_code == 200 and 'data-autosubmit="1"' in relay.text
    relayed = dict(_form(relay.text)[1])
    for name, value in binding.items():
        app.cookies.set(name, value)  # the same-origin re-post carries it
    response = app.post("/v1/oauth/redirect/", data=relayed, follow_redirects=False)
    assert response.status_code == 303, response.text


def test_a_tampered_access_token_fails_at_hash(
    issuer: str, app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = app_factory(**env(issuer))
    _, fields = _form(sign_in_at_provider(start(app, "okta"), "eve", APP).text)
    fields["access_token"] = fields["access_token"][:-2] + "xx"
    response = app.post("/v1/oauth/redirect/", data=fields, follow_redirects=False)
    assert response.status_code == 400 and "at_hash" in explained(capsys, response)
    ready = app.app.state.services.ready()  # type: ignore[attr-defined]
    assert ready.storage.users.count() == 0


def test_rfc9207_iss_parameter_from_another_idp_is_refused(
    issuer: str, app_factory: AppFactory
) -> None:
    app = app_factory(**env(issuer))
    _, fields = _form(sign_in_at_provider(start(app, "okta"), "mal", APP).text)
    fields["iss"] = "https://evil.example"  # a mix-up: another IdP's answer
    response = app.post("/v1/oauth/redirect/", data=fields, follow_redirects=False)
    assert response.status_code == 400 and "expected identity provider" in response.text


def test_redirect_page_without_an_answer_explains(issuer: str, app_factory: AppFactory) -> None:
    app = app_factory(**env(issuer))
    page = app.get("/v1/oauth/redirect/")
    # No inline script: the CSP (default-src 'self') would block it.
    assert page.status_code == 200 and "<script>" not in page.text
    assert "unsafe-inline" not in page.headers["content-security-policy"]


def test_login_required_from_the_idp_is_explained(
    issuer: str, app_factory: AppFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    app = app_factory(**env(issuer, AUTH__OPENID_CONNECT__OKTA__AUTH_URL_PARAMS__PROMPT="none"))
    authorize = start(app, "okta")
    with httpx.Client(trust_env=False) as browser:
        answer = browser.get(authorize)  # no session at the IdP: it answers at once
    _, fields = _form(answer.text)
    assert fields["error"] == "login_required" and fields["state"] == query(authorize)["state"]
    response = app.post("/v1/oauth/redirect/", data=fields, follow_redirects=False)
    assert response.status_code == 400
    assert "sign in again" in response.text and "prompt" in explained(capsys, response)
