"""Red team: what a browser session is still worth after the configuration changes under it."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from authbridge.web.app import create_app
from tests.conftest import LOCAL, make_settings
from tests.security.test_flows import finish_mock, start_mock
from tests.web.test_pages import csrf, sign_in

UPSTREAM = {
    "AUTH__OPENID_CONNECT__OKTA__ENABLED": "true",
    "AUTH__OPENID_CONNECT__OKTA__CLIENT_ID": "c",
    "AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET": "s",
    "AUTH__OPENID_CONNECT__OKTA__DISCOVERY_URL": "http://127.0.0.1:9/.well-known/openid-configuration",
}


def _client(url: str, **env: str) -> TestClient:
    return TestClient(
        create_app(make_settings(url, **env)),
        base_url="http://localhost:8080",
        raise_server_exceptions=False,
        client=LOCAL,
    )


def test_mock_idp_sessions_end_when_the_mock_is_turned_off(tmp_path: Path) -> None:
    """The out-of-the-box service signs in whoever is typed. When the operator then points it
    at Okta, "the mock turns itself off" — but a session opened with it keeps working, and
    /account keeps minting platform access tokens for the typed identity."""
    url = f"sqlite:///{tmp_path / 'authbridge.db'}"
    with _client(url) as trial:
        state, token = start_mock(trial)
        assert finish_mock(trial, state, token, "ceo@example.com").status_code == 303
        cookie = trial.cookies.get("authbridge_session")
    assert cookie
    with _client(url, **UPSTREAM) as production:
        assert production.get("/v1/oauth/mock/authorize").status_code == 404
        production.cookies.set("authbridge_session", cookie)
        account = production.get("/account", follow_redirects=False)
        assert account.status_code == 303 and account.headers["location"] == "/login"


def test_idp_created_account_has_no_password_to_guess(client: TestClient) -> None:
    state, token = start_mock(client)
    assert finish_mock(client, state, token, "mo@example.com").status_code == 303
    client.cookies.clear()
    for guess in ("", " ", "None", "null", "mo@example.com"):
        assert sign_in(client, "mo@example.com", guess).status_code in (400, 401)


def test_sign_out_of_an_idp_session_kills_the_copied_cookie(client: TestClient) -> None:
    state, token = start_mock(client)
    finish_mock(client, state, token)
    cookie = client.cookies.get("authbridge_session")
    page = client.get("/account")
    client.post("/logout", data={"csrf_token": csrf(page.text)}, follow_redirects=False)
    client.cookies.set("authbridge_session", cookie or "")
    assert client.get("/account", follow_redirects=False).headers["location"] == "/login"
