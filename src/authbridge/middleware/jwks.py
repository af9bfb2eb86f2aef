"""JWKS cache: fetch once, refresh on rotation, survive short outages, then fail closed.

RFC 7517 §5 key sets, fetched only from configured URLs (RFC 8725 §3.10: never from a
token's ``jku``/``x5u``). One :class:`JwksSource` per URL holds an immutable snapshot of
parsed keys, so lookups take no lock. Fetches are single-flight: whoever first needs one
(a WSGI thread or an ASGI task) starts it on a worker thread and every concurrent caller
waits on the same ``concurrent.futures.Future`` (threads block on it, tasks await it
through ``asyncio.wrap_future``). Unknown ``kid`` values start at most one fetch per
``cooldown`` (counted from the last fetch they started, so the first rotation after start-up
is seen at once); scheduled refreshes and retries also wait ``cooldown`` after any fetch.

Freshness honours ``Cache-Control: max-age`` clamped by :class:`JwksPolicy`. When a
refresh fails, known keys keep working until ``fresh_until + stale_window``; after that
every lookup raises :class:`KeySetUnavailable`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass

from .config import JwksPolicy
from .errors import InvalidToken, KeySetUnavailable, Reason
from .keys import VerifyingKey, load_jwks
from .proxies import proxy_for

__all__ = ["FetchResult", "Fetcher", "IssuerKeys", "JwksSource", "UrllibFetcher"]

log = logging.getLogger("authbridge.middleware.jwks")

_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:,|$)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A JWKS response body and its ``max-age`` in seconds (``None`` when absent)."""

    body: bytes
    max_age: float | None = None


#: Fetches one URL; raises any exception on failure (non-200, network, oversize).
Fetcher = Callable[[str], FetchResult]


def parse_max_age(cache_control: str | None) -> float | None:
    """``max-age`` of RFC 9111 §5.2.2.1; ``no-cache``/``no-store`` count as zero."""
    if not cache_control:
        return None
    if _NO_CACHE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    return float(match.group(1)) if match else None


class UrllibFetcher:
    """Standard-library HTTP(S) fetcher: bounded time, bounded size, no cookies, no auth.

    The proxy is chosen by :func:`.proxies.proxy_for` from ``environ`` (default: the process
    environment, read at each fetch): ``GLOBAL_AGENT_HTTPS_PROXY`` as Astronomer documents
    it, then ``HTTPS_PROXY``, with ``NO_PROXY`` honoured. That choice is the only one: the
    opener is built with it explicitly, so urllib's own environment lookup (which knows no
    ``GLOBAL_AGENT_*``) never overrides it. ``https`` goes through the proxy as a CONNECT
    tunnel, so the proxy never sees the keys or the server certificate check.
    """

    def __init__(
        self,
        timeout: float = 5.0,
        max_bytes: int = 512 * 1024,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._environ = environ

    def proxy(self, url: str) -> str | None:
        """The proxy a fetch of ``url`` goes through (``None``: direct), read now."""
        return proxy_for(url, os.environ if self._environ is None else self._environ)

    def opener(self, url: str) -> urllib.request.OpenerDirector:
        """An opener through the proxy chosen for ``url`` (the roles endpoint uses it too)."""
        return self._opener(url)

    def _opener(self, url: str) -> urllib.request.OpenerDirector:
        proxy = self.proxy(url)
        routes = {"http": proxy, "https": proxy} if proxy else {}
        return urllib.request.build_opener(urllib.request.ProxyHandler(routes))

    def __call__(self, url: str) -> FetchResult:
        request = urllib.request.Request(  # noqa: S310 - URL scheme validated by VerifierConfig
            url, headers={"Accept": "application/jwk-set+json, application/json"}
        )
        with self._opener(url).open(request, timeout=self.timeout) as response:
            if response.status != 200:
                raise OSError(f"JWKS fetch answered HTTP {response.status}")
            body = response.read(self.max_bytes + 1)
            if len(body) > self.max_bytes:
                raise OSError("JWKS document too large")
            return FetchResult(body, parse_max_age(response.headers.get("Cache-Control")))


@dataclass(frozen=True, slots=True)
class _Snapshot:
    by_kid: dict[str, tuple[VerifyingKey, ...]]
    keys: tuple[VerifyingKey, ...]
    fresh_until: float
    stale_until: float


class JwksSource:
    """One JWKS URL: an immutable key snapshot plus single-flight, rate-limited refresh."""

    def __init__(
        self, url: str, fetcher: Fetcher, policy: JwksPolicy, clock: Callable[[], float]
    ) -> None:
        self.url = url
        self._fetcher = fetcher
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._inflight: Future[None] | None = None
        # Two gates: fetches asked for by an unknown kid (anyone can mint those) are spaced
        # by the cooldown from the last such fetch only, so a key rotated just after start-up
        # or just after a scheduled refresh is picked up at once; every other fetch (first
        # load, refresh of stale keys, retry after an outage) by the cooldown from the last
        # fetch of any kind.
        self._next_fetch_at = float("-inf")
        self._next_kid_fetch_at = float("-inf")
        self.fetch_count = 0
        #: Why the last fetch failed (``None`` after a success), for callers that report it.
        self.last_error: Exception | None = None

    # -- lookup (no lock: the snapshot is replaced atomically, never mutated) ---------------

    def lookup(
        self, kid: str | None, now: float, may_fetch: bool
    ) -> tuple[VerifyingKey, ...] | Future[None] | None:
        """Keys for ``kid`` (all keys when ``kid`` is None), or a fetch to wait for.

        Returns ``None`` when the kid is unknown and no fetch is allowed yet; raises
        :class:`KeySetUnavailable` when there are no usable keys at all.
        """
        snap = self._snapshot
        if snap is not None and now < snap.stale_until:
            found = snap.keys if kid is None else snap.by_kid.get(kid)
            if found:
                if now >= snap.fresh_until:
                    # Stale but inside the window: serve known keys, refresh behind them.
                    self._start_fetch(now)
                return found
            if may_fetch:
                return self._start_fetch(now, unknown_kid=True)
            return None
        if may_fetch:
            fut = self._start_fetch(now)
            if fut is not None:
                return fut
        raise KeySetUnavailable()

    # -- refresh ---------------------------------------------------------------------------

    def refresh(self, now: float) -> Future[None] | None:
        """A fetch now, if the cooldown after the last fetch of any kind has passed.

        For a publisher that replaced a key but kept its ``kid`` (a signature that fails on
        a known key may mean that): anyone can forge such signatures, so this is the gate
        that no unknown kid opens. Returns the fetch to wait for, or ``None`` when shut.
        """
        return self._start_fetch(now)

    def _start_fetch(self, now: float, unknown_kid: bool = False) -> Future[None] | None:
        """Join the fetch in flight or start one if its gate is open; ``None`` if shut."""
        with self._lock:
            if self._inflight is not None:
                return self._inflight
            cooldown = self._policy.cooldown
            if unknown_kid:
                if now < self._next_kid_fetch_at:
                    return None
                self._next_kid_fetch_at = now + cooldown
            elif now < self._next_fetch_at:
                return None
            self._next_fetch_at = now + cooldown
            fut: Future[None] = Future()
            self._inflight = fut
            self.fetch_count += 1
        worker = threading.Thread(
            target=self._fetch, args=(fut,), name="authbridge-jwks", daemon=True
        )
        worker.start()
        return fut

    def _fetch(self, fut: Future[None]) -> None:
        try:
            result = self._fetcher(self.url)
            keys = load_jwks(json.loads(result.body), self._policy.max_keys, source=self.url)
        except Exception as exc:  # any failure keeps the previous snapshot: fail closed later
            log.warning("JWKS fetch from %s failed: %s", self.url, type(exc).__name__)
            self.last_error = exc
        else:
            self.last_error = None
            by_kid: dict[str, tuple[VerifyingKey, ...]] = {}
            for key in keys:
                if key.kid is not None:
                    by_kid[key.kid] = (*by_kid.get(key.kid, ()), key)
            done = self._clock()
            fresh_until = done + self._policy.ttl_for(result.max_age)
            self._snapshot = _Snapshot(
                by_kid, keys, fresh_until, fresh_until + self._policy.stale_window
            )
        finally:
            with self._lock:
                self._inflight = None
            fut.set_result(None)

    def join(self, timeout: float | None = None) -> None:
        """Wait for a fetch in flight, if any (for orderly shutdown and deterministic tests)."""
        fut = self._inflight
        if fut is not None:
            fut.result(timeout)


class IssuerKeys:
    """The keys of one issuer across its JWKS URLs: a key only vouches for this issuer."""

    def __init__(self, sources: Iterable[JwksSource]) -> None:
        self.sources = tuple(sources)
        self._single = self.sources[0] if len(self.sources) == 1 else None

    def lookup(
        self, kid: str | None, now: float, may_fetch: bool
    ) -> tuple[VerifyingKey, ...] | list[Future[None]]:
        """Candidate keys for ``kid``, or the fetches to wait for before asking again.

        RFC 7515 §4.1.4: with a ``kid`` only keys of that id are candidates; without one,
        every key of the issuer is (bounded by ``JwksPolicy.max_keys`` per source).
        """
        single = self._single
        if single is not None:
            # The usual case, one JWKS URL with fresh keys, read straight off its snapshot;
            # every other case (stale, unknown kid, several URLs) takes the general path.
            snap = single._snapshot
            if snap is not None and now < snap.fresh_until:
                hit = snap.keys if kid is None else snap.by_kid.get(kid)
                if hit:
                    return hit
        found: list[VerifyingKey] = []
        waits: list[Future[None]] = []
        unavailable = 0
        for source in self.sources:
            try:
                res = source.lookup(kid, now, may_fetch)
            except KeySetUnavailable:
                unavailable += 1
                continue
            if isinstance(res, Future):
                waits.append(res)
            elif res:
                found.extend(res)
        if found:
            return tuple(found)
        if waits:
            return waits
        if unavailable == len(self.sources):
            raise KeySetUnavailable()
        raise InvalidToken(Reason.UNKNOWN_KID)
