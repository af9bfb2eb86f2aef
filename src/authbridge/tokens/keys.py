"""Signing key material: generation, JWK export (public half only) and RFC 7638 key ids."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import ECKey, RSAKey

from authbridge.tokens.compact import CompactSigner

__all__ = ["SUPPORTED_ALGORITHMS", "KeyMaterial", "generate", "load"]

SUPPORTED_ALGORITHMS = ("ES256", "RS256")
PUBLIC_MEMBERS = {"kty", "crv", "x", "y", "n", "e"}


@dataclass(frozen=True)
class KeyMaterial:
    kid: str
    alg: str
    private_pem: str
    key: ECKey | RSAKey
    public_jwk: dict[str, Any]
    signer: CompactSigner


def _from_pem(pem: str, alg: str) -> KeyMaterial:
    key: ECKey | RSAKey
    key = ECKey.import_key(pem) if alg == "ES256" else RSAKey.import_key(pem)
    public = {k: v for k, v in key.as_dict(private=False).items() if k in PUBLIC_MEMBERS}
    # RFC 7638 thumbprint as kid: stable for the key, reveals nothing the JWK does not.
    kid = key.thumbprint()
    jwk = {**public, "kid": kid, "alg": alg, "use": "sig"}
    private = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise ValueError(f"not an {alg} private key")
    signer = CompactSigner(private, alg, kid)
    return KeyMaterial(kid=kid, alg=alg, private_pem=pem, key=key, public_jwk=jwk, signer=signer)


def generate(alg: str) -> KeyMaterial:
    """A new key pair for `alg` (ES256: P-256, RFC 7518 §3.4; RS256: RSA 3072, §3.3)."""
    private: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    else:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return _from_pem(pem, alg)


def load(pem: str, alg: str) -> KeyMaterial:
    return _from_pem(pem, alg)
