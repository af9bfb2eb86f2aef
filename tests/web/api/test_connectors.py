"""`/api/v1/connectors`: the configured IdPs (enabled and not), the redirect URI to
register, and a status taken from what authbridge already knows: reading never probes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.connectors.conftest import StaticIdp, static_idp  # noqa: F401 (fixture)
from tests.web.api.conftest import Api, assert_problem

WK = "/.well-known/openid-configuration"


@pytest.fixture
def api(sqlite_url: str, static_idp: StaticIdp) -> Iterator[Api]:  # noqa: F811
    settings = make_settings(
        sqlite_url,
        AUTH__OPENID_CONNECT__FLOW="code",
        AUTH__OPENID_CONNECT__CORP__ENABLED="true",
        AUTH__OPENID_CONNECT__CORP__CLIENT_ID="c1",
        AUTH__OPENID_CONNECT__CORP__DISPLAY_NAME="Corp SSO",
        AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL=static_idp.url,
        AUTH__OPENID_CONNECT__AUTH0__ENABLED="false",
        AUTH__OPENID_CONNECT__AUTH0__CLIENT_ID="c2",
    )
    with started_clients() as start:
        yield Api(start(create_app(settings)))


def _discovery(api: Api) -> object:
    return api.client.app.state.services.connectors.by_id["corp"].discovery  # type: ignore[attr-defined]


def test_connectors_are_listed_without_probing_an_idp(api: Api, static_idp: StaticIdp) -> None:  # noqa: F811
    response = api.get("/api/v1/connectors")
    assert response.status_code == 200
    items = {c["id"]: c for c in response.json()["items"]}
    assert items["corp"] == {
        "id": "corp",
        "type": "oidc",
        "displayName": "Corp SSO",
        "enabled": True,
        "redirectUri": "http://localhost:8080/v1/oauth/callback/",
        "status": {"status": "unknown", "checkedAt": None, "lastError": None, "lastErrorAt": None},
    }
    assert items["auth0"]["enabled"] is False and items["auth0"]["type"] == "auth0"
    assert static_idp.count(WK) == 0  # no probe on read
    assert_problem(api.get("/api/v1/connectors/nope"), 404, "not-found")


def test_status_follows_the_last_call(api: Api, static_idp: StaticIdp) -> None:  # noqa: F811
    static_idp.routes[WK] = lambda _handler: (503, {"error": "down"})
    with pytest.raises(Exception):  # noqa: B017 - the connector's own error
        _discovery(api).get()  # type: ignore[attr-defined]
    failing = api.get("/api/v1/connectors/corp").json()["status"]
    assert failing["status"] == "failing"
    assert failing["lastError"] == "idp_bad_response" and failing["lastErrorAt"] is not None

    static_idp.routes[WK] = {
        "issuer": static_idp.url,
        "authorization_endpoint": f"{static_idp.url}/authorize",
        "token_endpoint": f"{static_idp.url}/token",
        "jwks_uri": f"{static_idp.url}/jwks",
    }
    discovery = _discovery(api)
    discovery._failed_at = None  # type: ignore[attr-defined]  # skip the back-off
    discovery.get()  # type: ignore[attr-defined]
    ok = api.get("/api/v1/connectors/corp").json()["status"]
    assert ok["status"] == "ok" and ok["checkedAt"] is not None
    # The last failure stays visible after recovery.
    assert ok["lastError"] == "http_5xx"
    hits = static_idp.count(WK)
    api.get("/api/v1/connectors")
    assert static_idp.count(WK) == hits


def test_ldap_directories_are_listed_with_their_status(sqlite_url: str) -> None:
    """A password connector has no redirect URI; its status is its directory's last call."""
    import json

    from authbridge.connectors import ProviderUnavailable
    from tests.ldapserver import closed_port

    block = {
        "host": f"127.0.0.1:{closed_port()}",
        "insecureNoSSL": True,
        "userSearch": {"baseDN": "dc=example,dc=org", "username": "uid"},
    }
    ldap = {"corp": {**block, "displayName": "Corp LDAP"}, "old": {**block, "enabled": False}}
    settings = make_settings(sqlite_url, AUTH__LDAP=json.dumps(ldap))
    with started_clients() as start:
        api = Api(start(create_app(settings)))
        items = {c["id"]: c for c in api.get("/api/v1/connectors").json()["items"]}
        assert items["corp"]["type"] == "ldap" and items["corp"]["redirectUri"] == ""
        assert items["corp"]["displayName"] == "Corp LDAP" and items["corp"]["enabled"]
        assert items["old"]["enabled"] is False and items["old"]["type"] == "ldap"
        connector = api.client.app.state.services.connectors.password("corp")  # type: ignore[attr-defined]
        with pytest.raises(ProviderUnavailable):
            connector.login("alice", "a-password")
        status = api.get("/api/v1/connectors/corp").json()["status"]
        assert status["status"] == "failing" and status["lastError"] == "unreachable"
