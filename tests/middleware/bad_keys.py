"""Kinds of broken JWK that a real JWK Set may carry beside good keys (issue 10, defect 10).

Shared by the middleware's and the connectors' tests: both read key sets through the one
JWKS cache (``authbridge.middleware.jwks``), so both must skip each of these and keep the
good keys. Built from a good public JWK (a dict) so each differs from it in one way.
"""

from __future__ import annotations

import base64
from typing import Any

__all__ = ["bad_keys"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_keys(good: dict[str, Any]) -> dict[str, Any]:
    """Name → a broken variant of ``good`` (an EC P-256 JWK), each with its own kid."""
    ec = {k: v for k, v in good.items() if k != "kid"}

    def variant(kid: str, **changes: Any) -> dict[str, Any]:
        return {**ec, "kid": kid, **changes}

    return {
        "alg-as-list": variant("bad-alg-list", alg=["ES256"]),  # RFC 7517 §4.4: a string
        "alg-as-object": variant("bad-alg-object", alg={"name": "ES256"}),
        "alg-unknown": variant("bad-alg-unknown", alg="ES257"),
        "alg-of-another-kty": variant("bad-alg-rsa", alg="RS256"),
        "curve-unknown": variant("bad-crv", crv="P-257"),
        "curve-as-list": variant("bad-crv-list", crv=["P-256"]),
        "kid-as-number": {**ec, "kid": 7},
        "kid-as-list": {**ec, "kid": ["k"]},
        "x-too-short": variant("bad-x", x=_b64(b"\x01" * 16)),
        "x-not-a-string": variant("bad-x-type", x=12345),
        "point-off-the-curve": variant("bad-point", x=good["y"]),
        "kty-as-list": variant("bad-kty-list", kty=["EC"]),
        "kty-unknown": variant("bad-kty", kty="XYZ"),
        "use-as-list": variant("bad-use", use=["sig"]),
        "key-ops-as-string": variant("bad-ops", key_ops="verify"),
        "private-material": variant("bad-private", d=_b64(b"\x02" * 32)),
        "symmetric": {"kty": "oct", "kid": "bad-oct", "k": _b64(b"secret")},
        "not-an-object": "not a key",
        "null": None,
    }
