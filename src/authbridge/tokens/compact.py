"""The one signing path for platform JWTs: RFC 7515 §7.1 compact serialization, per key.

joserfc stays the JOSE stack everywhere else (keys, JWKS, verification, tests); issuing a
token is the hot path of every grant, so it is reduced to what RFC 7515 requires: the
protected header's segment computed once per key and `typ` when the key is loaded, one
compact JSON encode of the claims, one `cryptography` signature. The output is the bytes
joserfc's `jwt.encode` produces for the same header and claims (same header member order,
same JSON separators; `tests/tokens/test_compact.py` checks it for RS256, deterministic).
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64encode
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

__all__ = ["TOKEN_TYPES", "CompactSigner"]

# The `typ` values the issuer signs (RFC 9068 §2.1 access tokens, OIDC Core ID tokens).
TOKEN_TYPES = ("at+jwt", "JWT")
# RFC 7519 §7.1: the claims set's UTF-8 JSON; compact separators as joserfc writes them.
_CLAIMS_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_HEADER_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"))
_P256_BYTES = 32  # RFC 7518 §3.4: R and S each as 32 octets, big-endian


def _b64(data: bytes) -> bytes:
    """base64url without padding (RFC 7515 §2)."""
    return urlsafe_b64encode(data).rstrip(b"=")


class CompactSigner:
    """Signs JWTs with one private key (ES256, RFC 7518 §3.4, or RS256, §3.3)."""

    def __init__(
        self, private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, alg: str, kid: str
    ) -> None:
        if alg == "ES256" and not (
            isinstance(private, ec.EllipticCurvePrivateKey)
            and isinstance(private.curve, ec.SECP256R1)
        ):
            raise ValueError("ES256 needs a P-256 key")
        if alg == "RS256" and not isinstance(private, rsa.RSAPrivateKey):
            raise ValueError("RS256 needs an RSA key")
        if alg not in ("ES256", "RS256"):
            raise ValueError(f"unsupported signing algorithm {alg!r}")
        self.alg = alg
        self.kid = kid
        self._private = private
        self._headers = {typ: self._header_segment(typ) for typ in TOKEN_TYPES}

    def _header_segment(self, typ: str) -> bytes:
        # Member order as joserfc's jwt.encode writes it ({"typ": ..., **header}).
        return _b64(_HEADER_JSON.encode({"typ": typ, "alg": self.alg, "kid": self.kid}).encode())

    def sign(self, typ: str, claims: dict[str, Any]) -> str:
        """The compact JWS of `claims` under the protected header {typ, alg, kid}."""
        header = self._headers.get(typ) or self._header_segment(typ)
        signing_input = header + b"." + _b64(_CLAIMS_JSON.encode(claims).encode())
        private = self._private
        if isinstance(private, ec.EllipticCurvePrivateKey):
            # cryptography returns DER; JWS wants R || S (RFC 7518 §3.4).
            r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(SHA256())))
            signature = r.to_bytes(_P256_BYTES, "big") + s.to_bytes(_P256_BYTES, "big")
        else:
            signature = private.sign(signing_input, padding.PKCS1v15(), SHA256())
        return (signing_input + b"." + _b64(signature)).decode("ascii")
