"""An IdP's signing keys (RFC 7517 JWK Set), cached, refetched at most once per cool-down.

OIDC Core §10.1.1: a provider rotates keys by publishing the new one in its JWKS; a token
with a `kid` not in our copy triggers one refetch. A flood of tokens with made-up `kid`s
must not turn into a flood of requests to the IdP, so refetches wait for `cooldown`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

from authbridge.connectors.errors import IdTokenInvalid
from authbridge.connectors.http import OutboundHttp

__all__ = ["JwksCache", "PublicKey"]

PublicKey = RSAKey | ECKey | OKPKey
_KTY_FOR_ALG = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}


def _kty(alg: str) -> str | None:
    return _KTY_FOR_ALG.get(alg[:2])


class JwksCache:
    ttl = 3600.0
    cooldown = 60.0

    def __init__(self, http: OutboundHttp, jwks_uri: Callable[[], str], *, name: str) -> None:
        self._http = http
        self._jwks_uri = jwks_uri
        self._name = name
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] = []
        self._fetched_at: float | None = None
        # Imported keys, by the JWK's position in the current set: parsing an RSA JWK
        # costs more than verifying a signature with it.
        self._imported: dict[int, PublicKey] = {}
        self.fetches = 0

    def _fetch(self, now: float) -> None:
        self.fetches += 1
        self._fetched_at = now
        doc = self._http.get_json(self._jwks_uri(), what=f"{self._name} JWKS")
        keys = doc.get("keys")
        self._keys = [k for k in keys if isinstance(k, dict)] if isinstance(keys, list) else []
        self._imported = {}

    def _find(self, kid: str | None, alg: str) -> dict[str, Any] | None:
        kty = _kty(alg)
        candidates = [
            k
            for k in self._keys
            if k.get("kty") == kty
            and k.get("use", "sig") == "sig"
            and k.get("alg", alg) == alg
            and "d" not in k  # a JWKS never holds private keys; refuse one that does
        ]
        if kid is not None:
            candidates = [k for k in candidates if k.get("kid") == kid]
        # Without a kid, only an unambiguous key will do (OIDC Core §10.1).
        return candidates[0] if len(candidates) == 1 else None

    def refresh_allowed(self) -> bool:
        """Refetch now if the cool-down allows (a key replaced under the same `kid`)."""
        now = time.monotonic()
        with self._lock:
            if self._fetched_at is not None and now - self._fetched_at < self.cooldown:
                return False
            self._fetch(now)
            return True

    def key_for(self, kid: str | None, alg: str) -> PublicKey:
        """The public key that must have signed a token with this header."""
        now = time.monotonic()
        with self._lock:
            if self._fetched_at is None or now - self._fetched_at >= self.ttl:
                self._fetch(now)
            found = self._find(kid, alg)
            stale = self._fetched_at is not None and now - self._fetched_at >= self.cooldown
            if found is None and stale:
                self._fetch(now)
                found = self._find(kid, alg)
            if found is None:
                raise IdTokenInvalid(
                    f"no {alg} signing key with kid {kid!r} in the provider's JWKS"
                )
            slot = next(i for i, k in enumerate(self._keys) if k is found)
            cached = self._imported.get(slot)
            if cached is not None:
                return cached
            try:
                key = KeySet.import_key_set({"keys": [found]}).keys[0]
            except (JoseError, ValueError, TypeError):
                raise IdTokenInvalid(
                    "the provider's JWKS holds a key that cannot be read"
                ) from None
            if not isinstance(key, RSAKey | ECKey | OKPKey):
                raise IdTokenInvalid("the provider's JWKS key is not an asymmetric key")
            self._imported[slot] = key
            return key
