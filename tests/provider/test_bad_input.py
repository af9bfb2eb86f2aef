"""Bad input never yields a 500 or a traceback: a clear 4xx with the RFC's error code."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.provider.test_token import BASIC

TOKEN_BODIES = [
    b"grant_type=authorization_code&code=%FF%FE&redirect_uri=x",
    b"\xff\xfe\xfd",
    b"grant_type=refresh_token&refresh_token=" + b"A" * 5000,
    b"grant_type=refresh_token&refresh_token=a&refresh_token=b",
    b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=",
    b"grant_type=client_credentials&scope=" + b"x " * 2000,
    b"=&&==&grant_type",
]


@pytest.mark.parametrize("body", TOKEN_BODIES)
def test_token_endpoint_bad_bodies(op: TestClient, body: bytes) -> None:
    response = op.post(
        "/oauth2/token",
        content=body,
        headers={"authorization": BASIC, "content-type": "application/x-www-form-urlencoded"},
    )
    assert 400 <= response.status_code < 500
    assert response.json()["error"] in {
        "invalid_request",
        "invalid_grant",
        "unsupported_grant_type",
        "unauthorized_client",
    }


def test_oversized_body_is_refused(op: TestClient) -> None:
    response = op.post(
        "/oauth2/token",
        content=b"a=" + b"b" * 70000,
        headers={"authorization": BASIC, "content-type": "application/x-www-form-urlencoded"},
    )
    # Refused while it streams (web/limits.py), as RFC 9110 §15.5.14 Content Too Large.
    assert response.status_code == 413


@pytest.mark.parametrize(
    "query",
    [
        "client_id=webapp&redirect_uri=%FF",
        "client_id=%00&redirect_uri=https://rp.example/callback",
        "client_id=webapp&redirect_uri=https://rp.example/callback&response_type=code&nonce=a%00b",
        "client_id=" + "a" * 5000,
        "client_id=webapp&client_id=spa&redirect_uri=https://rp.example/callback",
        "client_id=webapp&redirect_uri=https://rp.example/callback&response_type=code"
        "&code_challenge=" + "a" * 300 + "&code_challenge_method=S256",
        "client_id=webapp&redirect_uri=https://rp.example/callback&response_type=code&max_age="
        + "9" * 40,
        "client_id=webapp&redirect_uri=https://rp.example/callback&response_type=code"
        "&id_token_hint=" + "e" * 9000,
    ],
)
def test_authorize_bad_queries(browser: TestClient, query: str) -> None:
    response = browser.get("/oauth2/authorize?" + query, follow_redirects=False)
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "error=" in response.headers["location"]


@pytest.mark.parametrize(
    "path",
    ["/oauth2/revoke", "/oauth2/introspect", "/oauth2/device_authorization", "/oauth2/userinfo"],
)
def test_other_endpoints_with_garbage(op: TestClient, path: str) -> None:
    response = op.post(
        path,
        content=b"\xff\x00token=",
        headers={"content-type": "application/x-www-form-urlencoded", "authorization": "Basic %%%"},
    )
    assert 400 <= response.status_code < 500


def test_nul_in_client_id_at_the_token_endpoint(op: TestClient) -> None:
    response = op.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "x"},
    )
    assert response.status_code == 401


def test_logout_with_garbage_hint(op: TestClient) -> None:
    response = op.get("/oauth2/logout?id_token_hint=a.b.c&post_logout_redirect_uri=x")
    assert response.status_code == 400
