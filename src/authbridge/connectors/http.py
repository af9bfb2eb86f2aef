"""Outbound HTTP to identity providers: timeouts, proxies, and a clear error on failure.

Proxies follow the conventions operators already set: `GLOBAL_AGENT_HTTPS_PROXY` /
`GLOBAL_AGENT_HTTP_PROXY` (Astronomer's Houston, via node global-agent), then the usual
`HTTPS_PROXY` / `HTTP_PROXY` (either case), with `NO_PROXY` / `GLOBAL_AGENT_NO_PROXY`
naming hosts reached directly. The rules are `authbridge.middleware.proxies`, the one
implementation the middleware's JWKS fetches use too (connectors may import the middleware;
never the reverse), so an IdP login and a token check never disagree about a proxy.

httpx is imported with the first client (or the first call), not with this module: a
service whose only connector is the mock IdP or LDAP never calls out over HTTP, and httpx
(with httpcore, and the rich and pygments modules its command-line entry point loads) is
about 2-4 MB per worker (`tests/test_imports.py`).
"""

from __future__ import annotations

import copy
import ipaddress
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from authbridge.connectors.errors import ProviderUnavailable
from authbridge.middleware.proxies import proxy_for

if TYPE_CHECKING:
    import httpx

__all__ = ["OutboundHttp", "UpstreamObserver", "is_loopback_host", "json_object"]

# Seconds per request, and to connect (httpx.Timeout(10.0, connect=3.0)).
TIMEOUT, CONNECT_TIMEOUT = 10.0, 3.0
MAX_BODY = 1024 * 1024


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class UpstreamObserver(Protocol):
    """Told about every call to an IdP (the metrics, wired by web/services.py): which
    connector, how long it took, and what went wrong (`timeout`, `unreachable`, `http_4xx`,
    `http_5xx`, `too_large`) or None."""

    def __call__(self, connector: str, seconds: float, error: str | None) -> None: ...


class OutboundHttp:
    """httpx clients, one per proxy, shared by every connector; thread-safe.

    `for_connector(id)` is a view for one connector (the same clients), so each call is
    observed under the connector that made it; `instrument` is applied to each new client
    (OpenTelemetry's httpx instrumentation, when tracing is on)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        timeout: httpx.Timeout | None = None,
        observe: UpstreamObserver | None = None,
        instrument: Callable[[httpx.Client], None] | None = None,
    ) -> None:
        self._env = dict(env)
        self._timeout = timeout
        self._clients: dict[str | None, httpx.Client] = {}
        self._lock = threading.Lock()
        self._observe = observe
        self._instrument = instrument
        self.connector = "other"

    def for_connector(self, connector_id: str) -> OutboundHttp:
        """This client pool, with its calls observed under `connector_id`."""
        view = copy.copy(self)  # shares the clients, their lock and the hooks
        view.connector = connector_id
        return view

    def proxy(self, url: str) -> str | None:
        """The proxy a request to `url` goes through (`None`: direct)."""
        return proxy_for(url, self._env)

    def _client(self, url: str) -> httpx.Client:
        import httpx

        proxy = self.proxy(url)
        with self._lock:
            client = self._clients.get(proxy)
            if client is None:
                # trust_env=False: the proxy choice above is the only one (GLOBAL_AGENT_* too).
                client = httpx.Client(
                    proxy=proxy,
                    timeout=self._timeout or httpx.Timeout(TIMEOUT, connect=CONNECT_TIMEOUT),
                    trust_env=False,
                    follow_redirects=False,
                    headers={"user-agent": "authbridge", "accept": "application/json"},
                )
                if self._instrument is not None:
                    self._instrument(client)
                self._clients[proxy] = client
            return client

    def request(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        """Send a request; a network failure becomes ProviderUnavailable naming `what`."""
        import httpx

        try:
            client = self._client(url)
        except (ValueError, TypeError, httpx.InvalidURL):
            raise ProviderUnavailable(
                "The identity provider cannot be reached right now.",
                f"{what}: the proxy setting for {_origin(url)} is not a valid URL; check "
                "GLOBAL_AGENT_HTTPS_PROXY / HTTPS_PROXY / HTTP_PROXY.",
                code="idp_misconfigured",
            ) from None
        started = time.perf_counter()
        try:
            response = client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            self._observed(started, "timeout")
            raise ProviderUnavailable(
                "The identity provider did not answer in time.",
                f"{what}: timed out reaching {_origin(url)}; check network and proxy settings.",
                code="idp_unreachable",
            ) from None
        except httpx.HTTPError as exc:
            self._observed(started, "unreachable")
            raise ProviderUnavailable(
                "The identity provider cannot be reached right now.",
                f"{what}: cannot reach {_origin(url)} ({type(exc).__name__}); "
                "check the URL, DNS, and HTTPS_PROXY/NO_PROXY.",
                code="idp_unreachable",
            ) from None
        too_large = len(response.content) > MAX_BODY
        status = response.status_code
        self._observed(
            started,
            "too_large"
            if too_large
            else "http_5xx"
            if status >= 500
            else "http_4xx"
            if status >= 400
            else None,
        )
        if too_large:
            raise ProviderUnavailable(
                "The identity provider sent an unexpected answer.",
                f"{what}: response from {_origin(url)} is larger than {MAX_BODY} bytes.",
                code="idp_bad_response",
            )
        return response

    def _observed(self, started: float, error: str | None) -> None:
        if self._observe is not None:
            self._observe(self.connector, time.perf_counter() - started, error)

    def get_json(self, url: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request("GET", url, what=what, **kwargs)
        return json_object(response, what)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The response's JSON object, or ProviderUnavailable saying what came instead."""
    if response.status_code >= 400:
        raise ProviderUnavailable(
            "The identity provider answered with an error.",
            f"{what}: HTTP {response.status_code} from {_origin(str(response.url))}.",
            code="idp_bad_response",
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderUnavailable(
            "The identity provider sent an unexpected answer.",
            f"{what}: {_origin(str(response.url))} did not answer with a JSON object.",
            code="idp_bad_response",
        )
    return body
