"""GitHub's lines: credentials, the REST API reached through the configured proxy, and the
callback URL its OAuth app must name."""

from __future__ import annotations

from authbridge.connectors.github import GithubConnector
from authbridge.connectors.registry import build_connectors
from authbridge.doctor.github import check_github
from authbridge.doctor.report import Check
from tests.conftest import make_settings
from tests.connectors.conftest import StaticIdp
from tests.connectors.conftest import static_idp as static_idp
from tests.connectors.node_provider import free_port
from tests.connectors.proxy import ForwardProxy
from tests.connectors.upstream import APP

# The first members of GitHub's REST API root (GET https://api.github.com/).
API_ROOT = {
    "current_user_url": "https://api.github.com/user",
    "emails_url": "https://api.github.com/user/emails",
}


def run(sqlite_url: str, env: dict[str, str] | None = None, **settings: str) -> dict[str, Check]:
    given = {
        "AUTH__GITHUB__ENABLED": "true",
        "AUTH__GITHUB__CLIENT_ID": "gh-client",
        "AUTH__GITHUB__CLIENT_SECRET": "gh-secret",
        **settings,
    }
    configured = make_settings(sqlite_url, **given)
    connectors = build_connectors(configured, env or {})
    try:
        connector = connectors.by_id["github"]
        assert isinstance(connector, GithubConnector)
        return {c.check: c for c in check_github(connector, configured)}
    finally:
        connectors.close()


def test_the_api_through_the_proxy(static_idp: StaticIdp, sqlite_url: str) -> None:
    static_idp.routes["/"] = API_ROOT
    with ForwardProxy() as proxy:
        checks = run(sqlite_url, {"HTTP_PROXY": proxy.url}, AUTH__GITHUB__API_URL=static_idp.url)
    assert checks["api"].status == "ok"
    assert checks["api"].message == f"{static_idp.url}/ through proxy {proxy.url} answered HTTP 200"
    assert proxy.seen == [f"GET {static_idp.url}/"]
    assert f"must be {APP}/v1/oauth/callback/" in checks["redirect_uri"].message


def test_an_api_url_that_is_not_the_api_fails(static_idp: StaticIdp, sqlite_url: str) -> None:
    checks = run(sqlite_url, AUTH__GITHUB__API_URL=static_idp.url + "/not-the-api")
    assert checks["api"].status == "fail" and "HTTP 404" in checks["api"].message


def test_an_unreachable_api_fails(sqlite_url: str) -> None:
    checks = run(sqlite_url, AUTH__GITHUB__API_URL=f"http://127.0.0.1:{free_port()}")
    assert checks["api"].status == "fail" and "cannot reach" in checks["api"].message


def test_missing_credentials(sqlite_url: str) -> None:
    checks = run(sqlite_url, AUTH__GITHUB__CLIENT_SECRET="")
    assert list(checks) == ["config"] and checks["config"].status == "fail"
