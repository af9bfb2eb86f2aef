"""An IdP's signing keys and the verifiers over them: the middleware's one JWKS cache.

OIDC Core §10.1.1: a provider rotates keys by publishing the new one in its JWKS. The cache
is :class:`authbridge.middleware.jwks.JwksSource`, the same one every resource server using
the middleware runs: single-flight fetches, ``Cache-Control: max-age`` honoured within
bounds, an unknown ``kid`` refetching at most once per cooldown (a flood of made-up kids is
not a flood of requests to the IdP), known keys kept through a short outage (stale window),
a bad key skipped rather than the whole set dropped. Fetches go through the connectors'
:class:`OutboundHttp`, so proxies, timeouts and errors are those of every other IdP call.

Signatures and the standard claims are checked by the middleware's
:class:`~authbridge.middleware.TokenVerifier`; :mod:`.idtoken` and :mod:`.accesstoken`
add what OIDC Core and RFC 6819 ask of a relying party on top of its verified claims.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, ClassVar, TypeVar

from authbridge.connectors.errors import ProviderUnavailable
from authbridge.connectors.http import OutboundHttp
from authbridge.middleware import (
    SUPPORTED_ALGORITHMS,
    FetchResult,
    InvalidToken,
    IssuerTrust,
    JwksPolicy,
    KeySetUnavailable,
    Reason,
    TokenTypeRule,
    TokenVerifier,
    VerifiedToken,
    VerifierConfig,
)
from authbridge.middleware.jwks import JwksSource, parse_max_age

__all__ = ["IdpKeys"]

T = TypeVar("T")

# Verifiers kept per connector: one per (JWKS URL, issuer, client, algorithms, tolerance,
# profile); a connector has a handful, the bound only matters if discovery keeps changing.
_MAX_VERIFIERS = 16


class IdpKeys:
    """One IdP's JWKS (whatever URL its discovery document names) and token verification.

    ``policy`` is a class attribute so that an operator-facing default lives in one place
    (and tests can shorten the cooldown): keys stay fresh for the IdP's ``max-age`` within
    [1 min, 1 h] (1 h without one), unknown kids refetch at most once a minute, and known
    keys keep working for an hour while the IdP's JWKS endpoint is failing.
    """

    policy: ClassVar[JwksPolicy] = JwksPolicy(
        default_ttl=3600.0, min_ttl=60.0, max_ttl=3600.0, cooldown=60.0, stale_window=3600.0
    )

    def __init__(
        self,
        http: OutboundHttp,
        jwks_uri: Callable[[], str],
        *,
        name: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._jwks_uri = jwks_uri
        self._name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._sources: dict[str, JwksSource] = {}
        self._verifiers: dict[tuple[Any, ...], TokenVerifier] = {}

    @property
    def fetches(self) -> int:
        """JWKS fetches started so far (all URLs)."""
        return sum(source.fetch_count for source in self._sources.values())

    def fetch(self, url: str) -> FetchResult:
        """One JWKS fetch through the connectors' HTTP client (also `authbridge doctor`'s)."""
        response = self._http.request("GET", url, what=f"{self._name} JWKS")
        if response.status_code != 200:
            raise ProviderUnavailable(
                "The identity provider answered with an error.",
                f"{self._name} JWKS: HTTP {response.status_code}.",
                code="idp_bad_response",
            )
        return FetchResult(response.content, parse_max_age(response.headers.get("cache-control")))

    def _verifier(
        self,
        issuer: str,
        client_id: str,
        algorithms: tuple[str, ...],
        clock_tolerance: int,
        token_type: TokenTypeRule,
    ) -> tuple[TokenVerifier, JwksSource]:
        url = self._jwks_uri()
        key = (url, issuer, client_id, algorithms, clock_tolerance, token_type)
        with self._lock:
            verifier = self._verifiers.get(key)
            if verifier is None:
                trust = IssuerTrust(
                    issuer,
                    (url,),
                    (client_id,),
                    algorithms=algorithms,
                    clock_tolerance=clock_tolerance,
                    token_type=token_type,
                    principal_claims=("sub",),
                )
                # The URL passed the connectors' own https/loopback check (discovery.py).
                config = VerifierConfig((trust,), jwks=self.policy, allow_insecure_http=True)
                if len(self._verifiers) >= _MAX_VERIFIERS:
                    self._verifiers.clear()
                verifier = TokenVerifier(
                    config,
                    fetcher=self.fetch,
                    clock=self._clock,
                    decode_memo=0,  # ID tokens are presented once
                    sources=self._sources,
                )
                self._verifiers[key] = verifier
            return verifier, self._sources[url]

    def verify(
        self,
        token: str,
        *,
        issuer: str,
        client_id: str,
        algorithms: Collection[str],
        clock_tolerance: int,
        token_type: TokenTypeRule,
    ) -> VerifiedToken:
        """The middleware's full check (RFC 7519 §7.2: signature, ``iss``, ``sub``, ``aud``
        and ``azp``, ``exp``/``iat``/``nbf`` with tolerance) for a token of this IdP.

        Raises :class:`InvalidToken` for the token, :class:`ProviderUnavailable` when the
        IdP's keys cannot be had.
        """
        algs = _allowed(algorithms)
        verifier, source = self._verifier(issuer, client_id, algs, clock_tolerance, token_type)
        return self._run(source, lambda: verifier.verify(token))

    def verify_signature(
        self, token: str, *, issuer: str, client_id: str, algorithms: Collection[str]
    ) -> tuple[Mapping[str, Any], dict[str, Any]]:
        """Header and claims of a token this IdP signed, the claims not judged (see
        :meth:`TokenVerifier.verify_signature`)."""
        algs = _allowed(algorithms)
        verifier, source = self._verifier(issuer, client_id, algs, 0, TokenTypeRule.id_token())
        return self._run(source, lambda: verifier.verify_signature(token))

    def _run(self, source: JwksSource, check: Callable[[], T]) -> T:
        try:
            try:
                return check()
            except InvalidToken as exc:
                if exc.reason is not Reason.BAD_SIGNATURE or isinstance(exc, KeySetUnavailable):
                    raise
                # Some IdPs replace a key without changing its kid: one refetch, gated by
                # the cooldown after any fetch (forged signatures cannot force more).
                fetch = source.refresh(self._clock())
                if fetch is None:
                    raise
                try:
                    fetch.result(self.policy.timeout + 1.0)
                except FutureTimeout:
                    raise exc from None
                return check()
        except KeySetUnavailable:
            raise self._unavailable(source) from None

    def _unavailable(self, source: JwksSource) -> ProviderUnavailable:
        problem = source.last_error
        if isinstance(problem, ProviderUnavailable):
            return problem
        return ProviderUnavailable(
            "The identity provider's signing keys could not be read.",
            f"{self._name} JWKS at {source.url} holds no usable key set"
            + (f" ({type(problem).__name__})." if problem is not None else "."),
            code="idp_bad_response",
        )


def _allowed(algorithms: Collection[str]) -> tuple[str, ...]:
    """RFC 8725 §3.1: the caller's list within the one allow-list of asymmetric algorithms,
    so ``none`` and HMAC can never be named. With nothing left no token can pass."""
    allowed = tuple(sorted(set(algorithms) & SUPPORTED_ALGORITHMS))
    if not allowed:
        raise InvalidToken(Reason.ALG_NOT_ALLOWED)
    return allowed
