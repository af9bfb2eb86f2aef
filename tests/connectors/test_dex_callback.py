"""The Pachyderm seed's `oidc.upstreamIDPs` signs a person in through `/dex/callback`.

The seed file is loaded as written, with only its IdP values pointed at a real OpenID
provider on loopback (oidc-provider-mock), whose client is registered with the
Pachyderm-style redirect URI `<host>/dex/callback`, as the seed tells Okta admins to do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from oidc_provider_mock import User, run_server_in_thread

from authbridge.config import load_settings
from authbridge.connectors.errors import LoginFailed
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.registry import build_connectors
from authbridge.web.app import create_app
from tests.conftest import started_clients, with_cheap_hashing
from tests.connectors.diagnostics import explained
from tests.connectors.node_provider import node_provider, sign_in_at_provider
from tests.connectors.upstream import APP, approve_at_mock, land, query, start

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SEED = Path(__file__).parent.parent / "data" / "seeds" / "pachyderm" / "okta-upstream-idps.yaml"
SEED_ISSUER = "https://trial-1839456.okta.com"  # the seed writes it with a trailing slash
SEED_SECRET = "VNwbzOBltNcaotD2CU5iRyTuqOPpwLR-RC16ai7wakta95W00p7X5HYkEgS_5UWH"
Seeded = Callable[..., TestClient]
USERS = [User(sub="ada", claims={"email": "ada@example.com", "email_verified": False})]


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread(require_nonce=True, user_claims=USERS) as server:
        yield f"http://localhost:{server.server_port}"


def _register(issuer: str) -> dict[str, Any]:
    response = httpx.post(
        f"{issuer}/oauth2/clients",
        json={"redirect_uris": [APP + "/dex/callback"]},
        trust_env=False,
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def seeded(provider: str, sqlite_url: str, tmp_path: Path) -> Iterator[Seeded]:
    """Builds an app from the seed file: `build(issuer)` makes the file say `issuer` (the
    mock's client), `build(issuer, client)` uses another provider's registered client."""
    registered = _register(provider)

    def build(issuer: str, client: dict[str, Any] | None = None) -> TestClient:
        client = client or registered
        text = (
            SEED.read_text()
            .replace("0oa74mh2scJf29qOD697", client["client_id"])
            .replace(SEED_SECRET, client["client_secret"])
            .replace("https://console.pachdemo.com", APP)
            .replace(SEED_ISSUER + "/", issuer)
        )
        path = tmp_path / "values.yaml"
        path.write_text(text)
        settings = load_settings(path, {"DATABASE__URL": sqlite_url})
        return start_app(create_app(with_cheap_hashing(settings)))

    with started_clients() as start_app:
        yield build


def test_seed_signs_in_through_dex_callback(
    provider: str, seeded: Callable[[str], TestClient]
) -> None:
    app = seeded(provider)
    authorize = start(app, "okta", "/account")
    # The authorization request carries exactly the URI registered at the IdP.
    assert query(authorize)["redirect_uri"] == APP + "/dex/callback"
    landing = approve_at_mock(authorize, "ada")
    assert landing.startswith(APP + "/dex/callback?")
    response = land(app, landing)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/account"
    # insecureSkipEmailVerified: the unverified address is taken, as Dex does.
    assert "ada@example.com" in app.get("/account").text


def test_seed_signs_in_at_the_certified_provider(seeded: Seeded, tmp_path: Path) -> None:
    # panva/oidc-provider (OpenID Certified) checks the redirect URI and PKCE as Okta does.
    client = {
        "client_id": "pachyderm",
        "client_secret": "a-long-enough-client-secret-for-hs-algs",
        "application_type": "native",  # lets the redirect URI be http://localhost
        "redirect_uris": [APP + "/dex/callback"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    with node_provider([client], tmp_path) as issuer:
        app = seeded(issuer, client)
        answer = sign_in_at_provider(start(app, "okta", "/account"), "ada", APP)
        assert answer.headers["location"].startswith(APP + "/dex/callback?")
        response = land(app, answer.headers["location"])
        assert response.status_code == 303, response.text
        assert "ada@example.com" in app.get("/account").text


def test_redirect_uri_on_another_host_than_the_issuer_is_explained(
    sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The seed as written: its redirectURI is on console.pachdemo.com, the issuer is not.
    settings = load_settings(SEED, {"DATABASE__URL": sqlite_url})
    with started_clients() as start_app:
        app = start_app(create_app(with_cheap_hashing(settings)))
        response = app.get("/v1/oauth/start?provider=okta", follow_redirects=False)
    told = explained(capsys, response)
    assert response.status_code == 503
    assert "redirectUri https://console.pachdemo.com/dex/callback is not under" in told
    assert "server.issuer http://localhost:8080" in told


def test_v1_callback_does_not_complete_a_dex_login(
    provider: str, seeded: Callable[[str], TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    app = seeded(provider)
    landing = approve_at_mock(start(app, "okta"), "ada")
    path_and_query = landing.removeprefix(APP).replace("/dex/callback", "/v1/oauth/callback/")
    response = app.get(path_and_query, follow_redirects=False)
    assert response.status_code == 400
    assert "answered at the wrong URL" in explained(capsys, response)


def test_seed_issuer_with_a_trailing_slash_says_which_way(
    provider: str, seeded: Callable[[str], TestClient], capsys: pytest.CaptureFixture[str]
) -> None:
    # The seed's CrashLoopBackOff case: the file says `<issuer>/`, the IdP says `<issuer>`.
    app = seeded(provider + "/")
    response = app.get("/v1/oauth/start?provider=okta", follow_redirects=False)
    told = explained(capsys, response)
    assert response.status_code >= 400
    assert f"expected '{provider}/', the provider says '{provider}'" in told
    assert "differ only by a trailing slash" in told


def _dex_connector(tmp_path: Path, config: dict[str, Any]) -> OidcConnector:
    entry = {"type": "oidc", "id": "corp", "config": {"issuer": "https://idp.example", **config}}
    path = tmp_path / "values.json"
    path.write_text(json.dumps({"oidc": {"upstreamIDPs": [entry]}}))
    connector = build_connectors(load_settings(path, {}), {}).get("corp")
    assert isinstance(connector, OidcConnector)
    return connector


def test_dex_claim_keys_choose_the_claims_read(tmp_path: Path) -> None:
    connector = _dex_connector(
        tmp_path,
        {
            "clientID": "c",
            "userIDKey": "employee_id",
            "userNameKey": "display",
            "insecureEnableGroups": True,
            "claimMapping": {"preferred_username": "login", "email": "mail", "groups": "roles"},
        },
    )
    claims = {
        "sub": "opaque",
        "employee_id": "E123",
        "display": "Ada L.",
        "name": "not this",
        "login": "ada-l",
        "mail": "ada@example.com",
        "email_verified": True,
        "roles": ["eng"],
    }
    identity = connector.identity(claims, None)
    assert identity.subject == "E123"
    assert identity.name == "Ada L."
    assert identity.username == "ada-l"
    assert identity.email == "ada@example.com" and identity.email_verified
    assert identity.groups == ("eng",)


def test_missing_user_id_claim_is_a_clear_sign_in_failure(tmp_path: Path) -> None:
    connector = _dex_connector(tmp_path, {"clientID": "c", "userIDKey": "employee_id"})
    with pytest.raises(LoginFailed) as caught:
        connector.identity({"sub": "x"}, None)
    assert caught.value.code == "no_identity"
    assert "'employee_id'" in (caught.value.hint or "")
