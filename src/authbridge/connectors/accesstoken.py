"""A front-channel access token checked as a JWT before it may say who signed in.

In the implicit `token` response (Cognito's default) there is no ID token: the only thing
naming the person is an access token that arrived through the browser. An access token is
a bearer credential held by every client and API it was shown to, so accepting any valid
token of the IdP lets whoever holds one of the victim's tokens sign in as the victim
(RFC 6819 §4.4.2.6, token substitution). The token must therefore be a JWT signed by the
IdP (its JWKS, as for ID tokens), from our issuer, unexpired, and issued to *our* client:
`client_id` (Cognito, RFC 9068 §2.2), `azp` (Auth0) or `cid` (Okta).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from authbridge.connectors.errors import AccessTokenInvalid, IdTokenInvalid
from authbridge.connectors.idtoken import (
    ASYMMETRIC_ALGS,
    check_lifetime,
    jws_header,
    same_text,
    signed_claims,
)
from authbridge.connectors.jwks import JwksCache

__all__ = ["CLIENT_CLAIMS", "AccessTokenChecks", "is_jws", "validate_access_token"]

# Where IdPs name the client an access token was issued to, most standard first.
CLIENT_CLAIMS = ("client_id", "azp", "cid")


@dataclass(frozen=True)
class AccessTokenChecks:
    """Who must have issued the token, and to whom."""

    issuer: str
    client_id: str
    clock_tolerance: int = 0
    allowed_algs: Collection[str] = ASYMMETRIC_ALGS
    # Cognito marks its tokens `token_use: access|id`; the preset requires the claim.
    token_use_required: bool = False


def is_jws(token: str) -> bool:
    """Whether the token is a compact JWS at all (an opaque token cannot be checked)."""
    try:
        return isinstance(jws_header(token).get("alg"), str)
    except IdTokenInvalid:
        return False


def validate_access_token(
    token: str, keys: JwksCache, checks: AccessTokenChecks, *, now: float | None = None
) -> dict[str, Any]:
    """The claims of an access token issued to this client; AccessTokenInvalid naming the
    first failed check."""
    try:
        # RFC 8725 §3.1: the IdP's own asymmetric keys only; `none` and HMAC never verify.
        _, claims = signed_claims(token, keys, checks.allowed_algs)
        check_lifetime(claims, checks.clock_tolerance, now=now)
    except IdTokenInvalid as exc:
        raise AccessTokenInvalid(exc.reason) from None
    if claims.get("iss") != checks.issuer:
        raise AccessTokenInvalid(f"`iss` {claims.get('iss')!r} is not {checks.issuer!r}")
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
