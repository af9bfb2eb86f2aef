"""Hostile ID tokens and front-channel access tokens end in the connector's refusal
(IdTokenInvalid / AccessTokenInvalid, shown as a failed login), never another exception,
now that both are checked by the middleware's verifier (``tests/middleware/fuzz.py``)."""

from __future__ import annotations

import random
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from authbridge.connectors.accesstoken import AccessTokenChecks, validate_access_token
from authbridge.connectors.errors import AccessTokenInvalid, IdTokenInvalid
from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.idtoken import IdTokenChecks, validate_id_token
from authbridge.connectors.jwks import IdpKeys
from tests.connectors.conftest import StaticIdp
from tests.middleware.forge import Signer
from tests.middleware.fuzz import COUNT, describe, fuzz_tokens

CLIENT = "client-abc"


@pytest.fixture
def signer(static_idp: StaticIdp) -> Signer:
    signer = Signer("ES256", "ec-1", ec.generate_private_key(ec.SECP256R1()))
    static_idp.routes["/jwks"] = {"keys": [signer.jwk()]}
    return signer


def _claims(issuer: str) -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": issuer,
        "aud": CLIENT,
        "client_id": CLIENT,
        "sub": "user-1",
        "exp": now + 600,
        "iat": now,
        "nonce": "n-1",
        "token_use": "access",
    }


def test_id_and_access_tokens_are_refused_never_crash(
    static_idp: StaticIdp, signer: Signer
) -> None:
    keys = IdpKeys(OutboundHttp({}), lambda: static_idp.url + "/jwks", name="fuzz")
    id_checks = IdTokenChecks(issuer=static_idp.url, client_id=CLIENT, nonce="n-1")
    at_checks = AccessTokenChecks(issuer=static_idp.url, client_id=CLIENT)
    header = {"alg": "ES256", "kid": signer.kid, "typ": "JWT"}
    accepted = 0
    for token in fuzz_tokens(random.Random(20), COUNT, signer, header, _claims(static_idp.url)):
        try:
            validate_id_token(token, keys, id_checks)
            accepted += 1
        except IdTokenInvalid:
            pass
        except Exception as exc:
            pytest.fail(f"ID token: {type(exc).__name__} for {describe(token)}")
        try:
            validate_access_token(token, keys, at_checks)
        except AccessTokenInvalid:
            pass
        except Exception as exc:
            pytest.fail(f"access token: {type(exc).__name__} for {describe(token)}")
    assert 0 < accepted < COUNT
    assert static_idp.count("/jwks") <= 2  # forged kids and signatures cost no flood
