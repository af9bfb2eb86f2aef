"""Checking tokens this provider signed: access tokens at userinfo and introspection
(RFC 9068 §4), and ID tokens given back as `id_token_hint` (OIDC Core §3.1.2.1)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from authbridge.tokens.keyring import KeyRing

__all__ = ["OwnTokens"]


class OwnTokens:
    """Verifies signatures against the published key set (rebuilt when its ETag changes)."""

    def __init__(self, keyring: KeyRing, issuer: str, *, algorithms: list[str]) -> None:
        self._keyring = keyring
        self._issuer = issuer
        self._algorithms = algorithms
        self._lock = threading.Lock()
        self._cached: tuple[str, KeySet] | None = None

    def _keys(self) -> KeySet:
        published = self._keyring.current()
        cached = self._cached
        if cached is not None and cached[0] == published.etag:
            return cached[1]
        with self._lock:
            keys = KeySet.import_key_set(json.loads(published.jwks))
            self._cached = (published.etag, keys)
            return keys

    def _decode(self, token: str, typ: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        if not token or len(token) > 8192 or token.count(".") != 2:
            return None
        try:
            decoded = jwt.decode(token, self._keys(), algorithms=self._algorithms)
        except (JoseError, ValueError, TypeError, KeyError):
            return None
        header = dict(decoded.header)
        if str(header.get("typ", "")).lower() != typ:
            return None
        claims = dict(decoded.claims)
        if claims.get("iss") != self._issuer:
            return None
        return header, claims

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
