"""Tokens made by the test itself: valid ones, and each kind of forgery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from joserfc import jws
from joserfc.jwk import ECKey, RSAKey

from authbridge.middleware.hashes import half_hash

__all__ = ["Signer", "b64", "hmac_signed", "unsigned"]


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """An IdP's signing key and the claims it puts in ID tokens."""

    def __init__(self, issuer: str, client_id: str, kid: str = "k1", alg: str = "RS256") -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.kid = kid
        self.alg = alg
        self.key: RSAKey | ECKey = (
            ECKey.generate_key("P-256") if alg == "ES256" else RSAKey.generate_key(2048)
        )

    def jwk(self) -> dict[str, Any]:
        public = dict(self.key.as_dict(private=False))
        return {**public, "kid": self.kid, "use": "sig", "alg": self.alg}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "sub": "user-1",
            "exp": now + 300,
            "iat": now,
            "nonce": "n-0S6_WzA2Mj",
            "email": "ada@example.com",
            "email_verified": True,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        protected = {"alg": self.alg, "kid": self.kid, "typ": "JWT", **(header or {})}
        return jws.serialize_compact(protected, json.dumps(claims).encode(), self.key)

    def at_hash(self, access_token: str) -> str:
        return half_hash(access_token, self.alg)


def unsigned(claims: dict[str, Any], kid: str = "k1") -> str:
    """alg `none` (RFC 7519 §6): an empty signature."""
    header = b64(json.dumps({"alg": "none", "kid": kid}).encode())
    return f"{header}.{b64(json.dumps(claims).encode())}."


def hmac_signed(claims: dict[str, Any], secret: bytes, kid: str = "k1") -> str:
    """The key-confusion forgery: HS256 keyed with the IdP's *public* key bytes."""
    header = b64(json.dumps({"alg": "HS256", "kid": kid}).encode())
    payload = b64(json.dumps(claims).encode())
    mac = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64(mac)}"
