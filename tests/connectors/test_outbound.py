"""Outbound HTTP: proxies (a real proxy on loopback), and an IdP that goes down and comes back."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from oidc_provider_mock import User, run_server_in_thread

from authbridge.connectors.discovery import DiscoveryCache
from authbridge.connectors.http import OutboundHttp
from authbridge.connectors.jwks import IdpKeys
from authbridge.middleware import JwksPolicy
from tests.connectors.conftest import StaticIdp
from tests.connectors.proxy import ForwardProxy
from tests.connectors.test_oidc_code_flow import env_for, login, register
from tests.connectors.upstream import approve_at_mock, land, start
from tests.middleware.proxy_table import PROXY_TABLE
from tests.web.conftest import AppFactory
from tests.web.metrics import Scrape, scrape
from tests.web.test_pages import sign_up

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

USERS = [User(sub="ada", claims={"email": "ada@example.com", "email_verified": True})]


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [pytest.param(url, env, expected, id=name) for name, url, env, expected in PROXY_TABLE],
)
def test_proxy_choice(url: str, env: dict[str, str], expected: str | None) -> None:
    """The table the middleware's JWKS fetcher is tested with (one implementation)."""
    assert OutboundHttp(env).proxy(url) == expected


@pytest.mark.parametrize("value", ["", "  ", "\t"])
def test_a_blank_proxy_variable_means_direct(static_idp: StaticIdp, value: str) -> None:
    """``HTTPS_PROXY="  "`` once made every IdP call fail while the middleware went direct."""
    static_idp.routes["/doc"] = {"ok": True}
    env = {name: value for name in ("HTTP_PROXY", "HTTPS_PROXY", "GLOBAL_AGENT_HTTP_PROXY")}
    http = OutboundHttp(env)
    assert http.get_json(static_idp.url + "/doc", what="test") == {"ok": True}
    http.close()


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread(user_claims=USERS) as server:
        yield f"http://localhost:{server.server_port}"


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "GLOBAL_AGENT_HTTP_PROXY"])
def test_every_idp_call_goes_through_the_proxy(
    provider: str, app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    with ForwardProxy() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        app = app_factory(**env_for(provider, register(provider)))
        assert login(app).status_code == 303
    targets = {line.split(" ", 1)[1].split("?")[0].removeprefix(provider) for line in proxy.seen}
    assert {"/.well-known/openid-configuration", "/jwks", "/oauth2/token"} <= targets


def test_no_proxy_bypasses_the_proxy(
    provider: str, app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "localhost")
        app = app_factory(**env_for(provider, register(provider)))
        assert login(app).status_code == 303
    assert proxy.seen == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        port: int = sock.getsockname()[1]
        return port


def _button(app: TestClient) -> str:
    page = app.get("/login").text
    start = page.index("Log in with Corp SSO")
    return page[start - 200 : start + 300]


def test_an_idp_outage_breaks_only_its_button_and_heals(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every page asks the IdP again at once; production waits `ttl` / `retry_after`.
    monkeypatch.setattr(DiscoveryCache, "ttl", 0.0)
    monkeypatch.setattr(DiscoveryCache, "retry_after", 0.0)
    monkeypatch.setattr(IdpKeys, "policy", JwksPolicy(cooldown=0.0))
    port = _free_port()
    issuer = f"http://localhost:{port}"
    with run_server_in_thread(port=port, user_claims=USERS):
        # Unregistered clients are accepted by the mock, so the restarted IdP knows ours too.
        client = {"client_id": "authbridge", "client_secret": "s3cret"}
        app = app_factory(**env_for(issuer, client))
        assert 'href="/v1/oauth/start?provider=corp' in _button(app)
        assert login(app).status_code == 303
        app.cookies.clear()

    # Down: the button says so, starting a login ends on a clear page, local login works.
    button = _button(app)
    assert 'aria-disabled="true"' in button and "cannot be reached" in button
    response = app.get("/v1/oauth/start?provider=corp", follow_redirects=False)
    assert response.status_code == 502 and "cannot be reached" in response.text
    assert sign_up(app, "local@example.com").status_code == 303
    app.cookies.clear()

    # Back (a new process on the same port, with new keys): no restart of authbridge.
    with run_server_in_thread(port=port, user_claims=USERS):
        assert 'href="/v1/oauth/start?provider=corp' in _button(app)
        assert login(app).status_code == 303


def test_a_failing_token_endpoint_marks_the_button_until_the_idp_answers(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Production caching (discovery kept an hour); only the back-off is pinned for the test.
    monkeypatch.setattr(DiscoveryCache, "retry_after", 3600.0)
    port = _free_port()
    issuer = f"http://localhost:{port}"
    app = app_factory(**env_for(issuer, {"client_id": "authbridge", "client_secret": "s"}))
    with run_server_in_thread(port=port, user_claims=USERS):
        authorize = start(app, "corp")
        location = approve_at_mock(authorize, "ada")
    # The IdP went down between its login page and our token request.
    response = land(app, location)
    assert response.status_code == 502 and "cannot be reached" in response.text
    assert 'aria-disabled="true"' in _button(app)
    monkeypatch.setattr(DiscoveryCache, "retry_after", 0.0)
    with run_server_in_thread(port=port, user_claims=USERS):
        assert 'href="/v1/oauth/start?provider=corp' in _button(app)


def test_a_black_holed_idp_does_not_hold_the_login_page(app_factory: AppFactory) -> None:
    # A listening socket that never answers: connects succeed, reads never return.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        port = hole.getsockname()[1]
        app = app_factory(
            **env_for(f"http://127.0.0.1:{port}", {"client_id": "c", "client_secret": "s"})
        )
        page = app.get("/login")
        assert page.status_code == 200 and 'action="/login"' in page.text
        connector = app.app.state.services.connectors.get("corp")  # type: ignore[attr-defined]
        probe = connector.discovery._probe
        assert probe is not None and probe.is_alive()  # the page did not wait for it


def _on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_button_status_is_never_waited_for_on_the_event_loop(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A button's status may wait (probe_budget) on a black-holed IdP: doing that on the event
    # loop would stall every other request of the process, not just this page.
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        port = hole.getsockname()[1]
        app = app_factory(
            **env_for(f"http://127.0.0.1:{port}", {"client_id": "c", "client_secret": "s"})
        )
        services = app.app.state.services  # type: ignore[attr-defined]
        listing = services.login_providers
        where: list[bool] = []

        def recorded() -> object:
            where.append(_on_event_loop())
            return listing()

        monkeypatch.setattr(services, "login_providers", recorded)
        assert app.get("/login").status_code == 200
    assert where == [False]


@pytest.mark.parametrize("variable", ["GLOBAL_AGENT_HTTPS_PROXY", "HTTPS_PROXY"])
def test_https_idps_are_reached_through_a_connect_tunnel(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # The name is resolved by the proxy, never locally (a closed network has no DNS).
    with ForwardProxy() as proxy:
        monkeypatch.setenv(variable, proxy.url)
        app = app_factory(
            **env_for("https://idp.invalid", {"client_id": "c", "client_secret": "s"})
        )
        page = app.get("/login").text
    assert proxy.seen == ["CONNECT idp.invalid:443"]
    assert "cannot be reached" in page


def test_calls_to_an_idp_are_timed_and_failures_counted_by_connector(
    static_idp: StaticIdp, app_factory: AppFactory
) -> None:
    """connectors/http.py observes every call under the connector that made it."""
    static_idp.routes["/.well-known/openid-configuration"] = lambda _h: (503, {"down": True})
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()  # nothing listens there: connection refused
    env = {
        "AUTH__OPENID_CONNECT__CORP__ENABLED": "true",
        "AUTH__OPENID_CONNECT__CORP__CLIENT_ID": "authbridge",
        "AUTH__OPENID_CONNECT__CORP__CLIENT_SECRET": "s",
        "AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL": static_idp.url,
        "AUTH__OPENID_CONNECT__GONE__ENABLED": "true",
        "AUTH__OPENID_CONNECT__GONE__CLIENT_ID": "authbridge",
        "AUTH__OPENID_CONNECT__GONE__CLIENT_SECRET": "s",
        "AUTH__OPENID_CONNECT__GONE__DISCOVERY_URL": dead,
    }
    client = app_factory(**env)
    for provider in ("corp", "gone"):
        refused = client.get(f"/v1/oauth/start?provider={provider}", follow_redirects=False)
        assert refused.status_code >= 400
    metrics = scrape(client)
    latency = "authbridge_upstream_request_duration_seconds_count"
    assert (
        metrics.value(latency, connector="corp")
        == static_idp.count("/.well-known/openid-configuration")
        == 1
    )
    assert metrics.value(latency, connector="gone") == 1
    errors = "authbridge_upstream_errors_total"
    assert metrics.value(errors, connector="corp", error="http_5xx") == 1
    assert metrics.value(errors, connector="gone", error="unreachable") == 1


def test_an_unconfigured_connector_is_labelled_other(static_idp: StaticIdp) -> None:
    from authbridge.web.observability import Metrics

    static_idp.routes["/doc"] = {"ok": True}
    metrics = Metrics()
    metrics.label_values(clients=(), connectors=("corp",))
    http = OutboundHttp({}, observe=metrics.upstream)
    http.for_connector("corp").get_json(static_idp.url + "/doc", what="test")
    http.for_connector("removed-since").get_json(static_idp.url + "/doc", what="test")
    http.close()
    from prometheus_client import generate_latest

    scraped = Scrape(generate_latest(metrics.registry).decode())
    latency = "authbridge_upstream_request_duration_seconds_count"
    assert scraped.value(latency, connector="corp") == 1
    assert scraped.value(latency, connector="other") == 1
