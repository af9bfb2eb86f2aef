"""The per-IdP checks against the certified npm oidc-provider's real discovery document:
what its metadata offers decides the flow, domain and groups lines."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.registry import build_connectors
from authbridge.doctor.oidc import check_oidc, clock_check
from authbridge.doctor.report import Check
from tests.conftest import make_settings
from tests.connectors.node_provider import node_provider
from tests.connectors.upstream import APP

CLIENT = {
    "client_id": "authbridge",
    "client_secret": "a-long-enough-client-secret-for-hs-algs",
    "application_type": "native",
    "redirect_uris": [APP + "/v1/oauth/redirect/", APP + "/v1/oauth/callback/"],
    "response_types": ["code", "id_token token"],
    "grant_types": ["authorization_code", "implicit"],
}


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with node_provider([CLIENT], tmp_path_factory.mktemp("doctor-oidc")) as issuer:
        yield issuer


def run(peer: str, sqlite_url: str, name: str = "okta", **env: str) -> dict[str, Check]:
    prefix = f"AUTH__OPENID_CONNECT__{name.upper()}__"
    settings = make_settings(
        sqlite_url,
        **{
            prefix + "ENABLED": "true",
            prefix + "CLIENT_ID": "authbridge",
            prefix + "DISCOVERY_URL": peer,
            **env,
        },
    )
    connectors = build_connectors(settings, {})
    try:
        connector = connectors.by_id[name]
        assert isinstance(connector, OidcConnector)
        return {c.check: c for c in check_oidc(connector, settings)}
    finally:
        connectors.close()


def test_the_implicit_flow_is_probed_with_its_own_response_type(peer: str, sqlite_url: str) -> None:
    checks = run(peer, sqlite_url, AUTH__OPENID_CONNECT__FLOW="implicit")
    assert checks["flow"].status == "ok"
    assert checks["flow"].message == "response_type 'id_token token' (implicit flow)"
    assert checks["redirect_uri"].message == f"the IdP accepts {APP}/v1/oauth/redirect/"


def test_cognito_token_flow_against_an_idp_without_it_fails(peer: str, sqlite_url: str) -> None:
    # The peer's response_types_supported has no bare `token` (OAuth 2.0 implicit without
    # OpenID), which Cognito's preset asks for.
    checks = run(peer, sqlite_url, "cognito", AUTH__OPENID_CONNECT__FLOW="implicit")
    assert checks["flow"].status == "fail"
    assert "needs response_type 'token'" in checks["flow"].message


def test_endpoints_outside_base_domain_fail(peer: str, sqlite_url: str) -> None:
    checks = run(peer, sqlite_url, AUTH__OPENID_CONNECT__OKTA__BASE_DOMAIN="example.com")
    assert checks["endpoints"].status == "fail"
    assert "authorization_endpoint localhost is outside example.com" in checks["endpoints"].message


def test_groups_expected_but_not_requested_is_a_warning(peer: str, sqlite_url: str) -> None:
    # Okta reads groups; the peer offers a `groups` scope the default scopes do not ask for.
    checks = run(peer, sqlite_url)
    assert checks["groups"].status == "warn"
    assert checks["groups"].fix == "add groups to auth.openidConnect.okta.scopes"


def test_no_groups_line_where_groups_are_not_read(peer: str, sqlite_url: str) -> None:
    checks = run(peer, sqlite_url, "custom")
    assert "groups" not in checks


def test_groups_with_insecure_enable_groups_and_the_scope(peer: str, sqlite_url: str) -> None:
    checks = run(
        peer,
        sqlite_url,
        "custom",
        AUTH__OPENID_CONNECT__CUSTOM__INSECURE_ENABLE_GROUPS="true",
        AUTH__OPENID_CONNECT__CUSTOM__SCOPES='["openid", "groups"]',
    )
    assert checks["groups"].status == "ok"


def test_a_configuration_error_is_one_line(peer: str, sqlite_url: str) -> None:
    checks = run(peer, sqlite_url, AUTH__OPENID_CONNECT__OKTA__CLIENT_ID="")
    assert list(checks) == ["config"]
    assert checks["config"].message == "auth.openidConnect.okta: clientId is not set"


def test_an_unknown_client_is_named(peer: str, sqlite_url: str, tmp_path: Path) -> None:
    checks = run(peer, sqlite_url, AUTH__OPENID_CONNECT__OKTA__CLIENT_ID="nobody")
    assert checks["redirect_uri"].status == "fail"
    assert checks["redirect_uri"].message == "the IdP does not know client 'nobody'"


def test_a_silent_login_answer_counts_as_accepted(peer: str, sqlite_url: str) -> None:
    # prompt=none without a session: the IdP answers login_required at our redirect URI
    # (OIDC Core §3.1.2.6), which it would not do for an unregistered one.
    checks = run(peer, sqlite_url, AUTH__OPENID_CONNECT__OKTA__AUTH_URL_PARAMS__PROMPT="none")
    assert checks["redirect_uri"].status == "ok"
    assert checks["redirect_uri"].message.endswith("(login_required)")


def test_a_response_type_the_client_may_not_use_is_named(peer: str, sqlite_url: str) -> None:
    # The IdP offers the hybrid `code id_token`, but this client is not registered for it:
    # the redirect URI is accepted and the request refused there (RFC 6749 §4.1.2.1).
    checks = run(
        peer,
        sqlite_url,
        AUTH__OPENID_CONNECT__FLOW="implicit",
        AUTH__OPENID_CONNECT__OKTA__AUTH_URL_PARAMS__RESPONSE_TYPE="code id_token",
    )
    assert checks["flow"].status == "ok"
    redirect = checks["redirect_uri"]
    assert redirect.status == "fail"
    assert "is registered, but the IdP refused the sign-in request" in redirect.message
    assert "response_type is not allowed for this client" in redirect.message


def test_a_slow_answer_is_not_a_skewed_clock() -> None:
    # RFC 9110 §5.6.7: Date has whole seconds, stamped somewhere within our round trip.
    date = formatdate(1_000_000, usegmt=True)
    slow = clock_check("okta", date, 999_995.0, 1_000_005.0, 0)
    assert slow.status == "ok" and slow.message == "clocks agree (to within 11 s)"
    ahead = clock_check("okta", formatdate(1_000_300, usegmt=True), 1_000_000.0, 1_000_001.0, 0)
    assert ahead.status == "fail"
    assert ahead.message.startswith("the IdP's clock is at least 299 s ahead of ours")
    behind = clock_check("okta", date, 1_000_030.0, 1_000_031.0, 60)
    assert behind.status == "warn" and "at least 29 s behind" in behind.message
