"""OpenMetadata's `authentication.callbackUrl` registers OpenMetadata as a client of
authbridge's OpenID Provider: the seed file as written (secrets mounted as files) lets
OpenMetadata's server complete a code flow at its callback (RFC 6749 §4.1), and only there
(§3.1.2.3: a redirect URI must match a registered one)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from authbridge.config import load_settings
from tests.conftest import with_cheap_hashing
from tests.provider.conftest import ISSUER, location_params
from tests.web.conftest import AppFactory
from tests.web.test_pages import sign_up

SEED = Path(__file__).parent.parent / "data" / "seeds" / "openmetadata" / "okta-confidential.yaml"
CALLBACK = "http://localhost:8585/callback"  # the seed's callbackUrl


def _app(app_factory: AppFactory, sqlite_url: str, tmp_path: Path) -> TestClient:
    secret = tmp_path / "oidc-secrets"
    secret.mkdir()
    (secret / "openmetadata-oidc-client-id").write_text("0oa1om\n")
    (secret / "openmetadata-oidc-client-secret").write_text("om-secret\n")
    env = {"AUTHBRIDGE_SECRETS_DIR": str(tmp_path), "DATABASE__URL": sqlite_url}
    return app_factory(with_cheap_hashing(load_settings(SEED, env)))


def test_openmetadata_completes_a_code_flow_at_its_callback_url(
    app_factory: AppFactory, sqlite_url: str, tmp_path: Path
) -> None:
    from authlib.integrations.httpx_client import OAuth2Client

    op = _app(app_factory, sqlite_url, tmp_path)
    assert sign_up(op, "ada@open-metadata.org").status_code == 303  # principalDomain
    openmetadata = OAuth2Client(
        client_id="0oa1om",
        client_secret="om-secret",
        redirect_uri=CALLBACK,
        scope="openid profile email",
        code_challenge_method="S256",
        base_url=ISSUER,
        transport=op._transport,
    )
    verifier = "v" * 64
    url, state = openmetadata.create_authorization_url(
        ISSUER + "/oauth2/authorize", code_verifier=verifier, nonce="om-nonce"
    )
    response = op.get(url, follow_redirects=False)
    assert response.status_code == 302, response.text
    assert response.headers["location"].startswith(CALLBACK + "?")
    assert location_params(response)["state"] == state
    token = openmetadata.fetch_token(
        ISSUER + "/oauth2/token",
        authorization_response=response.headers["location"],
        code_verifier=verifier,
    )
    assert token["token_type"] == "Bearer" and token["id_token"]


def test_another_redirect_uri_is_refused_without_a_redirect(
    app_factory: AppFactory, sqlite_url: str, tmp_path: Path
) -> None:
    op = _app(app_factory, sqlite_url, tmp_path)
    assert sign_up(op, "ada@open-metadata.org").status_code == 303
    response = op.get(
        "/oauth2/authorize",
        params={
            "client_id": "0oa1om",
            "redirect_uri": "http://localhost:8585/elsewhere",
            "response_type": "code",
            "scope": "openid",
            "state": "s",
        },
        follow_redirects=False,
    )
    # RFC 6749 §4.1.2.1: MUST NOT redirect to an unregistered URI.
    assert response.status_code == 400 and "location" not in response.headers
