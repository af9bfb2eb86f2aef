"""Independent token minting for tests: raw ``cryptography`` + stdlib, none of our code.

Tokens here are built byte by byte so that tests can forge every shape the verifier must
refuse (RFC 7515 §7.1 compact form, RFC 7518 §3 signatures).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ISSUER = "https://auth.example.com"
OTHER_ISSUER = "https://idp.example.org"
AUDIENCE = "api://platform"
NOW = 1_750_000_000


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(obj: Any) -> str:
    return b64(json.dumps(obj, separators=(",", ":")).encode())


def uint(n: int, size: int | None = None) -> str:
    size = size or (n.bit_length() + 7) // 8
    return b64(n.to_bytes(size, "big"))


@dataclass
class Signer:
    """A private key, its public JWK and a raw signing function per JWS alg."""

    alg: str
    kid: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        pub = self.private.public_key()
        base: dict[str, Any] = {"kid": self.kid, "use": "sig", "alg": self.alg}
        if isinstance(pub, rsa.RSAPublicKey):
            nums = pub.public_numbers()
            return {**base, "kty": "RSA", "n": uint(nums.n), "e": uint(nums.e)}
        if isinstance(pub, ec.EllipticCurvePublicKey):
            nums = pub.public_numbers()
            crv, size = {256: ("P-256", 32), 384: ("P-384", 48), 521: ("P-521", 66)}[
                pub.curve.key_size
            ]
            return {
                **base,
                "kty": "EC",
                "crv": crv,
                "x": uint(nums.x, size),
                "y": uint(nums.y, size),
            }
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {**base, "kty": "OKP", "crv": "Ed25519", "x": b64(raw)}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, data: bytes, alg: str | None = None) -> bytes:
        alg = alg or self.alg
        key = self.private
        if alg.startswith("ES"):
            hash_cls = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}[alg[2:]]
            size = (key.curve.key_size + 7) // 8
            r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hash_cls())))
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        if alg.startswith("RS"):
            return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if alg.startswith("PS"):
            return key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
        if alg == "EdDSA":
            return key.sign(data)
        raise ValueError(alg)


def make_signers() -> dict[str, Signer]:
    return {
        "ES256": Signer("ES256", "es-1", ec.generate_private_key(ec.SECP256R1())),
        "RS256": Signer("RS256", "rs-1", rsa.generate_private_key(65537, 2048)),
        "EdDSA": Signer("EdDSA", "ed-1", ed25519.Ed25519PrivateKey.generate()),
    }


def compact(
    header: dict[str, Any] | str,
    claims: dict[str, Any] | str,
    signer: Signer | None,
    alg: str | None = None,
) -> str:
    h = header if isinstance(header, str) else b64json(header)
    p = claims if isinstance(claims, str) else b64json(claims)
    sig = signer.sign(f"{h}.{p}".encode(), alg) if signer else b""
    return f"{h}.{p}.{b64(sig)}"


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    h, p = b64json(header), b64json(claims)
    mac = hmac.new(secret, f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(mac)}"


def access_claims(**over: Any) -> dict[str, Any]:
    """authbridge access-token claims (RFC 9068 §2.2) valid at NOW."""
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-123",
        "aud": AUDIENCE,
        "exp": NOW + 300,
        "iat": NOW - 10,
        "jti": "jti-1",
        "client_id": "airflow",
        "scope": "openid read:dags write:dags",
        "email": "jane@example.com",
        "name": "Jane Doe",
        "groups": ["data"],
        "roles": ["viewer"],
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def at_header(signer: Signer, **over: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"alg": signer.alg, "kid": signer.kid, "typ": "at+jwt"}
    header.update(over)
    return {k: v for k, v in header.items() if v is not None}
