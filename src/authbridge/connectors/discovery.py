"""OpenID Connect Discovery 1.0: find, fetch, check and cache a provider's metadata.

§4: the document lives at the issuer + `/.well-known/openid-configuration`; §4.3: the
`issuer` it names MUST be identical to the issuer URL it was fetched for. Fetches are cached
for the document's `Cache-Control: max-age` (RFC 9111 §5.2.2.1, read by the middleware's
parser as for JWKS) within [1 min, `ttl`], `ttl` without one; a failed fetch is retried
after a short back-off, so an IdP that is down breaks only its own button and works again
when it is back, without a restart. Unlike the JWKS cache there is no stale window: while
the IdP fails, its button says so rather than send people to a dead page.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from authbridge.clock import utcnow
from authbridge.connectors.errors import ProviderUnavailable
from authbridge.connectors.http import OutboundHttp, is_loopback_host, json_object
from authbridge.middleware.jwks import parse_max_age

__all__ = [
    "WELL_KNOWN",
    "DiscoveryCache",
    "ProviderMetadata",
    "check_url",
    "discovery_url",
    "issuer_from_discovery_url",
    "parse_metadata",
]

WELL_KNOWN = "/.well-known/openid-configuration"


def check_url(url: str, what: str) -> str:
    """https only; http is allowed for loopback hosts so tests can run an IdP locally."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise ProviderUnavailable(
        "This identity provider is not configured correctly.",
        f"{what} must be an https:// URL (http:// only for localhost); got {url!r}.",
        code="idp_misconfigured",
    )


def discovery_url(configured: str) -> str:
    """The discovery URL, completed when the operator gave a base URL (Astronomer's Auth0
    example `https://<tenant>.auth0.com`)."""
    url = configured.strip()
    if "?" in url or "#" in url:
        raise ProviderUnavailable(
            "This identity provider is not configured correctly.",
            f"discoveryUrl must not contain a query or fragment; got {url!r}.",
            code="idp_misconfigured",
        )
    if not url.rstrip("/").endswith(WELL_KNOWN):
        url = url.rstrip("/") + WELL_KNOWN
    return check_url(url.rstrip("/"), "discoveryUrl")


def issuer_from_discovery_url(url: str) -> str:
    """The issuer a discovery URL was derived from (§4: issuer + well-known suffix)."""
    return url.removesuffix(WELL_KNOWN)


@dataclass(frozen=True)
class ProviderMetadata:
    """The fields of OIDC Discovery §3 authbridge uses (plus RFC 9207 and RFC 7636)."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str | None
    userinfo_endpoint: str | None
    jwks_uri: str | None
    response_types_supported: tuple[str, ...] = ()
    response_modes_supported: tuple[str, ...] = ()
    id_token_signing_alg_values_supported: tuple[str, ...] = ()
    code_challenge_methods_supported: tuple[str, ...] = ()
    token_endpoint_auth_methods_supported: tuple[str, ...] = ()
    iss_parameter_supported: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


def _strings(doc: dict[str, Any], key: str) -> tuple[str, ...]:
    value = doc.get(key)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def _optional_url(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"`{key}` in the discovery document is not a string")
    return check_url(value, key)


def _bad(detail: str) -> ProviderUnavailable:
    return ProviderUnavailable(
        "The identity provider's configuration could not be used.", detail, code="idp_bad_discovery"
    )


def parse_metadata(doc: dict[str, Any], expected_issuer: str, *, exact: bool) -> ProviderMetadata:
    """Check a discovery document (§3, §4.3) and keep what we use.

    With `exact`, the issuer was configured and must match to the byte (§4.3). Otherwise it
    was derived from the discovery URL, where §4 cannot tell `https://x/` from `https://x`,
    so a trailing slash is the only difference tolerated.
    """
    issuer = doc.get("issuer")
    if not isinstance(issuer, str) or not issuer:
        raise _bad("the discovery document has no `issuer`")
    if issuer != expected_issuer:
        slash_only = issuer.rstrip("/") == expected_issuer.rstrip("/")
        if not (slash_only and not exact):
            detail = f"issuer mismatch: expected {expected_issuer!r}, the provider says {issuer!r}"
            if slash_only:
                detail += (
                    " (they differ only by a trailing slash: set `issuer` to exactly what the "
                    "provider says, trailing slash included)"
                )
            raise _bad(detail)
    authorization = doc.get("authorization_endpoint")
    if not isinstance(authorization, str):
        raise _bad("the discovery document has no `authorization_endpoint`")
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=check_url(authorization, "authorization_endpoint"),
        token_endpoint=_optional_url(doc, "token_endpoint"),
        userinfo_endpoint=_optional_url(doc, "userinfo_endpoint"),
        jwks_uri=_optional_url(doc, "jwks_uri"),
        response_types_supported=_strings(doc, "response_types_supported"),
        response_modes_supported=_strings(doc, "response_modes_supported"),
        id_token_signing_alg_values_supported=_strings(
            doc, "id_token_signing_alg_values_supported"
        ),
        code_challenge_methods_supported=_strings(doc, "code_challenge_methods_supported"),
        token_endpoint_auth_methods_supported=_strings(
            doc, "token_endpoint_auth_methods_supported"
        ),
        iss_parameter_supported=doc.get("authorization_response_iss_parameter_supported") is True,
        raw=doc,
    )


class DiscoveryCache:
    """The metadata of one provider: fetched on first use, kept `ttl` seconds; after a
    failure the error is answered for `retry_after` seconds, then a fetch is tried again."""

    ttl = 3600.0
    # A max-age shorter than this is raised to it: an IdP cannot make us fetch per login.
    min_ttl = 60.0
    retry_after = 10.0
    # How long the login page waits for a status probe before showing what it knows.
    probe_budget = 0.5

    def __init__(
        self, http: OutboundHttp, url: str, expected_issuer: str, *, exact: bool, name: str
    ) -> None:
        self._http = http
        self.url = url
        self._expected = expected_issuer
        self._exact = exact
        self._name = name
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._fetched_at = 0.0
        self._fresh_for: float | None = None
        self._failed_at: float | None = None
        self.problem: ProviderUnavailable | None = None
        # When `problem` was recorded (wall clock, for an operator's status listing).
        self.problem_at: datetime | None = None
        self._probe: threading.Thread | None = None
        self._probe_lock = threading.Lock()

    def get(self) -> ProviderMetadata:
        """Fresh metadata, or the last good copy while the IdP is failing, or the error."""
        now = time.monotonic()
        with self._lock:
            fresh = (
                self._metadata is not None
                and now - self._fetched_at < self._lifetime()
                and self.problem is None
            )
            backing_off = self._failed_at is not None and now - self._failed_at < self.retry_after
            if fresh or backing_off:
                return self._result()
            try:
                what = f"{self._name} discovery"
                response = self._http.request("GET", self.url, what=what)
                doc = json_object(response, what)
                self._metadata = self.parse(doc)
                self._fetched_at = now
                self._fresh_for = parse_max_age(response.headers.get("cache-control"))
                self._failed_at = None
                self.problem = None
            except ProviderUnavailable as exc:
                self._failed_at = now
                self.problem, self.problem_at = exc, utcnow()
            return self._result()

    def parse(self, doc: dict[str, Any]) -> ProviderMetadata:
        """Check a fetched document against this provider's issuer (§4.3)."""
        return parse_metadata(doc, self._expected, exact=self._exact)

    @property
    def expected_issuer(self) -> str:
        return self._expected

    @property
    def cached(self) -> ProviderMetadata | None:
        return self._metadata

    def _lifetime(self) -> float:
        """How long the last document stays fresh: its max-age within [min_ttl, ttl]."""
        if self._fresh_for is None:
            return self.ttl
        return min(self.ttl, max(self._fresh_for, self.min_ttl))

    def _due(self, now: float) -> bool:
        if self._failed_at is not None:
            return now - self._failed_at >= self.retry_after
        return self._metadata is None or now - self._fetched_at >= self._lifetime()

    def _probe_once(self) -> None:
        with contextlib.suppress(ProviderUnavailable):  # recorded in self.problem
            self.get()

    def status(self) -> ProviderUnavailable | None:
        """The current problem, without making a page wait on a slow IdP.

        A due fetch runs in one background thread; the caller waits at most
        `probe_budget` for it, so a black-holed IdP costs its button, not the page.
        """
        with self._probe_lock:
            running = self._probe is not None and self._probe.is_alive()
            if not running and self._due(time.monotonic()):
                self._probe = threading.Thread(
                    target=self._probe_once, name=f"discovery-{self._name}", daemon=True
                )
                self._probe.start()
            probe = self._probe
        if probe is not None:
            probe.join(self.probe_budget)
        return self.problem

    def report(self, problem: ProviderUnavailable) -> None:
        """Another endpoint of this IdP failed: show it on the button until a fetch succeeds."""
        with self._lock:
            self._failed_at = time.monotonic()
            self.problem, self.problem_at = problem, utcnow()

    def _result(self) -> ProviderMetadata:
        # While failing, even a cached copy is not served: the IdP's endpoints are down too,
        # and the button must say so rather than send people to a dead page.
        if self.problem is not None or self._metadata is None:
            assert self.problem is not None
            raise self.problem
        return self._metadata
