"""OIDC Discovery 1.0 §4: URL completion, https only, exact issuer, endpoint domains."""

from __future__ import annotations

import pytest

from authbridge.connectors import discovery as discovery_module
from authbridge.connectors.discovery import DiscoveryCache, discovery_url, parse_metadata
from authbridge.connectors.errors import ProviderUnavailable
from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.presets import Auth0Connector
from tests.connectors.conftest import StaticIdp
from tests.connectors.forge import Signer
from tests.connectors.oidc_fakes import connector, discovery

WK = "/.well-known/openid-configuration"


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("https://tenant.auth0.com", "https://tenant.auth0.com" + WK),
        ("https://tenant.auth0.com/", "https://tenant.auth0.com" + WK),
        ("https://x.okta.com/oauth2/default" + WK, "https://x.okta.com/oauth2/default" + WK),
        ("http://127.0.0.1:5556/dex", "http://127.0.0.1:5556/dex" + WK),
        ("http://localhost:9000" + WK, "http://localhost:9000" + WK),
    ],
)
def test_discovery_url_is_completed(configured: str, expected: str) -> None:
    assert discovery_url(configured) == expected


@pytest.mark.parametrize(
    "configured",
    ["http://idp.example.com", "ftp://idp.example.com", "idp.example.com", "https://x?y=1"],
)
def test_only_https_or_loopback_http(configured: str) -> None:
    with pytest.raises(ProviderUnavailable) as info:
        discovery_url(configured)
    assert info.value.code == "idp_misconfigured"


def test_configured_issuer_must_match_exactly_and_says_trailing_slash() -> None:
    doc = discovery("https://trial-1839456.okta.com")
    with pytest.raises(ProviderUnavailable) as info:
        parse_metadata(doc, "https://trial-1839456.okta.com/", exact=True)
    assert "trailing slash" in str(info.value.hint)
    assert "'https://trial-1839456.okta.com/'" in str(info.value.hint)


def test_other_issuer_is_refused_without_the_slash_hint() -> None:
    with pytest.raises(ProviderUnavailable) as info:
        parse_metadata(discovery("https://evil.example"), "https://idp.example", exact=False)
    assert "issuer mismatch" in str(info.value.hint)
    assert "trailing slash" not in str(info.value.hint)


def test_derived_issuer_tolerates_only_a_trailing_slash() -> None:
    # Auth0: discoveryUrl https://<tenant>.auth0.com, issuer "https://<tenant>.auth0.com/".
    doc = discovery("https://tenant.auth0.com/")
    metadata = parse_metadata(doc, "https://tenant.auth0.com", exact=False)
    assert metadata.issuer == "https://tenant.auth0.com/"  # tokens must then carry this one


def test_auth0_base_url_against_a_live_document(static_idp: StaticIdp) -> None:
    signer = Signer(static_idp.url + "/", "client-abc")
    static_idp.routes[WK] = discovery(static_idp.url + "/")
    static_idp.routes["/jwks"] = signer.jwks()
    auth0 = connector(Auth0Connector, static_idp, discovery_url=static_idp.url)
    assert auth0.problem() is None
    assert auth0.metadata().issuer == static_idp.url + "/"


def test_pachyderm_trailing_slash_issuer_is_a_clear_problem(static_idp: StaticIdp) -> None:
    static_idp.routes[WK] = discovery(static_idp.url)
    okta = connector(OidcConnector, static_idp, issuer=static_idp.url + "/", discovery_url=None)
    assert okta.problem() is not None
    assert okta.discovery.problem is not None
    assert "trailing slash" in str(okta.discovery.problem.hint)


def test_endpoints_outside_the_issuer_domain_are_refused(static_idp: StaticIdp) -> None:
    port = static_idp.server.server_address[1]
    static_idp.routes[WK] = discovery(static_idp.url, base=f"http://localhost:{port}")
    corp = connector(OidcConnector, static_idp)
    with pytest.raises(ProviderUnavailable) as info:
        corp.metadata()
    assert "baseDomain" in str(info.value.hint)
    relaxed = connector(OidcConnector, static_idp, insecure_skip_issuer_callback_domain_check=True)
    assert relaxed.problem() is None
    widened = connector(OidcConnector, static_idp, base_domain="localhost")
    assert widened.metadata().token_endpoint == f"http://localhost:{port}/token"


def test_discovery_errors_are_problems_not_crashes(static_idp: StaticIdp) -> None:
    static_idp.routes[WK] = {"issuer": static_idp.url}
    assert connector(OidcConnector, static_idp).problem() is not None
    static_idp.routes[WK] = b"<html>not json</html>"
    assert connector(OidcConnector, static_idp).problem() is not None
    assert connector(OidcConnector, static_idp, client_id=None).problem() is not None
    assert connector(OidcConnector, static_idp, discovery_url="http://idp.example").problem()


@pytest.mark.parametrize(
    ("cache_control", "fresh_for"),
    [("max-age=120", 120), ("public, max-age=5", 60), ("no-store", 60), (None, 3600)],
)
def test_discovery_honours_cache_control_within_bounds(
    static_idp: StaticIdp,
    monkeypatch: pytest.MonkeyPatch,
    cache_control: str | None,
    fresh_for: float,
) -> None:
    """RFC 9111 §5.2.2.1 max-age, parsed as the middleware's JWKS cache parses it, clamped
    to [1 min, 1 h] so that an IdP can neither make us fetch per login nor pin a document."""
    now = [1000.0]
    monkeypatch.setattr(discovery_module.time, "monotonic", lambda: now[0])
    static_idp.routes[WK] = discovery(static_idp.url)
    if cache_control:
        static_idp.headers[WK] = {"Cache-Control": cache_control}
    cache = DiscoveryCache(
        OutboundHttp({}), static_idp.url + WK, static_idp.url, exact=False, name="t"
    )
    cache.get()
    now[0] += fresh_for - 1
    cache.get()
    assert static_idp.count(WK) == 1
    now[0] += 1
    cache.get()
    assert static_idp.count(WK) == 2
