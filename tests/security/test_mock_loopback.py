"""The mock IdP signs in whoever is typed: it answers callers on this machine only, unless
`auth.mock.allowRemote: true` (issue 15). Before, `serve` on its default 0.0.0.0 offered it
to the whole network whenever no upstream IdP was configured."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import LOCAL
from tests.security.conftest import AppFactory
from tests.security.test_flows import finish_mock, start_mock
from tests.web.test_pages import csrf

MOCK = "/v1/oauth/mock/authorize"
REMOTE = ("203.0.113.9", 50000)  # TEST-NET-3 (RFC 5737): any address not this machine's


def _as(app_client: TestClient, peer: tuple[str, int]) -> TestClient:
    return TestClient(
        app_client.app, base_url="http://localhost:8080", raise_server_exceptions=False, client=peer
    )


def test_a_remote_caller_cannot_use_the_mock_idp(app_factory: AppFactory) -> None:
    app = app_factory()
    remote = _as(app, REMOTE)
    start = remote.get(
        "/v1/oauth/start", params={"provider": "mock", "next": "/account"}, follow_redirects=False
    )
    state = start.headers["location"].split("state=", 1)[1]
    assert remote.get(MOCK, params={"state": state}).status_code == 404
    token = csrf(remote.get("/login").text)
    signed_in = finish_mock(remote, state, token, "mallory@example.com")
    assert signed_in.status_code == 404
    assert "authbridge_session" not in remote.cookies
    # This machine's browser still can.
    local_state, local_token = start_mock(app)
    assert finish_mock(app, local_state, local_token).status_code == 303


def test_a_local_proxy_does_not_make_a_remote_caller_local(app_factory: AppFactory) -> None:
    app = app_factory()
    proxied = _as(app, LOCAL)
    page = proxied.get(MOCK, params={"state": "s"}, headers={"x-forwarded-for": REMOTE[0]})
    assert page.status_code == 404
    # A trusted proxy's X-Forwarded-For is believed, both ways.
    trusted = _as(app_factory(SERVER__TRUSTED_PROXIES='["127.0.0.1"]'), LOCAL)
    assert trusted.get(MOCK, headers={"x-forwarded-for": REMOTE[0]}).status_code == 404
    assert trusted.get(MOCK, headers={"x-forwarded-for": "127.0.0.1"}).status_code == 200


def test_allow_remote_opens_the_mock_idp_to_other_machines(app_factory: AppFactory) -> None:
    app = app_factory(AUTH__MOCK__ALLOW_REMOTE="true")
    remote = _as(app, REMOTE)
    state, _token = start_mock(app)
    assert remote.get(MOCK, params={"state": state}).status_code == 200
