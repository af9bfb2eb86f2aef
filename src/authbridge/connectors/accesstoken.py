"""A front-channel access token checked as a JWT before it may say who signed in.

In the implicit `token` response (Cognito's default) there is no ID token: the only thing
naming the person is an access token that arrived through the browser. An access token is
a bearer credential held by every client and API it was shown to, so accepting any valid
token of the IdP lets whoever holds one of the victim's tokens sign in as the victim
(RFC 6819 §4.4.2.6, token substitution). The token must therefore be a JWT signed by the
IdP (its JWKS, as for ID tokens), from our issuer, unexpired, and issued to *our* client:
`client_id` (Cognito, RFC 9068 §2.2), `azp` (Auth0) or `cid` (Okta).

The signature, issuer binding and algorithm allow-list are the middleware's verifier's
(:meth:`.jwks.IdpKeys.verify_signature`); the claims are judged here because such tokens
need not carry `aud` (Cognito's do not), which the middleware's profiles require.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from authbridge.connectors.errors import AccessTokenInvalid, IdTokenInvalid
from authbridge.connectors.idtoken import jws_header, refusal, same_text
from authbridge.connectors.jwks import IdpKeys
from authbridge.middleware import SUPPORTED_ALGORITHMS, InvalidToken

__all__ = [
    "CLIENT_CLAIMS",
    "AccessTokenChecks",
    "check_lifetime",
    "is_jws",
    "validate_access_token",
]

# Where IdPs name the client an access token was issued to, most standard first.
CLIENT_CLAIMS = ("client_id", "azp", "cid")


@dataclass(frozen=True)
class AccessTokenChecks:
    """Who must have issued the token, and to whom."""

    issuer: str
    client_id: str
    clock_tolerance: int = 0
    allowed_algs: Collection[str] = SUPPORTED_ALGORITHMS
    # Cognito marks its tokens `token_use: access|id`; the preset requires the claim.
    token_use_required: bool = False


def is_jws(token: str) -> bool:
    """Whether the token is a compact JWS at all (an opaque token cannot be checked)."""
    try:
        return isinstance(jws_header(token).get("alg"), str)
    except IdTokenInvalid:
        return False


def _number(claims: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise AccessTokenInvalid(f"the `{name}` claim is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AccessTokenInvalid(f"the `{name}` claim is not a number")
    return float(value)


def check_lifetime(claims: dict[str, Any], tolerance: int, *, now: float | None = None) -> None:
    """RFC 7519 §4.1.4-4.1.6: `exp` in the future and `iat` present, neither it nor any
    `nbf` in the future (with tolerance)."""
    current = time.time() if now is None else now
    exp = _number(claims, "exp", required=True)
    iat = _number(claims, "iat", required=True)
    nbf = _number(claims, "nbf", required=False)
    assert exp is not None and iat is not None
    if current >= exp + tolerance:
        raise AccessTokenInvalid("the token has expired")
    if iat > current + tolerance:
        raise AccessTokenInvalid("the token was issued in the future (`iat`)")
    if nbf is not None and nbf > current + tolerance:
        raise AccessTokenInvalid("the token is not valid yet (`nbf`)")


def validate_access_token(
    token: str, keys: IdpKeys, checks: AccessTokenChecks, *, now: float | None = None
) -> dict[str, Any]:
    """The claims of an access token issued to this client; AccessTokenInvalid naming the
    first failed check."""
    try:
        # RFC 8725 §3.1: the IdP's own asymmetric keys only; `none` and HMAC never verify.
        # The issuer is bound too: a token naming another `iss` is not checked with these keys.
        _, claims = keys.verify_signature(
            token, issuer=checks.issuer, client_id=checks.client_id, algorithms=checks.allowed_algs
        )
    except InvalidToken as exc:
        raise AccessTokenInvalid(refusal(exc, token, checks.issuer)) from None
    check_lifetime(claims, checks.clock_tolerance, now=now)
    # RFC 6819 §4.4.2.6: the token must have been issued to us, and every claim that names
    # a client must name us (a token naming two clients is not ours to use).
    named = [(name, claims[name]) for name in CLIENT_CLAIMS if name in claims]
    if not named:
        raise AccessTokenInvalid("it names no client (`client_id`, `azp` or `cid`)")
    for name, value in named:
        if not isinstance(value, str) or not same_text(value, checks.client_id):
            raise AccessTokenInvalid(f"`{name}` is not this client")
    token_use = claims.get("token_use")
    if (token_use is not None or checks.token_use_required) and token_use != "access":
        raise AccessTokenInvalid(f"`token_use` is {token_use!r}, not 'access'")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise AccessTokenInvalid("`sub` is missing or not a string of at most 255 characters")
    return claims
