"""JWK → ready ``cryptography`` public keys, bound to the algorithms they may verify.

RFC 7517 §4 (JWK members), RFC 7518 §6 (RSA, EC parameters), RFC 8037 §2 (OKP). Each key is
parsed once into a ``cryptography`` object and a per-algorithm verify callable with its
padding/hash objects pre-built, so the per-request work is the signature check itself.

Binding rules (RFC 8725 §3.1, RFC 7518 §3.3-§3.5, RFC 8037 §3.1):

* RS*/PS* only with an RSA key of at least 2048 bits (RFC 7518 §3.3 "MUST").
* ES256/ES384/ES512 only with P-256/P-384/P-521 respectively (RFC 7518 §3.4).
* EdDSA only with an Ed25519 or Ed448 key (RFC 8037 §3.1).
* A JWK's own ``alg`` (RFC 7517 §4.4) restricts it further; ``use`` other than ``sig``
  (§4.2) or ``key_ops`` without ``verify`` (§4.3) exclude it.
* A JWK carrying private members is refused: whoever published it leaked the key.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

__all__ = [
    "PublicKey",
    "SignatureVerifier",
    "VerifyingKey",
    "load_jwk",
    "load_jwks",
    "raw_to_der",
    "signature_octets",
]

#: ``(signature, data)``, the signature as :func:`signature_octets` returns it. Raises
#: ``cryptography.exceptions.InvalidSignature`` (or ``ValueError``) on a bad signature.
SignatureVerifier = Callable[[bytes, bytes], None]
PublicKey = (
    rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | ed448.Ed448PublicKey
)

log = logging.getLogger("authbridge.middleware.jwks")

_MIN_RSA_BITS = 2048
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_RSA_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
# RFC 7518 §3.4: curve, hash and the byte length of each of R and S.
_EC_ALGS: dict[str, tuple[type[ec.EllipticCurve], type[hashes.HashAlgorithm], int]] = {
    "ES256": (ec.SECP256R1, hashes.SHA256, 32),
    "ES384": (ec.SECP384R1, hashes.SHA384, 48),
    "ES512": (ec.SECP521R1, hashes.SHA512, 66),
}
_EC_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {
    "P-256": (ec.SECP256R1, 32),
    "P-384": (ec.SECP384R1, 48),
    "P-521": (ec.SECP521R1, 66),
}


class JwkError(ValueError):
    """One JWK is unusable; the key set skips it."""


@dataclass(frozen=True, slots=True)
class VerifyingKey:
    """One public key from a JWKS with the verify callables for each algorithm it serves."""

    kid: str | None
    key: PublicKey
    verifiers: Mapping[str, SignatureVerifier]


def _b64_int(jwk: Mapping[str, Any], name: str, size: int | None = None) -> int:
    return int.from_bytes(_b64_bytes(jwk, name, size), "big")


def _b64_bytes(jwk: Mapping[str, Any], name: str, size: int | None = None) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value:
        raise JwkError(f"missing {name}")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise JwkError(f"bad base64url in {name}") from None
    # RFC 7518 §6.2.1.2: coordinates are the full fixed-length octet string.
    if size is not None and len(raw) != size:
        raise JwkError(f"{name} has the wrong length")
    return raw


def _rsa_verifiers(key: rsa.RSAPublicKey) -> dict[str, SignatureVerifier]:
    out: dict[str, SignatureVerifier] = {}
    pkcs1 = padding.PKCS1v15()
    for bits, hash_cls in _RSA_HASHES.items():
        digest = hash_cls()
        pss = padding.PSS(mgf=padding.MGF1(hash_cls()), salt_length=digest.digest_size)

        def rs(sig: bytes, data: bytes, _h: hashes.HashAlgorithm = digest) -> None:
            key.verify(sig, data, pkcs1, _h)

        def ps(sig: bytes, data: bytes, _h: hashes.HashAlgorithm = digest, _p: Any = pss) -> None:
            key.verify(sig, data, _p, _h)

        out["RS" + bits] = rs
        out["PS" + bits] = ps
    return out


def _der_length(n: int) -> bytes:
    # X.690 §8.1.3: short form below 128, else 0x81 and one octet (an ES512 SEQUENCE is
    # at most 2 * (2 + 67) = 138 octets).
    return bytes((n,)) if n < 128 else bytes((0x81, n))


def _der_integer(octets: bytes) -> bytes:
    # X.690 §8.3: minimal two's complement; a leading 0x00 keeps a high-bit value positive.
    octets = octets.lstrip(b"\0") or b"\0"
    if octets[0] & 0x80:
        octets = b"\0" + octets
    return b"\x02" + bytes((len(octets),)) + octets


def raw_to_der(sig: bytes, size: int) -> bytes:
    """RFC 7518 §3.4 ``R || S`` (each ``size`` octets) to the DER ``Ecdsa-Sig-Value``
    (RFC 3279 §2.2.3) that ``cryptography`` verifies.

    Same output as ``encode_dss_signature(int(R), int(S))`` (a test holds them equal)
    without the round trip through two Python integers.
    """
    body = _der_integer(sig[:size]) + _der_integer(sig[size:])
    return b"\x30" + _der_length(len(body)) + body


_EC_SIZES = {alg: size for alg, (_, _, size) in _EC_ALGS.items()}


def _der_shapes(size: int) -> tuple[tuple[bytes, bytes], ...]:
    """The DER octets around ``R`` and ``S`` when neither starts with a zero octet, so
    neither is shortened (X.690 §8.3): indexed by ``R``'s top bit | ``S``'s top bit << 1,
    each set top bit costing its INTEGER a leading 0x00 and one octet of length."""
    shapes = []
    for index in range(4):
        r_len, s_len = size + (index & 1), size + (index >> 1)
        head = b"\x30" + _der_length(4 + r_len + s_len) + b"\x02" + bytes((r_len,))
        shapes.append(
            (head + b"\0" * (index & 1), b"\x02" + bytes((s_len,)) + b"\0" * (index >> 1))
        )
    return tuple(shapes)


# alg -> (size of R and of S, DER shapes by top bits): see signature_octets.
_EC_DER = {alg: (size, _der_shapes(size)) for alg, size in _EC_SIZES.items()}


def signature_octets(alg: str, signature: bytes) -> bytes:
    """The JWS Signature (RFC 7515 §2) in the form the verifiers for ``alg`` take.

    RFC 7518 §3.4: an ECDSA signature is ``R || S``, each exactly as long as the curve's
    order; it becomes DER here, once per token rather than once per candidate key. Any
    other length (DER, truncated, padded) becomes ``b""``, which no key verifies, so the
    refusal comes from the signature check like any other bad signature. RSA and EdDSA
    signatures pass unchanged.

    When neither ``R`` nor ``S`` starts with a zero octet (255 in 256 of each for P-256 and
    P-384), their INTEGERs are the octets as they stand, with a 0x00 before a set top bit:
    four fixed shapes, joined without the general :func:`raw_to_der` (same output; a test
    holds them equal on every shape and on the zero-octet cases).
    """
    der = _EC_DER.get(alg)
    if der is None:
        return signature
    size, shapes = der
    if len(signature) != 2 * size:
        return b""
    r0 = signature[0]
    s0 = signature[size]
    if r0 and s0:
        head, middle = shapes[(r0 >> 7) | (s0 >> 7) << 1]
        return b"".join((head, signature[:size], middle, signature[size:]))
    return raw_to_der(signature, size)


def _ec_verifier(key: ec.EllipticCurvePublicKey, alg: str) -> SignatureVerifier:
    scheme = ec.ECDSA(_EC_ALGS[alg][1]())
    verify_der = key.verify

    def verify(der: bytes, data: bytes) -> None:
        # Takes the DER form made by signature_octets.
        verify_der(der, data, scheme)

    return verify


def load_jwk(jwk: Mapping[str, Any]) -> VerifyingKey:
    """Parse one public JWK (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2) or raise ``JwkError``."""
    if not isinstance(jwk, Mapping):
        raise JwkError("not an object")
    if _PRIVATE_MEMBERS & jwk.keys():
        raise JwkError("private key material in a public key set")
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise JwkError("not a signature key")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise JwkError("key_ops excludes verify")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise JwkError("kid must be a string")
    kty = jwk.get("kty")
    key: PublicKey
    verifiers: dict[str, SignatureVerifier]
    try:
        if kty == "RSA":
            key = rsa.RSAPublicNumbers(_b64_int(jwk, "e"), _b64_int(jwk, "n")).public_key()
            if key.key_size < _MIN_RSA_BITS:
                raise JwkError("RSA key shorter than 2048 bits")
            verifiers = _rsa_verifiers(key)
        elif kty == "EC":
            crv = jwk.get("crv")
            if crv not in _EC_CURVES:
                raise JwkError("unsupported curve")
            curve_cls, size = _EC_CURVES[crv]
            # Construction checks that the point lies on the curve (invalid-curve attacks).
            key = ec.EllipticCurvePublicNumbers(
                _b64_int(jwk, "x", size), _b64_int(jwk, "y", size), curve_cls()
            ).public_key()
            verifiers = {
                alg: _ec_verifier(key, alg)
                for alg, (alg_curve, _, _) in _EC_ALGS.items()
                if alg_curve is curve_cls
            }
        elif kty == "OKP":
            crv = jwk.get("crv")
            if crv == "Ed25519":
                key = ed25519.Ed25519PublicKey.from_public_bytes(_b64_bytes(jwk, "x", 32))
            elif crv == "Ed448":
                key = ed448.Ed448PublicKey.from_public_bytes(_b64_bytes(jwk, "x", 57))
            else:
                raise JwkError("unsupported OKP curve")
            verifiers = {"EdDSA": key.verify}
        else:
            raise JwkError("unsupported kty")
    except (ValueError, TypeError) as exc:
        if isinstance(exc, JwkError):
            raise
        raise JwkError("invalid key parameters") from None
    alg = jwk.get("alg")
    if alg is not None:
        # RFC 7517 §4.4: a case-sensitive string; a list or object is no algorithm at all
        # (and would not even hash for the lookup below).
        if not isinstance(alg, str) or alg not in verifiers:
            raise JwkError("key alg does not match its type")
        verifiers = {alg: verifiers[alg]}
    return VerifyingKey(kid=kid, key=key, verifiers=verifiers)


def load_jwks(document: Any, max_keys: int = 64, *, source: str = "") -> tuple[VerifyingKey, ...]:
    """Parse a JWK Set (RFC 7517 §5), skipping keys we cannot or must not use.

    RFC 7517 §5: "Implementations SHOULD ignore JWKs within a JWK Set that use "kty" (key
    type) values that are not understood by them, that are missing required members, or
    for which values are out of the supported ranges." One bad key therefore never costs
    the set: it is skipped and logged by its position and ``kid`` (never its material),
    and the other keys stay in use. ``source`` (the URL) only names the set in that log.

    Raises ``JwkError`` only when the document itself is not a JWK Set.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise JwkError("not a JWK Set")
    out: list[VerifyingKey] = []
    for index, item in enumerate(document["keys"][:max_keys]):
        try:
            out.append(load_jwk(item))
        except JwkError as exc:
            _skipped(source, index, item, str(exc))
        except Exception as exc:  # whatever one key does, the set survives it
            _skipped(source, index, item, f"unreadable ({type(exc).__name__})")
    return tuple(out)


def _skipped(source: str, index: int, item: Any, reason: str) -> None:
    kid = item.get("kid") if isinstance(item, Mapping) else None
    # The kid is the publisher's name for the key, safe to log (bounded); nothing else of
    # the key is: a set that leaked a private key must not leak it again into our logs.
    named = repr(kid[:64]) if isinstance(kid, str) else "none"
    log.warning("JWKS %s: key %d (kid %s) skipped: %s", source or "?", index, named, reason)
