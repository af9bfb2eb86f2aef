"""ID token validation: OpenID Connect Core 1.0 §3.1.3.7 (code flow), §3.2.2.11 (implicit)
and §3.3.2.12 (hybrid).

The signature and the standard claims are checked by the middleware's verifier, the one
JOSE stack of authbridge (:mod:`.jwks`): an allow-list of asymmetric algorithms (``none``
and the HMAC family are refused before any key is looked up, so a token "signed" with the
IdP's public key as an HMAC secret can never verify), the IdP's keys only, then ``iss``
(step 2), ``aud`` (3), ``azp`` (4-5), ``exp`` (9) and ``iat`` (10) with the configured
tolerance. What only a relying party can check comes on top, here: the ``nonce`` of this
login (step 11), ``sub`` fit to key an account, and ``at_hash``/``c_hash`` (§3.2.2.9,
§3.3.2.11) binding the values returned beside the token. The token is refused on the first
failure, with a reason for the operator.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from authbridge.connectors.errors import IdTokenInvalid
from authbridge.connectors.jwks import IdpKeys
from authbridge.middleware import (
    SUPPORTED_ALGORITHMS,
    InvalidToken,
    Reason,
    TokenKind,
    TokenTypeRule,
)
from authbridge.middleware.hashes import half_hash
from authbridge.middleware.jws import b64url_decode

__all__ = [
    "ID_TOKEN",
    "IdTokenChecks",
    "jws_header",
    "refusal",
    "same_text",
    "validate_id_token",
]

MAX_TOKEN = 16 * 1024
MAX_HEADER = 1024

#: OIDC Core §2: an ID token is a JWT. Its ``typ`` is not checked (IdPs differ: absent,
#: ``JWT``); ``aud`` = our client id and the nonce already tell it from an access token.
ID_TOKEN = TokenTypeRule(TokenKind.ID, None)


@dataclass(frozen=True)
class IdTokenChecks:
    """What the token must match: who issued it, for whom, and this login's values."""

    issuer: str
    client_id: str
    nonce: str | None
    clock_tolerance: int = 0
    allowed_algs: Collection[str] = SUPPORTED_ALGORITHMS
    # Values returned beside the ID token whose hash it must carry (§3.2.2.9, §3.3.2.11).
    access_token: str | None = None
    access_token_hash_required: bool = False
    code: str | None = None
    code_hash_required: bool = False


def jws_header(token: str) -> dict[str, Any]:
    """The JOSE header of a compact JWS (RFC 7515 §7.1), not checked; or IdTokenInvalid."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN or token.count(".") != 2:
        raise IdTokenInvalid("not a compact JWS")
    segment = token.split(".", 1)[0]
    try:
        if len(segment) > MAX_HEADER:
            raise ValueError
        header = json.loads(b64url_decode(segment.encode("ascii")))
    except (InvalidToken, ValueError, RecursionError):
        raise IdTokenInvalid("not a compact JWS") from None
    if not isinstance(header, dict):
        raise IdTokenInvalid("the header is not a JSON object")
    return header


def _claims_unverified(token: str) -> dict[str, Any]:
    """Only to word a refusal that the verifier already decided."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, IndexError, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


_REFUSALS = {
    Reason.TOKEN_TOO_LARGE: "not a compact JWS (too large)",
    Reason.HEADER_TOO_LARGE: "not a compact JWS (header too large)",
    Reason.MALFORMED: "not a compact JWS, or its header or payload is not base64url JSON",
    Reason.FORBIDDEN_HEADER: "the header names a key of its own (jku, jwk, x5u, x5c)",
    Reason.UNKNOWN_CRIT: "the header has critical extensions authbridge does not know",
    Reason.UNKNOWN_KID: "no signing key with this `kid` in the provider's JWKS",
    Reason.BAD_SIGNATURE: "the signature does not verify with the provider's key",
    Reason.WRONG_AUDIENCE: "`aud` does not name this client",
    Reason.EXPIRED: "the token has expired",
    Reason.NOT_YET_VALID: "the token is not valid yet (`nbf`)",
    Reason.ISSUED_IN_FUTURE: "the token was issued in the future (`iat`)",
    Reason.WRONG_TOKEN_TYPE: "the token is not of the expected type",
}


def refusal(exc: InvalidToken, token: str, issuer: str) -> str:
    """The operator's reason for a refusal by the middleware's verifier (never key material;
    the token's own values only where they name the failed check)."""
    reason = exc.reason
    if reason in (Reason.UNSUPPORTED_ALG, Reason.ALG_NOT_ALLOWED, Reason.MALFORMED):
        try:
            alg = jws_header(token).get("alg")
        except IdTokenInvalid:
            alg = None
        # An `alg: none` token has an empty signature, which is malformed too: name the
        # algorithm, the operator's first question.
        if reason is not Reason.MALFORMED or (
            isinstance(alg, str) and alg not in SUPPORTED_ALGORITHMS
        ):
            # Bounded: the header is the sender's text.
            return f"signing algorithm {repr(alg)[:40]} is not accepted"
    if reason is Reason.UNKNOWN_ISSUER:
        return f"`iss` is not {issuer!r}"
    if reason is Reason.MISSING_CLAIM:
        return f"the `{exc.detail}` claim is missing"
    if reason is Reason.INVALID_CLAIM:
        return f"the `{exc.detail}` claim is not valid"
    if reason is Reason.WRONG_AZP:
        if "azp" not in _claims_unverified(token):
            return "several audiences and no `azp`"
        return "`azp` is not this client"
    return _REFUSALS.get(reason, exc.description)


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of two strings of any characters.

    `hmac.compare_digest` refuses non-ASCII `str` with a TypeError, and a signed claim may
    hold any Unicode: compare the UTF-8 bytes so such a claim is a mismatch, not a 500.
    """
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


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
        or not same_text(given, half_hash(value, alg))
    ):
        raise IdTokenInvalid(f"`{claim}` does not match the value returned with the token")


def validate_id_token(token: str, keys: IdpKeys, checks: IdTokenChecks) -> dict[str, Any]:
    """The claims of a valid ID token; IdTokenInvalid naming the first failed check."""
    # Steps 2-10: the middleware's verifier (signature with the expected asymmetric
    # algorithms only, iss, aud, azp, exp, iat, nbf).
    try:
        verified = keys.verify(
            token,
            issuer=checks.issuer,
            client_id=checks.client_id,
            algorithms=checks.allowed_algs,
            clock_tolerance=checks.clock_tolerance,
            token_type=ID_TOKEN,
        )
    except InvalidToken as exc:
        raise IdTokenInvalid(refusal(exc, token, checks.issuer)) from None
    claims = dict(verified.claims)
    alg = verified.header["alg"]
    # Step 11: the nonce we sent MUST come back unchanged (replay protection).
    if checks.nonce is not None:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not same_text(nonce, checks.nonce):
            raise IdTokenInvalid("`nonce` does not match this login")
    # §2: sub is "a locally unique ... identifier ... It MUST NOT exceed 255 ASCII characters".
    if len(verified.subject) > 255:
        raise IdTokenInvalid("`sub` is longer than 255 characters")
    _check_hash(claims, "at_hash", checks.access_token, checks.access_token_hash_required, alg)
    _check_hash(claims, "c_hash", checks.code, checks.code_hash_required, alg)
    return claims
