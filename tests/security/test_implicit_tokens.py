"""Red team: implicit-flow token substitution at the Cognito preset (response_type=token).

With no ID token, the identity rests on the front-channel access token and the userinfo it
opens. A Cognito access token is a bearer credential that many parties hold: every app
client of the user pool, every API the user calls. If any access token of the pool is
accepted, whoever holds one of the victim's tokens signs in here as the victim (RFC 6819
§4.4.2.6 "Misuse of Access Token to Impersonate Resource Owner in Implicit Flow"; OAuth 2.0
Security BCP RFC 9700 §2.1.2 no longer recommends the implicit grant for this reason).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from authbridge.connectors.errors import ConnectorError
from authbridge.connectors.presets import CognitoConnector
from tests.connectors.conftest import Handler, StaticIdp, static_idp
from tests.connectors.forge import Signer
from tests.connectors.oidc_fakes import CLIENT, LOGIN, connector, serve_provider

__all__ = ["static_idp"]

VICTIM = {
    "sub": "248289761001",
    "email_verified": "true",
    "email": "janedoe@example.com",
    "username": "janedoe",
}


@pytest.fixture
def signer(static_idp: StaticIdp) -> Signer:
    signer = Signer(static_idp.url, CLIENT)
    serve_provider(static_idp, signer)
    return signer


def cognito_access_token(signer: Signer, client_id: str) -> str:
    """The shape of a Cognito user-pool access token (token_use=access, client_id, no aud)."""
    now = int(time.time())
    return signer.sign(
        {
            "sub": VICTIM["sub"],
            "iss": signer.issuer,
            "client_id": client_id,
            "token_use": "access",
            "scope": "openid email",
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
            "username": VICTIM["username"],
        }
    )


def serve_userinfo(idp: StaticIdp, token: str) -> None:
    # Cognito's userInfo answers any valid access token of the pool, whichever client got it.
    def userinfo(handler: Handler) -> tuple[int, Any]:
        if handler.headers.get("authorization") != f"Bearer {token}":
            return 401, {"error": "invalid_token"}
        return 200, VICTIM

    idp.routes["/userinfo"] = userinfo


def test_access_token_of_another_client_is_refused(static_idp: StaticIdp, signer: Signer) -> None:
    stolen = cognito_access_token(signer, client_id="some-other-app-client")
    serve_userinfo(static_idp, stolen)
    cognito = connector(
        CognitoConnector, static_idp, flow="implicit", auth_url_params={"response_type": "token"}
    )
    # The attacker started this login in their own browser (their own state and binding)
    # and posts the victim's token as the fragment the IdP "returned".
    with pytest.raises(ConnectorError):
        cognito.handle_callback(
            LOGIN, {"access_token": stolen, "token_type": "Bearer", "state": LOGIN.state}
        )


@pytest.mark.parametrize("audience", ["some-other-app-client", ["some-other-app-client"]])
def test_id_token_for_another_client_is_refused_in_the_hybrid_implicit_flow(
    static_idp: StaticIdp, signer: Signer, audience: object
) -> None:
    """Where an ID token travels with the access token, aud and at_hash stop the swap."""
    stolen = "opaque-token-of-another-app"
    serve_userinfo(static_idp, stolen)
    oidc = connector(
        CognitoConnector,
        static_idp,
        flow="implicit",
        auth_url_params={"response_type": "id_token token"},
    )
    id_token = signer.sign(
        signer.claims(
            aud=audience,
            sub=VICTIM["sub"],
            nonce=LOGIN.nonce,
            at_hash=signer.at_hash(stolen),
        )
    )
    fields = {"access_token": stolen, "token_type": "Bearer", "state": LOGIN.state}
    ours = signer.sign(
        signer.claims(sub=VICTIM["sub"], nonce=LOGIN.nonce, at_hash=signer.at_hash(stolen))
    )
    # The control: the same answer with our client in `aud` is accepted.
    assert oidc.handle_callback(LOGIN, {**fields, "id_token": ours}).subject == VICTIM["sub"]
    with pytest.raises(ConnectorError):
        oidc.handle_callback(
            LOGIN,
            {
                "access_token": stolen,
                "id_token": id_token,
                "token_type": "Bearer",
                "state": LOGIN.state,
            },
        )


@pytest.mark.parametrize("claim", ["nonce", "at_hash"])
def test_non_ascii_nonce_or_at_hash_is_an_invalid_id_token(
    static_idp: StaticIdp, signer: Signer, claim: str
) -> None:
    token = "opaque-access-token"
    serve_userinfo(static_idp, token)
    oidc = connector(
        CognitoConnector,
        static_idp,
        flow="implicit",
        auth_url_params={"response_type": "id_token token"},
    )
    values = {"nonce": LOGIN.nonce, "at_hash": signer.at_hash(token), claim: "\u00e9t\u00e9"}
    id_token = signer.sign(signer.claims(sub=VICTIM["sub"], **values))
    with pytest.raises(ConnectorError):
        oidc.handle_callback(
            LOGIN,
            {
                "access_token": token,
                "id_token": id_token,
                "token_type": "Bearer",
                "state": LOGIN.state,
            },
        )
