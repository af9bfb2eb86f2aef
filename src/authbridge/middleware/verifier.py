"""The token verifier: RFC 7519 §7.2 validation over the fast JWS path.

Order of checks (RFC 8725 §3): bound and split the input, check the header (allow-listed
asymmetric ``alg``, no key-bearing headers, no ``crit``), read ``iss`` only to pick the
issuer whose keys may verify it, check ``alg`` against that issuer's allow-list, verify the
signature with that issuer's keys, and only then judge the claims. An unverified ``iss``
never grants anything: it merely chooses which trust to fail against.

``verify`` is for threads (WSGI, scripts); ``averify`` is for the event loop (ASGI) and never
blocks it: a JWKS fetch runs on a worker thread and is awaited. Both share one cache and
one single-flight fetch per source.

Speed (``bench/bench_verify.py``): each issuer's claim checks are compiled once into a
closure over its settings; a token presented again takes its decoding from a bounded memo
filled only after a verified signature. Nothing that decides the verdict is remembered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, MutableMapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import suppress
from typing import Any

from .claims import ClaimChecker, VerifiedToken, compile_checker, require
from .config import IssuerTrust, VerifierConfig
from .errors import InvalidToken, KeySetUnavailable, Reason
from .jwks import Fetcher, IssuerKeys, JwksSource, UrllibFetcher
from .jws import (
    HeaderCache,
    JoseHeader,
    check_signature,
    decode_payload,
    decode_segment,
    parse_header,
    split_compact,
)
from .keys import VerifyingKey, signature_octets
from .revocation import RevocationFeed

__all__ = ["TokenVerifier"]


class _Issuer:
    """One trusted issuer, ready for the hot path: its keys, allow-list, claim checker and
    the revocation feed it is followed by, if any."""

    __slots__ = ("algorithms", "check", "feed", "keys", "trust")

    def __init__(self, trust: IssuerTrust, keys: IssuerKeys, feed: RevocationFeed | None) -> None:
        self.trust = trust
        self.keys = keys
        self.algorithms = frozenset(trust.algorithms)
        self.check: ClaimChecker = compile_checker(trust)
        self.feed = feed


# A token parsed up to the key lookup: header, its cache key, JWS Signing Input, signature
# octets, claims, issuer. A plain tuple: built on every request.
_Pending = tuple[JoseHeader, bytes, bytes, bytes, dict[str, Any], _Issuer]

_CONTAINERS = (dict, list)
# A memo entry: the decoding, plus the claims holding a dict or list, each with whether it
# is a flat list (copied by list.copy) or needs a deep copy.
_Entry = tuple[_Pending, tuple[tuple[str, bool], ...]]


def _copy_json(value: Any) -> Any:
    """A deep copy of decoded JSON: new dicts and lists, shared immutable leaves."""
    if type(value) is dict:
        return {k: _copy_json(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if type(value) is list:
        return [_copy_json(v) if type(v) in _CONTAINERS else v for v in value]
    return value


def _containers(claims: dict[str, Any]) -> tuple[tuple[str, bool], ...]:
    # A plain loop: measured cheaper than comprehensions or map/compress here.
    found: list[tuple[str, bool]] = []
    for name, value in claims.items():
        kind = type(value)
        if kind is list:
            flat = True
            for item in value:
                if type(item) in _CONTAINERS:
                    flat = False
                    break
            found.append((name, flat))
        elif kind is dict:
            found.append((name, False))
    return tuple(found)


def _copy_claims(
    claims: dict[str, Any], containers: tuple[tuple[str, bool], ...]
) -> dict[str, Any]:
    """A private copy of a claims set, so that an application editing what it was handed
    (``token.claims["groups"].append(...)``) can reach neither the decode memo nor the next
    request bearing the same token."""
    copy = claims.copy()
    for name, flat in containers:
        copy[name] = copy[name].copy() if flat else _copy_json(copy[name])
    return copy


class TokenVerifier:
    """Validates bearer JWTs against a :class:`VerifierConfig`. Thread- and task-safe.

    ``fetcher`` fetches a JWKS URL (default: stdlib urllib with the policy's timeout and
    size bound); ``clock`` returns Unix seconds and drives both claim checks and the cache,
    so tests can move time without sleeping.

    ``sources`` lets several verifiers share one JWKS cache: a URL already in that mapping
    is served by its :class:`.jwks.JwksSource`, a new one is added to it (a caller verifying
    several token profiles of one issuer, such as authbridge's connectors, fetches once).

    ``decode_memo`` bounds a memo of *decoding* (base64url, JSON) keyed by the exact token
    text, which a bearer token presented on every request of a session hits from its third
    request on. Only tokens whose signature a trusted key verified get in, on their second
    verification, so nobody can fill it with forged input and one-off tokens cost nothing.
    It holds no verdict: on every call, memo or not, the issuer's current keys verify the
    signature again and every claim is judged again at the current time, so a rotated-out
    key, an expiry or a changed clock take effect at once. ``0`` turns it off.
    """

    def __init__(
        self,
        config: VerifierConfig,
        *,
        fetcher: Fetcher | None = None,
        clock: Callable[[], float] = time.time,
        decode_memo: int = 1024,
        sources: MutableMapping[str, JwksSource] | None = None,
        revocations: RevocationFeed | None = None,
    ) -> None:
        self.config = config
        if revocations is None and config.revocations is not None:
            revocations = RevocationFeed(config.revocations)
        # Started by the first verify (a thread) or averify (a task of its loop).
        self.revocations = revocations
        self._clock = clock
        policy = config.jwks
        fetch = fetcher or UrllibFetcher(policy.timeout, policy.max_bytes)
        shared: MutableMapping[str, JwksSource] = {} if sources is None else sources
        used: dict[str, JwksSource] = {}
        self._issuers: dict[str, _Issuer] = {}
        for trust in config.issuers:
            for url in trust.jwks_urls:
                if url not in shared:
                    shared[url] = JwksSource(url, fetch, policy, clock)
                used[url] = shared[url]
            keys = IssuerKeys(used[u] for u in trust.jwks_urls)
            feed = revocations if revocations and revocations.issuer == trust.issuer else None
            self._issuers[trust.issuer] = _Issuer(trust, keys, feed)
        self.sources = tuple(used.values())
        self._headers = HeaderCache()
        self._max_token = config.max_token_bytes
        self._max_header = config.max_header_bytes
        self._memo: dict[str, _Entry] = {}
        self._memo_size = max(0, decode_memo)
        # Hashes of tokens verified once: a token enters the memo on its second verification,
        # so one-off tokens never pay for the memo's copy and memory. A collision merely
        # admits a token one verification early.
        self._seen: set[int] = set()
        self._seen_size = 4 * self._memo_size
        # Waiting longer than a fetch can take only hides a wedged worker.
        self._wait = policy.timeout + 1.0

    # -- public API ------------------------------------------------------------------------

    def verify(
        self, token: str, *, scopes: tuple[str, ...] = (), roles: tuple[str, ...] = ()
    ) -> VerifiedToken:
        """Validate ``token``; raise :class:`TokenError` subclasses on any failure."""
        feed = self.revocations
        if feed is not None and not feed.polling:
            feed.start()
        # The token decoded up to the key lookup: from the memo, else from scratch (the
        # lookup inline, not in a method of its own: one Python call fewer per token).
        entry = self._memo.get(token) if type(token) is str else None
        pending = self._prepare(token) if entry is None else self._recall(entry)
        now = self._clock()
        found = pending[5].keys.lookup(pending[0].kid, now, True)
        if isinstance(found, list):
            found, now = self._after_fetches(pending, found)
        return self._finish(token, pending, found, now, scopes, roles)

    async def averify(
        self, token: str, *, scopes: tuple[str, ...] = (), roles: tuple[str, ...] = ()
    ) -> VerifiedToken:
        """Like :meth:`verify`, awaiting (not blocking on) any JWKS fetch."""
        feed = self.revocations
        if feed is not None and feed.loop is not asyncio.get_running_loop():
            feed.start_task()
        # The token decoded up to the key lookup: from the memo, else from scratch (the
        # lookup inline, not in a method of its own: one Python call fewer per token).
        entry = self._memo.get(token) if type(token) is str else None
        pending = self._prepare(token) if entry is None else self._recall(entry)
        now = self._clock()
        found = pending[5].keys.lookup(pending[0].kid, now, True)
        if isinstance(found, list):
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(asyncio.wrap_future(f) for f in found)), self._wait
                )
            except TimeoutError:
                raise KeySetUnavailable() from None
            now = self._clock()
            found = self._lookup_after_fetch(pending, now)
        return self._finish(token, pending, found, now, scopes, roles)

    def verify_signature(self, token: str) -> tuple[Mapping[str, Any], dict[str, Any]]:
        """RFC 7515 §5.2 and RFC 8725 §3 only: the header rules, the issuer chosen by ``iss``,
        its algorithm allow-list and a signature by one of its keys. Returns the header and
        the claims, *unjudged*: for a caller that applies a token profile of its own (an
        IdP's front-channel access token, which need not carry ``aud``).
        """
        pending = self._prepare(token)
        found = pending[5].keys.lookup(pending[0].kid, self._clock(), True)
        if isinstance(found, list):
            found, _ = self._after_fetches(pending, found)
        header, _, signing_input, signature, claims, _ = pending
        check_signature(header.alg, found, signing_input, signature)
        return header.params, claims

    def join(self, timeout: float | None = None) -> None:
        """Wait for background JWKS refreshes (shutdown, deterministic tests)."""
        for source in self.sources:
            source.join(timeout)

    def close(self) -> None:
        """Stop following the revocation feed (shutdown)."""
        if self.revocations is not None:
            self.revocations.stop()

    # -- steps -----------------------------------------------------------------------------

    def _recall(self, entry: _Entry) -> _Pending:
        """A token's decoding from the memo: same text, same decoding."""
        (header, _, signing_input, signature, claims, issuer), containers = entry
        # The allow-list is re-read all the same.
        if header.alg not in issuer.algorithms:
            raise InvalidToken(Reason.ALG_NOT_ALLOWED)
        claims = _copy_claims(claims, containers)
        return header, b"", signing_input, signature, claims, issuer

    def _memorize(self, token: str, pending: _Pending) -> None:
        """Keep the decoding of a token whose signature just verified for the second time
        (see the class doc; :meth:`_finish` notes the first)."""
        memo = self._memo
        if len(memo) >= self._memo_size:
            # Forget the oldest entry; a concurrent caller may have done so already.
            with suppress(KeyError, RuntimeError, StopIteration):
                del memo[next(iter(memo))]
        header, _, signing_input, signature, claims, issuer = pending
        containers = _containers(claims)
        own = _copy_claims(claims, containers)
        memo[token] = ((header, b"", signing_input, signature, own, issuer), containers)

    def _prepare(self, token: str) -> _Pending:
        header_std, payload_std, sig_std, signing_input = split_compact(
            token, self._max_token, self._max_header
        )
        header = self._headers.items.get(header_std) or parse_header(header_std)
        claims = decode_payload(payload_std)
        iss = claims.get("iss")
        issuer = self._issuers.get(iss) if type(iss) is str else None
        if issuer is None:
            raise InvalidToken(Reason.UNKNOWN_ISSUER)
        if header.alg not in issuer.algorithms:
            raise InvalidToken(Reason.ALG_NOT_ALLOWED)
        # Decoded now, before any key fetch: a malformed signature costs no network call.
        signature = signature_octets(header.alg, decode_segment(sig_std))
        return header, header_std, signing_input, signature, claims, issuer

    def _lookup_after_fetch(self, pending: _Pending, now: float) -> tuple[VerifyingKey, ...]:
        found = pending[5].keys.lookup(pending[0].kid, now, False)
        if isinstance(found, list):  # may_fetch=False never asks to wait
            raise KeySetUnavailable()
        return found

    def _after_fetches(
        self, pending: _Pending, fetches: list[Future[None]]
    ) -> tuple[tuple[VerifyingKey, ...], float]:
        """Wait (blocking) for the JWKS fetches a lookup asked for, then look up again."""
        for fut in fetches:
            self._wait_sync(fut)
        now = self._clock()
        return self._lookup_after_fetch(pending, now), now

    def _wait_sync(self, fut: Future[None]) -> None:
        try:
            fut.result(self._wait)
        except FutureTimeout:
            raise KeySetUnavailable() from None

    def _finish(
        self,
        token_text: str,
        pending: _Pending,
        keys: tuple[VerifyingKey, ...],
        now: float,
        scopes: tuple[str, ...],
        roles: tuple[str, ...],
    ) -> VerifiedToken:
        header, header_std, signing_input, signature, claims, issuer = pending
        check_signature(header.alg, keys, signing_input, signature)
        if header_std and type(token_text) is str:  # decoded just now, not from the memo
            # Only what a trusted key signed may enter the caches.
            if header_std not in self._headers.items:
                self._headers.remember(header_std, header)
            # A token enters the memo on its second verification: the first only leaves its
            # hash (computed by the memo lookup and cached by the str) among those seen.
            # Inline, not a call: this runs for every first-time token.
            key = hash(token_text)
            seen = self._seen
            if key in seen:
                self._memorize(token_text, pending)
            elif self._memo_size:
                if len(seen) >= self._seen_size:
                    seen.clear()
                seen.add(key)
        token = issuer.check(header, claims, now)
        if issuer.feed is not None:
            # After the claims: an expired or forged token is refused as such first.
            issuer.feed.check(claims)
        if scopes or roles:
            require(token, scopes, roles)
        return token
