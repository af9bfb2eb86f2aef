"""Authorization code + PKCE, driven by Authlib's client (RFC 6749 §4.1, RFC 7636)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.provider.conftest import ISSUER, RP_CALLBACK, SECRET, location_params


def _keys(op: TestClient) -> KeySet:
    return KeySet.import_key_set(op.get("/.well-known/jwks.json").json())


def test_code_flow_with_pkce_end_to_end(op: TestClient, browser: TestClient, rp) -> None:
    session = rp(
        "webapp",
        client_secret=SECRET,
        redirect_uri=RP_CALLBACK,
        scope="openid profile email",
        code_challenge_method="S256",
    )
    verifier = "v" * 64
    url, state = session.create_authorization_url(
        ISSUER + "/oauth2/authorize", code_verifier=verifier, nonce="n-0S6_WzA2Mj"
    )
    response = browser.get(url, follow_redirects=False)
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(RP_CALLBACK + "?")
    params = location_params(response)
    assert params["state"] == state and params["iss"] == ISSUER  # RFC 9207
    token = session.fetch_token(
        ISSUER + "/oauth2/token", authorization_response=location, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer" and token["refresh_token"]
    decoded = jwt.decode(token["id_token"], _keys(op))
    assert decoded.claims["nonce"] == "n-0S6_WzA2Mj"
    assert decoded.claims["aud"] == "webapp" and decoded.claims["iss"] == ISSUER
    access = jwt.decode(token["access_token"], _keys(op))
    assert access.header["typ"] == "at+jwt" and access.claims["client_id"] == "webapp"
    info = session.get(ISSUER + "/oauth2/userinfo")
    assert info.status_code == 200
    assert info.json()["email"] == "ada@example.com"
    assert info.json()["sub"] == decoded.claims["sub"]
    refreshed = session.refresh_token(ISSUER + "/oauth2/token")
    assert refreshed["access_token"] != token["access_token"]
    assert refreshed["refresh_token"] != token["refresh_token"]
