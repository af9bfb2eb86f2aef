"""The authorization endpoint against the OpenID Foundation Basic OP plan's rules
(redirect URI variants, prompt=none, nonce, scopes) and RFC 6749 §4.1.2.1 error routing."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from authbridge.provider.pkce import s256
from authbridge.provider.secrets import digest
from tests.provider.conftest import ISSUER, RP_CALLBACK, location_params
from tests.web.test_pages import csrf, sign_in, sign_up

VARIANTS = json.loads(
    (Path(__file__).parents[1] / "data" / "provider" / "redirect_uri_variants.json").read_text()
)
VERIFIER = "x" * 50


def authorize_url(**overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "client_id": "webapp",
        "redirect_uri": RP_CALLBACK,
        "response_type": "code",
        "scope": "openid email",
        "state": "af0ifjsldkj",
        "nonce": "n-0S6_WzA2Mj",
        "code_challenge": s256(VERIFIER),
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return "/oauth2/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


@pytest.mark.parametrize("uri", VARIANTS["refused"])
def test_unregistered_redirect_uri_variants_show_an_error_page(browser: TestClient, uri) -> None:
    response = browser.get(
        authorize_url(redirect_uri=uri), follow_redirects=False, headers={"accept": "text/html"}
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri is not registered" in response.text
    assert uri.split("//")[1] not in response.text.split("redirect_uri")[0][-200:]


def test_unknown_client_and_missing_redirect_uri_are_never_redirected(browser: TestClient) -> None:
    for url in (
        authorize_url(client_id="nobody"),
        authorize_url(client_id=None),
        authorize_url(redirect_uri=None),
    ):
        response = browser.get(url, follow_redirects=False)
        assert response.status_code == 400 and "location" not in response.headers


def test_registered_uri_with_query_keeps_its_query(browser: TestClient) -> None:
    response = browser.get(
        authorize_url(redirect_uri="https://rp.example/cb?tenant=a"), follow_redirects=False
    )
    location = response.headers["location"]
    assert location.startswith("https://rp.example/cb?tenant=a&")
    assert dict(parse_qsl(urlsplit(location).query))["tenant"] == "a"


def test_errors_after_redirect_validation_go_to_the_client_with_iss(browser: TestClient) -> None:
    response = browser.get(authorize_url(response_type="token"), follow_redirects=False)
    assert response.status_code == 302
    params = location_params(response)
    assert params == {
        "error": "unsupported_response_type",
        "state": "af0ifjsldkj",
        "iss": ISSUER,
        "error_description": params["error_description"],
    }


def test_missing_response_type_is_named(browser: TestClient) -> None:
    params = location_params(browser.get(authorize_url(response_type=None), follow_redirects=False))
    assert params["error"] == "invalid_request" and "response_type" in params["error_description"]


def test_repeated_parameter_is_refused(browser: TestClient) -> None:
    response = browser.get(authorize_url() + "&scope=openid", follow_redirects=False)
    params = location_params(response)
    assert params["error"] == "invalid_request" and "scope" in params["error_description"]


def test_unknown_parameters_and_scopes_are_ignored(browser: TestClient, op: TestClient) -> None:
    response = browser.get(
        authorize_url(scope="openid email frobnicate", foo="bar"), follow_redirects=False
    )
    params = location_params(response)
    assert "code" in params
    token = op.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": params["code"],
            "redirect_uri": RP_CALLBACK,
            "code_verifier": VERIFIER,
            "client_id": "webapp",
            "client_secret": "s3cret-of-the-confidential-client-0123456789",
        },
    )
    assert token.json()["scope"] == "openid email"


def test_prompt_none_without_session_is_login_required(op: TestClient) -> None:
    params = location_params(op.get(authorize_url(prompt="none"), follow_redirects=False))
    assert params["error"] == "login_required" and params["state"] == "af0ifjsldkj"


def test_prompt_none_with_session_issues_a_code(browser: TestClient) -> None:
    assert "code" in location_params(
        browser.get(authorize_url(prompt="none"), follow_redirects=False)
    )


def test_not_signed_in_goes_to_login_and_comes_back(op: TestClient) -> None:
    from tests.web.test_pages import sign_up

    sign_up(op)
    op.cookies.clear()
    response = op.get(authorize_url(), follow_redirects=False)
    assert response.status_code == 303
    login = response.headers["location"]
    assert login.startswith("/login?next=%2Foauth2%2Fauthorize")
    page = op.get(login)
    next_url = dict(parse_qsl(urlsplit(login).query))["next"]
    signed = op.post(
        "/login",
        data={
            "username": "ada@example.com",
            "password": "correct horse battery staple",
            "csrf_token": csrf(page.text),
            "next": next_url,
        },
        follow_redirects=False,
    )
    assert signed.headers["location"] == next_url
    back = op.get(next_url, follow_redirects=False)
    assert "code" in location_params(back)


def test_prompt_login_forces_a_fresh_sign_in_once(browser: TestClient) -> None:
    response = browser.get(authorize_url(prompt="login"), follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=")
    assert browser.get("/account", follow_redirects=False).status_code == 303  # signed out
    next_url = dict(parse_qsl(urlsplit(response.headers["location"]).query))["next"]
    page = browser.get("/login")
    browser.post(
        "/login",
        data={
            "username": "ada@example.com",
            "password": "correct horse battery staple",
            "csrf_token": csrf(page.text),
            "next": next_url,
        },
        follow_redirects=False,
    )
    assert "code" in location_params(browser.get(next_url, follow_redirects=False))


def test_forged_reauth_marker_does_not_skip_prompt_login(browser: TestClient) -> None:
    response = browser.get(authorize_url(prompt="login") + "&_reauth=1", follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=")


def _marker_and_sign_in(browser: TestClient, **params: str) -> str:
    """Start a prompt=login/max_age=0 request, sign in again, return the URL to go back to."""
    response = browser.get(authorize_url(**params), follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=")
    next_url = dict(parse_qsl(urlsplit(response.headers["location"]).query))["next"]
    assert "_reauth=" in next_url
    signed = browser.post(
        "/login",
        data={
            "username": "ada@example.com",
            "password": "correct horse battery staple",
            "csrf_token": csrf(browser.get("/login").text),
            "next": next_url,
        },
        follow_redirects=False,
    )
    assert signed.headers["location"] == next_url
    return next_url


def test_reauth_marker_counts_once(browser: TestClient) -> None:
    next_url = _marker_and_sign_in(browser, prompt="login")
    assert "code" in location_params(browser.get(next_url, follow_redirects=False))
    again = browser.get(next_url, follow_redirects=False)  # the same marker, replayed
    assert again.status_code == 303 and again.headers["location"].startswith("/login?next=")


def test_one_users_marker_does_not_spare_another_user_the_sign_in(browser: TestClient) -> None:
    # Ada is sent to sign in again; her marker is in the URL (history, logs, Referer).
    response = browser.get(authorize_url(max_age="0"), follow_redirects=False)
    ada_next = dict(parse_qsl(urlsplit(response.headers["location"]).query))["next"]
    # Bob, in his own browser, signed in after it was issued, presents Ada's marker.
    browser.cookies.clear()
    assert sign_up(browser, email="bob@example.com").status_code == 303
    replayed = browser.get(ada_next, follow_redirects=False)
    assert replayed.status_code == 303
    assert replayed.headers["location"].startswith("/login?next=")


def test_a_marker_bound_to_another_request_does_not_count(browser: TestClient) -> None:
    next_url = _marker_and_sign_in(browser, prompt="login")
    other = next_url.replace("state=af0ifjsldkj", "state=other")
    assert other != next_url
    response = browser.get(other, follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=")


def test_an_old_marker_does_not_count(browser: TestClient, monkeypatch) -> None:
    from datetime import timedelta

    from authbridge.clock import utcnow
    from authbridge.web import oauth_routes

    next_url = _marker_and_sign_in(browser, prompt="login")
    later = utcnow() + timedelta(hours=1)  # far past any reasonable time to sign in
    monkeypatch.setattr(oauth_routes, "utcnow", lambda: later)
    response = browser.get(next_url, follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=")


def test_max_age_zero_needs_reauthentication(browser: TestClient) -> None:
    response = browser.get(authorize_url(max_age="0"), follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=")
    bad = location_params(browser.get(authorize_url(max_age="-1"), follow_redirects=False))
    assert bad["error"] == "invalid_request"


def test_public_client_needs_s256_and_plain_is_refused(browser: TestClient) -> None:
    base = {"client_id": "spa", "redirect_uri": "https://spa.example/"}
    missing = location_params(
        browser.get(
            authorize_url(**base, code_challenge=None, code_challenge_method=None),
            follow_redirects=False,
        )
    )
    assert (
        missing["error"] == "invalid_request" and "code_challenge" in missing["error_description"]
    )
    plain = location_params(
        browser.get(
            authorize_url(**base, code_challenge=VERIFIER, code_challenge_method="plain"),
            follow_redirects=False,
        )
    )
    assert plain["error"] == "invalid_request" and "S256" in plain["error_description"]


def _keys(op: TestClient) -> KeySet:
    return KeySet.import_key_set(op.get("/.well-known/jwks.json").json())


def test_implicit_id_token_token_in_fragment_with_hashes(browser: TestClient) -> None:
    response = browser.get(
        authorize_url(
            client_id="spa",
            redirect_uri="https://spa.example/",
            response_type="id_token token",
            code_challenge=None,
            code_challenge_method=None,
        ),
        follow_redirects=False,
    )
    location = response.headers["location"]
    assert location.startswith("https://spa.example/#")
    params = location_params(response)
    claims = jwt.decode(params["id_token"], _keys(browser)).claims
    from authbridge.tokens.issuer import half_hash

    assert claims["nonce"] == "n-0S6_WzA2Mj" and claims["at_hash"] == half_hash(
        params["access_token"]
    )
    assert params["token_type"] == "Bearer" and params["iss"] == ISSUER


def test_implicit_needs_nonce_and_never_uses_query(browser: TestClient) -> None:
    base = {
        "client_id": "spa",
        "redirect_uri": "https://spa.example/",
        "response_type": "id_token",
        "code_challenge": None,
        "code_challenge_method": None,
    }
    no_nonce = browser.get(authorize_url(**base, nonce=None), follow_redirects=False)
    assert no_nonce.headers["location"].startswith("https://spa.example/#")
    assert location_params(no_nonce)["error"] == "invalid_request"
    query = browser.get(authorize_url(**base, response_mode="query"), follow_redirects=False)
    assert location_params(query)["error"] == "invalid_request"


def test_implicit_refused_for_a_code_only_client(browser: TestClient) -> None:
    params = location_params(
        browser.get(authorize_url(response_type="id_token"), follow_redirects=False)
    )
    assert params["error"] == "unauthorized_client"


def test_form_post_posts_the_response_with_a_script_file(browser: TestClient) -> None:
    response = browser.get(authorize_url(response_mode="form_post"), follow_redirects=False)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert f'action="{RP_CALLBACK}"' in response.text
    assert re.search(r'name="code" value="[\w-]{40,}"', response.text)
    assert 'name="iss" value="http://localhost:8080"' in response.text
    assert '<script src="/oauth2/form_post.js"></script>' in response.text
    # The strict CSP stays in force (scripts from our origin only, nothing inline), so the
    # auto-submit must be the script file above and the page must carry no inline script.
    policy = [d.strip() for d in response.headers["content-security-policy"].split(";")]
    assert "default-src 'self'" in policy
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert re.findall(r"<script\b[^>]*>", response.text) == ['<script src="/oauth2/form_post.js">']
    assert browser.get("/oauth2/form_post.js").status_code == 200


def test_id_token_hint_of_another_user_with_prompt_none(browser: TestClient, op) -> None:
    from authbridge.tokens.claims import Principal

    issuer = op.app.state.services.ready().issuer
    other = issuer.id_token(
        Principal(subject="someone-else", username="x"), client_id="webapp", auth_time=0
    ).token
    params = location_params(
        browser.get(authorize_url(prompt="none", id_token_hint=other), follow_redirects=False)
    )
    assert params["error"] == "login_required"
    forged = location_params(
        browser.get(authorize_url(id_token_hint="e30.e30.sig"), follow_redirects=False)
    )
    assert forged["error"] == "invalid_request"


def test_codes_are_stored_only_as_digests(browser: TestClient, op: TestClient) -> None:
    code = location_params(browser.get(authorize_url(), follow_redirects=False))["code"]
    from sqlalchemy import text

    db = op.app.state.services.ready().storage.db
    with db.session() as session:
        stored = [row[0] for row in session.execute(text("SELECT code_hash FROM oauth_codes"))]
    assert stored == [digest(code)]


def test_sign_in_helper_still_works(op: TestClient) -> None:
    from tests.web.test_pages import sign_up

    sign_up(op)
    op.cookies.clear()
    assert sign_in(op).status_code == 303


def test_login_hint_prefills_the_login_page(op: TestClient) -> None:
    response = op.get(authorize_url(login_hint="grace@example.com"), follow_redirects=False)
    login = response.headers["location"]
    assert "login_hint=grace%40example.com" in login
    assert 'value="grace@example.com"' in op.get(login).text


def test_allowed_connectors_force_another_sign_in(app_factory, sqlite_url) -> None:
    from authbridge.config.model import ClientSettings
    from tests.conftest import make_settings
    from tests.provider.conftest import CLIENTS
    from tests.web.test_pages import sign_up

    clients = {
        **CLIENTS,
        "okta-only": ClientSettings(
            secret="x" * 40, redirect_uris=[RP_CALLBACK], allowed_connectors=["okta"]
        ),
    }
    op = app_factory(make_settings(sqlite_url).model_copy(update={"clients": clients}))
    sign_up(op)  # a local (password) session
    response = op.get(authorize_url(client_id="okta-only"), follow_redirects=False)
    assert response.headers["location"].startswith("/login?next=")
    params = location_params(
        op.get(authorize_url(client_id="okta-only", prompt="none"), follow_redirects=False)
    )
    assert params.get("error") == "login_required"


def test_cors_preflight_for_browser_apps(op: TestClient) -> None:
    response = op.options(
        "/oauth2/token",
        headers={"origin": "https://spa.example", "access-control-request-method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"


def test_request_objects_are_refused_by_name(browser: TestClient) -> None:
    for name, error in (
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
        ("registration", "registration_not_supported"),
    ):
        params = location_params(
            browser.get(authorize_url(**{name: "eyJ"}), follow_redirects=False)
        )
        assert params["error"] == error


def test_authorization_request_by_post(browser: TestClient) -> None:
    """OIDC Core §3.1.2.1: the endpoint supports POST with form serialization."""
    query = authorize_url().split("?", 1)[1]
    response = browser.post(
        "/oauth2/authorize",
        content=query,
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert response.status_code == 302 and "code" in location_params(response)
