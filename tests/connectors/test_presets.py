"""Presets and Dex options, against recorded IdP payloads served on loopback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from authbridge.connectors.errors import LoginFailed
from authbridge.connectors.oidc import OidcConnector, email_verified
from authbridge.connectors.presets import (
    CognitoConnector,
    GoogleConnector,
    MicrosoftConnector,
)
from authbridge.connectors.registry import build_connectors
from tests.conftest import make_settings
from tests.connectors.conftest import Handler, StaticIdp
from tests.connectors.forge import Signer
from tests.connectors.oidc_fakes import CLIENT, LOGIN, connector, serve_provider, token_endpoint
from tests.connectors.upstream import query

DATA = Path(__file__).parents[1] / "data" / "connectors"


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


@pytest.fixture
def signer(static_idp: StaticIdp) -> Signer:
    signer = Signer(static_idp.url, CLIENT)
    serve_provider(static_idp, signer)
    return signer


def code_login(conn: OidcConnector) -> Any:
    return conn.handle_callback(LOGIN, {"code": "code-1", "state": LOGIN.state})


@pytest.mark.parametrize(
    ("value", "skip", "expected"),
    [
        (None, True, True),
        (None, False, False),
        (True, False, True),
        (False, True, False),
        ("true", False, True),
        ("false", True, False),  # Dex's trap: a present string "false" is not "missing"
        ("False", True, False),
        (1, True, False),
    ],
)
def test_email_verified_rules(value: object, skip: bool, expected: bool) -> None:
    assert email_verified(value, skip_verification=skip) is expected


def test_microsoft_keys_users_by_tid_and_oid_and_reads_overage_groups_from_graph(
    static_idp: StaticIdp, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = load("microsoft-id-token-overage.json")
    # Entra ID tokens have no email_verified claim (the forge's default is dropped).
    claims = {**recorded["claims"], "aud": CLIENT, "email_verified": None}
    static_idp.routes["/token"] = token_endpoint(signer, claims)
    static_idp.routes["/userinfo"] = {"sub": claims["sub"]}
    oid = claims["oid"]
    seen: list[str] = []

    def graph(handler: Handler) -> tuple[int, Any]:
        seen.append(handler.headers.get("authorization", ""))
        return 200, recorded["graph_member_objects"]

    static_idp.routes[f"/graph/v1.0/users/{oid}/getMemberObjects"] = graph
    monkeypatch.setattr(MicrosoftConnector, "graph_url", static_idp.url + "/graph")
    identity = code_login(connector(MicrosoftConnector, static_idp))
    assert identity.subject == f"{claims['tid']}:{oid}"
    assert identity.groups == tuple(recorded["graph_member_objects"]["value"])
    assert seen == ["Bearer app-token"]  # the app's own client-credentials token
    # Entra does not verify `email`: never trusted for linking unless verified.
    assert identity.email == "abeli@microsoft.com" and identity.email_verified is False


def test_microsoft_graph_failure_refuses_rather_than_dropping_groups(
    static_idp: StaticIdp, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims = {**load("microsoft-id-token-overage.json")["claims"], "aud": CLIENT}
    static_idp.routes["/token"] = token_endpoint(signer, claims)
    static_idp.routes["/userinfo"] = {"sub": claims["sub"]}
    monkeypatch.setattr(MicrosoftConnector, "graph_url", static_idp.url + "/no-graph")
    with pytest.raises(LoginFailed) as info:
        code_login(connector(MicrosoftConnector, static_idp))
    assert info.value.code == "groups_unavailable"


def test_microsoft_without_tid_oid_is_refused(static_idp: StaticIdp, signer: Signer) -> None:
    static_idp.routes["/token"] = token_endpoint(signer, {"groups": ["g1"]})
    static_idp.routes["/userinfo"] = {"sub": "user-1"}
    with pytest.raises(LoginFailed):
        code_login(connector(MicrosoftConnector, static_idp))


def cognito_access_token(signer: Signer, sub: str, **overrides: Any) -> str:
    """A user-pool access token as Cognito issues it to our app client (no `aud`)."""
    now = int(time.time())
    claims = {
        **load("cognito-access-token.json")["claims"],
        "iss": signer.issuer,
        "client_id": CLIENT,
        "sub": sub,
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }
    return signer.sign({k: v for k, v in claims.items() if v is not None})


def test_cognito_token_response_takes_the_profile_from_userinfo(
    static_idp: StaticIdp, signer: Signer
) -> None:
    userinfo = load("cognito-userinfo.json")["userinfo"]
    static_idp.routes["/userinfo"] = userinfo
    token = cognito_access_token(signer, userinfo["sub"])
    cognito = connector(
        CognitoConnector, static_idp, flow="implicit", auth_url_params={"response_type": "token"}
    )
    params = query(cognito.authorization_url(LOGIN))
    assert params["response_type"] == "token" and "nonce" in params
    identity = cognito.handle_callback(
        LOGIN, {"access_token": token, "token_type": "Bearer", "state": LOGIN.state}
    )
    assert identity.subject == "248289761001" and identity.username == "janedoe"
    assert identity.email_verified is True  # the string "true"
    static_idp.routes["/userinfo"] = {**userinfo, "email_verified": "false"}
    identity = cognito.handle_callback(LOGIN, {"access_token": token, "state": LOGIN.state})
    assert identity.email_verified is False


@pytest.mark.parametrize("cls", [OidcConnector, CognitoConnector])
def test_username_never_falls_back_to_an_unverified_email(
    static_idp: StaticIdp, cls: type[OidcConnector]
) -> None:
    """OIDC Core §5.7: an unverified `email` is whatever the user typed at the IdP."""
    oidc = connector(cls, static_idp)
    claims = {"sub": "s-1", "email": "ceo@example.com", "email_verified": "false"}
    assert oidc.identity(claims, None).username == "s-1"
    verified = oidc.identity({**claims, "email_verified": True}, None)
    assert verified.username == "ceo@example.com"


def test_google_hosted_domain(static_idp: StaticIdp, signer: Signer) -> None:
    static_idp.routes["/userinfo"] = {"sub": "user-1"}
    google = connector(GoogleConnector, static_idp, allowed_domains=["example.com"])
    assert query(google.authorization_url(LOGIN))["hd"] == "example.com"
    static_idp.routes["/token"] = token_endpoint(signer, {"hd": "example.com"})
    assert code_login(google).email == "ada@example.com"
    static_idp.routes["/token"] = token_endpoint(signer, {"hd": "gmail.com"})
    with pytest.raises(LoginFailed, match="organisation"):
        code_login(google)
    static_idp.routes["/token"] = token_endpoint(signer, {})
    with pytest.raises(LoginFailed):
        code_login(google)


def test_groups_need_insecure_enable_groups_and_follow_claims_mapping(
    static_idp: StaticIdp, signer: Signer
) -> None:
    static_idp.routes["/token"] = token_endpoint(signer, {"roles": ["r1", "r2"], "groups": ["g"]})
    static_idp.routes["/userinfo"] = {"sub": "user-1"}
    assert code_login(connector(OidcConnector, static_idp)).groups == ()
    enabled = connector(OidcConnector, static_idp, insecure_enable_groups=True)
    assert code_login(enabled).groups == ("g",)
    mapped = connector(
        OidcConnector, static_idp, insecure_enable_groups=True, claims_mapping={"groups": "roles"}
    )
    assert code_login(mapped).groups == ("r1", "r2")


def test_userinfo_for_another_subject_is_refused(static_idp: StaticIdp, signer: Signer) -> None:
    static_idp.routes["/token"] = token_endpoint(signer, {})
    static_idp.routes["/userinfo"] = {"sub": "someone-else", "email": "boss@example.com"}
    with pytest.raises(LoginFailed, match="inconsistent"):
        code_login(connector(OidcConnector, static_idp))


def test_code_flow_sends_pkce_verifier_and_basic_client_auth(
    static_idp: StaticIdp, signer: Signer
) -> None:
    seen: dict[str, Any] = {}
    inner = token_endpoint(signer, {})

    def token(handler: Handler) -> tuple[int, Any]:
        seen["authorization"] = handler.headers.get("authorization")
        return inner(handler)

    static_idp.routes["/token"] = token
    static_idp.routes["/userinfo"] = {"sub": "user-1"}
    conn = connector(OidcConnector, static_idp, client_secret="s3cr:t/+")
    assert code_login(conn).subject == "user-1"
    assert str(seen["authorization"]).startswith("Basic ")


def test_auth_url_params_are_added_but_cannot_replace_protocol_values(
    static_idp: StaticIdp, signer: Signer
) -> None:
    conn = connector(
        OidcConnector,
        static_idp,
        auth_url_params={"audience": "astronomer-ee", "state": "forced", "redirect_uri": "x"},
    )
    params = query(conn.authorization_url(LOGIN))
    assert params["audience"] == "astronomer-ee"
    assert params["state"] == LOGIN.state and params["redirect_uri"] == LOGIN.redirect_uri


def test_seed_environment_builds_the_custom_button(sqlite_url: str) -> None:
    settings = make_settings(
        sqlite_url,
        AUTH__OPENID_CONNECT__CUSTOM__ENABLED="true",
        AUTH__OPENID_CONNECT__CUSTOM__CLIENT_ID="cid",
        AUTH__OPENID_CONNECT__CUSTOM__CLIENT_SECRET="secret",
        AUTH__OPENID_CONNECT__CUSTOM__DISCOVERY_URL="https://idp.example.com",
        AUTH__OPENID_CONNECT__CUSTOM__AUTH_URL_PARAMS__AUDIENCE="aud",
        AUTH__OPENID_CONNECT__CUSTOM__DISPLAY_NAME="Custom OAuth",
        AUTH__OPENID_CONNECT__FLOW="code",
        AUTH__OPENID_CONNECT__OKTA__ENABLED="false",
    )
    connectors = build_connectors(settings, env={})
    assert [(c.id, c.display_name) for c in connectors.ordered] == [("custom", "Custom OAuth")]
    assert not connectors.mock_enabled
    assert build_connectors(make_settings(sqlite_url), env={}).mock_enabled
