"""A front-channel access token that identifies someone (the `token` response, Cognito's
default) must be a JWT the IdP signed for this client: RFC 6819 §4.4.2.6 token
substitution, attacked with tokens of other clients, other issuers, and forgeries."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from authbridge.connectors.accesstoken import (
    AccessTokenChecks,
    is_jws,
    validate_access_token,
)
from authbridge.connectors.errors import AccessTokenInvalid, LoginFailed
from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.jwks import IdpKeys
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.presets import CognitoConnector
from tests.connectors.conftest import StaticIdp
from tests.connectors.diagnostics import explained
from tests.connectors.forge import Signer, hmac_signed, unsigned
from tests.connectors.oidc_fakes import CLIENT, LOGIN, connector, serve_provider
from tests.connectors.upstream import query, start
from tests.web.conftest import AppFactory

DATA = Path(__file__).parents[1] / "data" / "connectors"
USERINFO = json.loads((DATA / "cognito-userinfo.json").read_text())["userinfo"]
RECORDED = json.loads((DATA / "cognito-access-token.json").read_text())["claims"]


@pytest.fixture
def signer(static_idp: StaticIdp) -> Signer:
    signer = Signer(static_idp.url, CLIENT)
    serve_provider(static_idp, signer)
    static_idp.routes["/userinfo"] = USERINFO
    return signer


@pytest.fixture
def keys(static_idp: StaticIdp, signer: Signer) -> IdpKeys:
    return IdpKeys(OutboundHttp({}), lambda: static_idp.url + "/jwks", name="test")


def access_claims(signer: Signer, **overrides: Any) -> dict[str, Any]:
    """The recorded Cognito access token, re-issued by our test IdP to our client."""
    now = int(time.time())
    claims = {
        **RECORDED,
        "iss": signer.issuer,
        "client_id": CLIENT,
        "sub": USERINFO["sub"],
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        **overrides,
    }
    return {k: v for k, v in claims.items() if v is not None}


def checks(signer: Signer, **overrides: Any) -> AccessTokenChecks:
    return AccessTokenChecks(issuer=signer.issuer, client_id=CLIENT, **overrides)


def rejected(token: str, keys: IdpKeys, signer: Signer, **overrides: Any) -> str:
    with pytest.raises(AccessTokenInvalid) as info:
        validate_access_token(token, keys, checks(signer, **overrides))
    return info.value.reason


def test_a_cognito_access_token_for_this_client_is_accepted(signer: Signer, keys: IdpKeys) -> None:
    token = signer.sign(access_claims(signer))
    claims = validate_access_token(token, keys, checks(signer, token_use_required=True))
    assert claims["sub"] == USERINFO["sub"] and claims["client_id"] == CLIENT


@pytest.mark.parametrize(
    "binding",
    [
        {"client_id": None, "azp": CLIENT},  # Auth0
        {"client_id": None, "cid": CLIENT, "token_use": None},  # Okta
    ],
    ids=["auth0-azp", "okta-cid"],
)
def test_other_idps_name_the_client_in_azp_or_cid(
    signer: Signer, keys: IdpKeys, binding: dict[str, Any]
) -> None:
    token = signer.sign(access_claims(signer, **binding))
    assert validate_access_token(token, keys, checks(signer))["sub"] == USERINFO["sub"]


@pytest.mark.parametrize(
    "binding",
    [
        {"client_id": "another-app-client"},
        {"client_id": None, "azp": "another-app-client"},
        {"client_id": None, "cid": "another-app-client"},
        {"client_id": None},
        {"azp": "another-app-client"},  # ours in one claim, another client in the next
        {"client_id": [CLIENT]},
        {"client_id": CLIENT.upper()},
    ],
)
def test_a_token_issued_to_another_client_is_refused(
    signer: Signer, keys: IdpKeys, binding: dict[str, Any]
) -> None:
    assert "client" in rejected(signer.sign(access_claims(signer, **binding)), keys, signer)


def test_a_cognito_id_token_is_not_an_access_token(signer: Signer, keys: IdpKeys) -> None:
    token = signer.sign(access_claims(signer, token_use="id"))
    assert "token_use" in rejected(token, keys, signer)
    bare = signer.sign(access_claims(signer, token_use=None))
    assert "token_use" in rejected(bare, keys, signer, token_use_required=True)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_other"}, "iss"),
        ({"exp": int(time.time()) - 10}, "expired"),
        ({"iat": int(time.time()) + 600}, "future"),
        ({"iat": None}, "iat"),
        ({"sub": ""}, "sub"),
        ({"sub": 42}, "sub"),
    ],
)
def test_issuer_lifetime_and_subject_are_checked(
    signer: Signer, keys: IdpKeys, overrides: dict[str, Any], reason: str
) -> None:
    assert reason in rejected(signer.sign(access_claims(signer, **overrides)), keys, signer)


def test_forged_signatures_never_verify(signer: Signer, keys: IdpKeys) -> None:
    claims = access_claims(signer)
    public = json.dumps(signer.jwk()).encode()
    assert "algorithm" in rejected(unsigned(claims), keys, signer)
    assert "algorithm" in rejected(hmac_signed(claims, public), keys, signer)
    stranger = Signer(signer.issuer, CLIENT)  # same kid, a key the IdP never published
    assert "signature" in rejected(stranger.sign(claims), keys, signer)


@pytest.mark.parametrize("token", ["at-1", "a.b", "x.y.z", "", "e30.e30.e30"])
def test_opaque_tokens_are_not_jws(token: str) -> None:
    assert not is_jws(token)


# -- the connector: which responses need the check ------------------------------------


def cognito(static_idp: StaticIdp) -> OidcConnector:
    return connector(
        CognitoConnector, static_idp, flow="implicit", auth_url_params={"response_type": "token"}
    )


def test_an_opaque_access_token_alone_is_refused_with_what_to_change(
    static_idp: StaticIdp, signer: Signer
) -> None:
    with pytest.raises(LoginFailed) as info:
        cognito(static_idp).handle_callback(
            LOGIN, {"access_token": "at-1", "token_type": "Bearer", "state": LOGIN.state}
        )
    assert info.value.code == "unverifiable_access_token"
    assert info.value.hint is not None
    assert "flow: code" in info.value.hint and "id_token token" in info.value.hint
    assert static_idp.count("/userinfo") == 0  # refused before the token is shown anywhere


def test_userinfo_must_speak_of_the_access_token_subject(
    static_idp: StaticIdp, signer: Signer
) -> None:
    static_idp.routes["/userinfo"] = {**USERINFO, "sub": "someone-else"}
    token = signer.sign(access_claims(signer))
    with pytest.raises(LoginFailed) as info:
        cognito(static_idp).handle_callback(LOGIN, {"access_token": token, "state": LOGIN.state})
    assert info.value.code == "userinfo_mismatch"


def test_a_generic_oidc_token_response_is_checked_too(
    static_idp: StaticIdp, signer: Signer
) -> None:
    oidc = connector(
        OidcConnector, static_idp, flow="implicit", auth_url_params={"response_type": "token"}
    )
    theirs = signer.sign(access_claims(signer, client_id=None, cid="another-app-client"))
    with pytest.raises(AccessTokenInvalid):
        oidc.handle_callback(LOGIN, {"access_token": theirs, "state": LOGIN.state})
    ours = signer.sign(access_claims(signer, client_id=None, cid=CLIENT, token_use=None))
    identity = oidc.handle_callback(LOGIN, {"access_token": ours, "state": LOGIN.state})
    assert identity.subject == USERINFO["sub"]


# -- through the app: what the browser and the operator see ----------------------------


def cognito_app(app_factory: AppFactory, static_idp: StaticIdp) -> TestClient:
    return app_factory(
        AUTH__OPENID_CONNECT__FLOW="implicit",
        AUTH__OPENID_CONNECT__COGNITO__ENABLED="true",
        AUTH__OPENID_CONNECT__COGNITO__CLIENT_ID=CLIENT,
        AUTH__OPENID_CONNECT__COGNITO__DISCOVERY_URL=static_idp.url,
        AUTH__OPENID_CONNECT__COGNITO__AUTH_URL_PARAMS__RESPONSE_TYPE="token",
    )


def relay(app: TestClient, access_token: str) -> Any:
    """The fragment of Cognito's answer, posted by our relay page as the browser would."""
    state = query(start(app, "cognito"))["state"]
    return app.post(
        "/v1/oauth/redirect/",
        data={
            "access_token": access_token,
            "token_type": "Bearer",
            "state": state,
            "authbridge_relayed": "1",
        },
        follow_redirects=False,
    )


def test_the_cognito_seed_signs_in_with_a_genuine_token_and_explains_the_rest(
    static_idp: StaticIdp,
    signer: Signer,
    app_factory: AppFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = cognito_app(app_factory, static_idp)
    opaque = relay(app, "at-1")
    assert opaque.status_code == 400
    told = explained(capsys, opaque)
    assert "flow: code" in told and "id_token token" in told
    assert "flow: code" not in opaque.text  # the person is not told the operator's fix
    theirs = relay(app, signer.sign(access_claims(signer, client_id="another-app-client")))
    assert theirs.status_code == 400 and "access token was not accepted" in theirs.text
    ours = relay(app, signer.sign(access_claims(signer)))
    assert ours.status_code == 303, ours.text
    assert USERINFO["email"] in app.get("/account").text
