"""Signs the platform's access tokens (RFC 9068 JWT profile) and ID tokens (OIDC Core §2)."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from authbridge.clock import utcnow
from authbridge.config.model import Settings
from authbridge.middleware.hashes import half_hash
from authbridge.tokens.claims import Principal, bounded_claims
from authbridge.tokens.keyring import KeyRing

__all__ = ["IssuedToken", "TokenIssuer", "half_hash", "issuer_for", "new_token_id"]

ACCESS_TOKEN_TYPE = "at+jwt"  # RFC 9068 §2.1
# How many principals' identity claims are kept (the least recently used go first).
_IDENTITY_MAX = 4096


def new_token_id() -> str:
    """A `jti` (RFC 7519 §4.1.7): 128 random bits in hex. Operators type it (`robots revoke
    <id>`), so it never starts with `-`, which a command line would take for an option."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int


def issuer_for(settings: Settings, keyring: KeyRing) -> TokenIssuer:
    """The issuer the configuration describes (`server.issuer`, `tokens.*Lifetime`)."""
    return TokenIssuer(
        keyring,
        issuer=settings.server.issuer,
        access_token_lifetime=settings.tokens.access_token_lifetime,
        id_token_lifetime=settings.tokens.id_token_lifetime,
    )


def _add_authn_claims(claims: dict[str, Any], amr: Sequence[str], acr: str | None) -> None:
    """`amr` (a JSON array, OIDC Core §2) and `acr` into `claims`, each only when known: an
    absent claim says "unknown", an empty one would say "no method"."""
    if amr:
        claims["amr"] = list(amr)
    if acr:
        claims["acr"] = acr


class TokenIssuer:
    def __init__(
        self,
        keyring: KeyRing,
        *,
        issuer: str,
        access_token_lifetime: int,
        id_token_lifetime: int,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._keyring = keyring
        self.issuer = issuer
        self._access_lifetime = access_token_lifetime
        self._id_lifetime = id_token_lifetime
        self._clock = clock
        self._last_expiry: tuple[int, datetime] = (0, datetime.fromtimestamp(0, UTC))

    @staticmethod
    @functools.lru_cache(maxsize=_IDENTITY_MAX)
    def _identity_claims(principal: Principal) -> dict[str, Any]:
        """A pure function of the (frozen) principal, so kept by its value. Shared, never
        mutated: each token copies them into its own claims dict, and the nested lists are
        only encoded."""
        claims: dict[str, Any] = {
            "sub": principal.subject,
            "preferred_username": principal.username,
            **bounded_claims(principal),
        }
        if principal.email is not None:
            claims["email"] = principal.email
            claims["email_verified"] = principal.email_verified
        if principal.name:
            claims["name"] = principal.name
        if principal.kind != "person":
            claims["principal_type"] = principal.kind
        return claims

    def _sign(self, header_type: str, claims: dict[str, Any], *, record: bool = True) -> str:
        signing = self._keyring.current().signing
        if record:
            # Before the token exists: its key must stay published until it expires.
            self._keyring.record_signing(signing.kid, self._expiry(claims["exp"]))
        return signing.signer.sign(header_type, claims)

    def _expiry(self, exp: int) -> datetime:
        """`exp` as a datetime; the last one is kept (tokens of one second and lifetime
        share it). One tuple, so a thread never sees a new `exp` with an old datetime."""
        last = self._last_expiry
        if last[0] != exp:
            last = (exp, datetime.fromtimestamp(exp, UTC))
            self._last_expiry = last
        return last[1]

    def access_token(
        self,
        principal: Principal,
        *,
        audience: Sequence[str],
        client_id: str,
        scope: str = "",
        lifetime: int | None = None,
        tracked: bool = False,
        auth_time: int | None = None,
        amr: Sequence[str] = (),
        acr: str | None = None,
    ) -> IssuedToken:
        """An RFC 9068 access token: iss, exp, aud, sub, client_id, iat, jti (§2.2) and identity.

        `tracked`: the caller stores the token with its expiry and revocation (robot tokens),
        and storage keeps its key published from that record while it is valid; otherwise
        the key records the token's expiry itself."""
        now = int(self._clock().timestamp())
        exp = now + (lifetime or self._access_lifetime)
        jti = new_token_id()
        claims = {
            "iss": self.issuer,
            "aud": audience[0] if len(audience) == 1 else list(audience),
            "iat": now,
            "nbf": now,
            "exp": exp,
            "jti": jti,
            "client_id": client_id,
            **self._identity_claims(principal),
        }
        if scope:
            claims["scope"] = scope
        # RFC 9068 §2.2.1: how the person signed in, so a resource server can ask for more
        # (RFC 9470 §3); absent for a client acting for itself.
        if auth_time is not None:
            claims["auth_time"] = auth_time
        _add_authn_claims(claims, amr, acr)
        return IssuedToken(self._sign(ACCESS_TOKEN_TYPE, claims, record=not tracked), jti, exp)

    def id_token(
        self,
        principal: Principal,
        *,
        client_id: str,
        auth_time: int,
        nonce: str | None = None,
        access_token: str | None = None,
        code: str | None = None,
        amr: Sequence[str] = (),
        acr: str | None = None,
    ) -> IssuedToken:
        """An ID token (OIDC Core §2) with at_hash/c_hash when issued beside a token or code,
        and `amr`/`acr` when the sign-in's methods and level are known."""
        now = int(self._clock().timestamp())
        exp = now + self._id_lifetime
        jti = new_token_id()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": client_id,
            "azp": client_id,
            "iat": now,
            "exp": exp,
            "jti": jti,
            "auth_time": auth_time,
            **self._identity_claims(principal),
        }
        _add_authn_claims(claims, amr, acr)
        if nonce is not None:
            claims["nonce"] = nonce
        # OIDC Core §3.1.3.6: the hash of the signing alg (SHA-256 for both ES256 and RS256,
        # so a rotation between here and _sign cannot make it wrong).
        alg = self._keyring.current().signing.alg
        if access_token is not None:
            claims["at_hash"] = half_hash(access_token, alg)
        if code is not None:
            claims["c_hash"] = half_hash(code, alg)
        return IssuedToken(self._sign("JWT", claims), jti, exp)
