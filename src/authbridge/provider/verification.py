"""Checking tokens this provider signed: access tokens at userinfo and introspection
(RFC 9068 §4), and ID tokens given back as `id_token_hint` (OIDC Core §3.1.2.1).

The signature is checked by the middleware's JWS path (`authbridge.middleware.jws`), the one
verifier of authbridge, against the key set this provider publishes, parsed by the
middleware's JWK rules (`middleware.keys`) once per published version (its ETag). No fetch:
the keys are our own. joserfc stays for signing (`tokens/issuer.py`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

from authbridge.middleware import TokenError
from authbridge.middleware.jws import verify_jwt
from authbridge.middleware.keys import JwkError, VerifyingKey, load_jwks
from authbridge.tokens.keyring import KeyRing
from authbridge.tokens.keys import SUPPORTED_ALGORITHMS

__all__ = ["OwnTokens"]

# Our tokens are a few hundred bytes to a few KiB; anything longer is not one of them.
MAX_TOKEN = 8192


class OwnTokens:
    """Verifies signatures against the published key set (re-read when its ETag changes).

    ``algorithms`` defaults to what this provider signs with (`tokens.keys`).
    """

    def __init__(
        self, keyring: KeyRing, issuer: str, *, algorithms: Collection[str] | None = None
    ) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._algorithms = frozenset(SUPPORTED_ALGORITHMS if algorithms is None else algorithms)
        self._cached: tuple[str, tuple[VerifyingKey, ...]] | None = None

    def _keys(self) -> tuple[VerifyingKey, ...]:
        published = self._keyring.current()
        cached = self._cached
        if cached is not None and cached[0] == published.etag:
            return cached[1]
        try:
            keys = load_jwks(json.loads(published.jwks), source="published JWKS")
        except (JwkError, ValueError):
            keys = ()
        # One tuple, replaced whole: concurrent readers see the old or the new pair.
        self._cached = (published.etag, keys)
        return keys

    def _decode(self, token: str, typ: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if not isinstance(token, str) or not token:
            return None
        try:
            header, claims = verify_jwt(
                token, self._keys(), self._algorithms, max_token_bytes=MAX_TOKEN
            )
        except TokenError:
            return None
        # RFC 7515 §4.1.9 / RFC 9068 §4: typ compared without "application/", any case.
        if header.typ != typ:
            return None
        if claims.get("iss") != self._issuer:
            return None
        return dict(header.params), claims

    def access_token(self, token: str, *, leeway: int = 0) -> dict[str, Any] | None:
        """Claims of a valid, unexpired access token (typ at+jwt, RFC 9068 §4), or None."""
        found = self._decode(token, "at+jwt")
        if found is None:
            return None
        claims = found[1]
        now = time.time()
        exp = claims.get("exp")
        if not isinstance(exp, int) or exp + leeway <= now:
            return None
        nbf = claims.get("nbf")
        if isinstance(nbf, int) and nbf - leeway > now:
            return None
        return claims

    def id_token_hint(self, token: str) -> dict[str, Any] | None:
        """Claims of an ID token we signed; it may have expired (OIDC Core §3.1.2.1)."""
        found = self._decode(token, "jwt")
        return found[1] if found is not None else None
