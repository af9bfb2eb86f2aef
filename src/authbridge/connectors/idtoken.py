"""ID token validation: OpenID Connect Core 1.0 §3.1.3.7 (code flow), §3.2.2.11 (implicit)
and §3.3.2.12 (hybrid).

Every check a relying party MUST make is here, in the order the spec lists them, and the
token is refused on the first failure. The signature is checked first against the IdP's
JWKS with an allow-list of asymmetric algorithms: `none` and the HMAC family are refused
before any key is looked up, so a token "signed" with the IdP's public key as an HMAC
secret can never verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError

from authbridge.connectors.errors import IdTokenInvalid
from authbridge.connectors.jwks import JwksCache

__all__ = [
    "ASYMMETRIC_ALGS",
    "IdTokenChecks",
    "check_lifetime",
    "jws_header",
    "number_claim",
    "same_text",
    "signed_claims",
    "token_hash",
    "validate_id_token",
]

ASYMMETRIC_ALGS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MAX_TOKEN = 16 * 1024


@dataclass(frozen=True)
class IdTokenChecks:
    """What the token must match: who issued it, for whom, and this login's values."""

    issuer: str
    client_id: str
    nonce: str | None
    clock_tolerance: int = 0
    allowed_algs: Collection[str] = ASYMMETRIC_ALGS
    # Values returned beside the ID token whose hash it must carry (§3.2.2.9, §3.3.2.11).
    access_token: str | None = None
    access_token_hash_required: bool = False
    code: str | None = None
    code_hash_required: bool = False


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def jws_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS (RFC 7515 §7.1), or IdTokenInvalid."""
    if len(token) > MAX_TOKEN or token.count(".") != 2:
        raise IdTokenInvalid("not a compact JWS")
    try:
        header = json.loads(_b64decode(token.split(".", 1)[0]))
    except (ValueError, UnicodeDecodeError):
        raise IdTokenInvalid("the header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise IdTokenInvalid("the header is not a JSON object")
    return header


def token_hash(value: str, alg: str) -> str:
    """`at_hash` / `c_hash` (§3.1.3.6): the left half of the hash of the ASCII value, with
    the hash of the JWS algorithm (SHA-512 for EdDSA with Ed25519)."""
    bits = "512" if alg == "EdDSA" else alg[-3:]
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[bits](
        value.encode("ascii")
    ).digest()
    half = digest[: len(digest) // 2]
    return base64.urlsafe_b64encode(half).rstrip(b"=").decode()


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of two strings of any characters.

    `hmac.compare_digest` refuses non-ASCII `str` with a TypeError, and a signed claim may
    hold any Unicode: compare the UTF-8 bytes so such a claim is a mismatch, not a 500.
    """
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def number_claim(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise IdTokenInvalid(f"the `{name}` claim is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdTokenInvalid(f"the `{name}` claim is not a number")
    return float(value)


def _check_hash(
    claims: dict[str, Any], claim: str, value: str | None, required: bool, alg: str
) -> None:
    given = claims.get(claim)
    if value is None:
        return
    if given is None:
        if required:
            raise IdTokenInvalid(f"the `{claim}` claim is missing")
        return
    # at_hash / c_hash are over the ASCII octets of the value (§3.1.3.6); RFC 6749 §A.12 and
    # §A.11 allow only printable ASCII in access tokens and codes, so anything else is forged.
    if (
        not isinstance(given, str)
        or not value.isascii()
        or not same_text(given, token_hash(value, alg))
    ):
        raise IdTokenInvalid(f"`{claim}` does not match the value returned with the token")


def _verified_payload(token: str, keys: JwksCache, kid: str | None, alg: str) -> bytes | None:
    key = keys.key_for(kid, alg)
    try:
        return jws.deserialize_compact(token, key, algorithms=[alg]).payload
    except (JoseError, ValueError):
        return None


def signed_claims(
    token: str, keys: JwksCache, allowed_algs: Collection[str]
) -> tuple[str, dict[str, Any]]:
    """The algorithm and JSON payload of a compact JWS (RFC 7515 §7.2) signed by one of
    the IdP's keys.

    RFC 8725 §3.1: only the expected asymmetric algorithms; `none` and HMAC are refused
    before any key is looked up. IdTokenInvalid names the first failed check.
    """
    header = jws_header(token)
    alg = header.get("alg")
    allowed = set(allowed_algs) & ASYMMETRIC_ALGS
    if not isinstance(alg, str) or alg not in allowed:
        raise IdTokenInvalid(f"signing algorithm {alg!r} is not accepted")
    if "crit" in header:
        raise IdTokenInvalid("the header has critical extensions authbridge does not know")
    kid = header.get("kid")
    kid = kid if isinstance(kid, str) else None
    payload = _verified_payload(token, keys, kid, alg)
    if payload is None and keys.refresh_allowed():
        # Some IdPs replace a key without changing its kid: one refetch, same cool-down.
        payload = _verified_payload(token, keys, kid, alg)
    if payload is None:
        raise IdTokenInvalid("the signature does not verify with the provider's key")
    try:
        claims = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise IdTokenInvalid("the payload is not JSON") from None
    if not isinstance(claims, dict):
        raise IdTokenInvalid("the payload is not a JSON object")
    return alg, claims


def check_lifetime(claims: dict[str, Any], tolerance: int, *, now: float | None = None) -> None:
    """RFC 7519 §4.1.4-4.1.6 as OIDC Core §3.1.3.7 steps 9-10 apply them: `exp` in the
    future and `iat` present, neither it nor any `nbf` in the future (with tolerance)."""
    current = time.time() if now is None else now
    exp = number_claim(claims, "exp", required=True)
    iat = number_claim(claims, "iat", required=True)
    nbf = number_claim(claims, "nbf", required=False)
    assert exp is not None and iat is not None
    if current >= exp + tolerance:
        raise IdTokenInvalid("the token has expired")
    if iat > current + tolerance:
        raise IdTokenInvalid("the token was issued in the future (`iat`)")
    if nbf is not None and nbf > current + tolerance:
        raise IdTokenInvalid("the token is not valid yet (`nbf`)")


def validate_id_token(
    token: str, keys: JwksCache, checks: IdTokenChecks, *, now: float | None = None
) -> dict[str, Any]:
    """The claims of a valid ID token; IdTokenInvalid naming the first failed check."""
    # §3.1.3.7 steps 6-7: the signature, with the expected asymmetric algorithms only.
    alg, claims = signed_claims(token, keys, checks.allowed_algs)

    # Step 2: iss MUST exactly match the issuer of the discovery document.
    if claims.get("iss") != checks.issuer:
        raise IdTokenInvalid(f"`iss` {claims.get('iss')!r} is not {checks.issuer!r}")
    # Step 3: aud MUST contain our client_id.
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if checks.client_id not in audiences:
        raise IdTokenInvalid("`aud` does not name this client")
    # Steps 4-5: with several audiences an azp naming us must be present; any azp must be us.
    azp = claims.get("azp")
    if len(audiences) > 1 and azp is None:
        raise IdTokenInvalid("several audiences and no `azp`")
    if azp is not None and azp != checks.client_id:
        raise IdTokenInvalid("`azp` is not this client")
    # Steps 9-10: exp in the future, iat present and not in the future (with tolerance).
    check_lifetime(claims, checks.clock_tolerance, now=now)
    # Step 11: the nonce we sent MUST come back unchanged (replay protection).
    if checks.nonce is not None:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not same_text(nonce, checks.nonce):
            raise IdTokenInvalid("`nonce` does not match this login")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise IdTokenInvalid("`sub` is missing or not a string of at most 255 characters")
    _check_hash(claims, "at_hash", checks.access_token, checks.access_token_hash_required, alg)
    _check_hash(claims, "c_hash", checks.code, checks.code_hash_required, alg)
    return claims
