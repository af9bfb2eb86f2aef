"""Proof Key for Code Exchange (RFC 7636), S256 only.

`plain` is refused (RFC 9700 §2.1.1: use S256); a challenge must be 43-128 characters of
the unreserved set (§4.2 produces 43 with SHA-256), and so must a verifier (§4.1).
"""

from __future__ import annotations

import hmac
import re

from authlib.oauth2.rfc7636 import create_s256_code_challenge

from authbridge.provider.errors import OAuthError

__all__ = ["check_challenge", "s256", "verify"]

_UNRESERVED = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def s256(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(code_verifier))) (RFC 7636 §4.2), by Authlib: the same
    function the connectors (our client side) and the CLI's login use."""
    challenge: str = create_s256_code_challenge(verifier)
    return challenge


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> str | None:
    """Validate the authorization request's PKCE parameters (RFC 7636 §4.3, §4.4.1)."""
    if not challenge:
        if method:
            raise OAuthError(
                "invalid_request", "code_challenge_method given without code_challenge"
            )
        if required:
            raise OAuthError(
                "invalid_request", "code_challenge is required for this client (PKCE, S256)"
            )
        return None
    if (method or "plain") != "S256":
        # RFC 7636 §4.3: a missing method means `plain`, which this server does not support.
        raise OAuthError(
            "invalid_request", "code_challenge_method must be S256 (plain is not supported)"
        )
    if not _UNRESERVED.match(challenge):
        raise OAuthError("invalid_request", "code_challenge is malformed (RFC 7636 §4.2)")
    return challenge


def verify(challenge: str | None, verifier: str | None) -> None:
    """Check the token request's verifier against the stored challenge (RFC 7636 §4.6).

    A verifier sent for a code issued without a challenge is refused too: that is the PKCE
    downgrade attack of RFC 9700 §4.8.2.
    """
    if challenge is None:
        if verifier:
            raise OAuthError("invalid_grant", "code_verifier given but the code has no challenge")
        return
    if not verifier:
        raise OAuthError("invalid_grant", "code_verifier is required (PKCE)")
    if not _UNRESERVED.match(verifier):
        raise OAuthError("invalid_grant", "code_verifier is malformed (RFC 7636 §4.1)")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise OAuthError("invalid_grant", "code_verifier does not match the code_challenge")
