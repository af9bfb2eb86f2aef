"""The token verifier: RFC 7519 §7.2 validation over the fast JWS path.

Order of checks (RFC 8725 §3): bound and split the input, check the header (allow-listed
asymmetric ``alg``, no key-bearing headers, no ``crit``), read ``iss`` only to pick the
issuer whose keys may verify it, check ``alg`` against that issuer's allow-list, verify the
signature with that issuer's keys, and only then judge the claims. An unverified ``iss``
never grants anything: it merely chooses which trust to fail against.

``verify`` is for threads (WSGI, scripts); ``averify`` is for the event loop (ASGI) and never
blocks it: a JWKS fetch runs on a worker thread and is awaited. Both share one cache and
one single-flight fetch per source.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, NamedTuple

from .claims import VerifiedToken, check_claims, require
from .config import IssuerTrust, VerifierConfig
from .errors import InvalidToken, KeySetUnavailable, Reason
from .jwks import Fetcher, IssuerKeys, JwksSource, UrllibFetcher
from .jws import (
    HeaderCache,
    JoseHeader,
    b64url_decode,
    check_signature,
    decode_payload,
    split_compact,
)
from .keys import VerifyingKey

__all__ = ["TokenVerifier"]


class _Pending(NamedTuple):
    """A token parsed up to the key lookup; finished once keys are at hand."""

    header: JoseHeader
    header_b64: bytes
    signing_input: bytes
    sig_b64: bytes
    claims: dict[str, Any]
    trust: IssuerTrust
    keys: IssuerKeys


class TokenVerifier:
    """Validates bearer JWTs against a :class:`VerifierConfig`. Thread- and task-safe.

    ``fetcher`` fetches a JWKS URL (default: stdlib urllib with the policy's timeout and
    size bound); ``clock`` returns Unix seconds and drives both claim checks and the cache,
    so tests can move time without sleeping.
    """

    def __init__(
        self,
        config: VerifierConfig,
        *,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._clock = clock
        policy = config.jwks
        fetch = fetcher or UrllibFetcher(policy.timeout, policy.max_bytes)
        sources: dict[str, JwksSource] = {}
        self._trust: dict[str, tuple[IssuerTrust, IssuerKeys]] = {}
        for trust in config.issuers:
            for url in trust.jwks_urls:
                if url not in sources:
                    sources[url] = JwksSource(url, fetch, policy, clock)
            keys = IssuerKeys(sources[u] for u in trust.jwks_urls)
            self._trust[trust.issuer] = (trust, keys)
        self.sources = tuple(sources.values())
        self._headers = HeaderCache()
        # Waiting longer than a fetch can take only hides a wedged worker.
        self._wait = policy.timeout + 1.0

    # -- public API ------------------------------------------------------------------------

    def verify(
        self, token: str, *, scopes: tuple[str, ...] = (), roles: tuple[str, ...] = ()
    ) -> VerifiedToken:
        """Validate ``token``; raise :class:`TokenError` subclasses on any failure."""
        pending = self._prepare(token)
        now = self._clock()
        found = pending.keys.lookup(pending.header.kid, now, True)
        if isinstance(found, list):
            for fut in found:
                self._wait_sync(fut)
            found = self._lookup_after_fetch(pending)
        return self._finish(pending, found, scopes, roles)

    async def averify(
        self, token: str, *, scopes: tuple[str, ...] = (), roles: tuple[str, ...] = ()
    ) -> VerifiedToken:
        """Like :meth:`verify`, awaiting (not blocking on) any JWKS fetch."""
        pending = self._prepare(token)
        now = self._clock()
        found = pending.keys.lookup(pending.header.kid, now, True)
        if isinstance(found, list):
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(asyncio.wrap_future(f) for f in found)), self._wait
                )
            except TimeoutError:
                raise KeySetUnavailable() from None
            found = self._lookup_after_fetch(pending)
        return self._finish(pending, found, scopes, roles)

    def join(self, timeout: float | None = None) -> None:
        """Wait for background JWKS refreshes (shutdown, deterministic tests)."""
        for source in self.sources:
            source.join(timeout)

    # -- steps -----------------------------------------------------------------------------

    def _prepare(self, token: str) -> _Pending:
        cfg = self.config
        header_b64, payload_b64, sig_b64, signing_input = split_compact(
            token, cfg.max_token_bytes, cfg.max_header_bytes
        )
        header = self._headers.get(header_b64)
        claims = decode_payload(payload_b64)
        iss = claims.get("iss")
        entry = self._trust.get(iss) if isinstance(iss, str) else None
        if entry is None:
            raise InvalidToken(Reason.UNKNOWN_ISSUER)
        trust, keys = entry
        if header.alg not in trust.algorithms:
            raise InvalidToken(Reason.ALG_NOT_ALLOWED)
        return _Pending(header, header_b64, signing_input, sig_b64, claims, trust, keys)

    def _lookup_after_fetch(self, pending: _Pending) -> tuple[VerifyingKey, ...]:
        found = pending.keys.lookup(pending.header.kid, self._clock(), False)
        if isinstance(found, list):  # may_fetch=False never asks to wait
            raise KeySetUnavailable()
        return found

    def _wait_sync(self, fut: Future[None]) -> None:
        try:
            fut.result(self._wait)
        except FutureTimeout:
            raise KeySetUnavailable() from None

    def _finish(
        self,
        pending: _Pending,
        keys: tuple[VerifyingKey, ...],
        scopes: tuple[str, ...],
        roles: tuple[str, ...],
    ) -> VerifiedToken:
        p = pending
        header = p.header
        check_signature(header.alg, keys, p.signing_input, b64url_decode(p.sig_b64))
        self._headers.remember(p.header_b64, header)
        token = check_claims(p.trust, header, p.claims, self._clock())
        if scopes or roles:
            require(token, scopes, roles)
        return token
