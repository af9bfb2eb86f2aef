"""The /v1/oauth/* routes: the built-in mock IdP, and bad input ending on clear pages."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from structlog.testing import capture_logs

from authbridge.clock import utcnow
from authbridge.storage.models import KeyValue
from tests.web.conftest import AppFactory
from tests.web.test_pages import csrf
from tests.wiring import system_roles


def mock_login(client: TestClient, email: str, groups: str = "", next_url: str = "") -> str:
    start = client.get(f"/v1/oauth/start?provider=mock&next={next_url}", follow_redirects=False)
    page = client.get(start.headers["location"])
    state = re.search(r'name="state" value="([^"]+)"', page.text)
    assert state is not None
    response = client.post(
        "/v1/oauth/mock/authorize",
        data={
            "csrf_token": csrf(page.text),
            "state": state.group(1),
            "email": email,
            "name": "Ada",
            "groups": groups,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def test_mock_idp_is_offered_with_no_upstream_and_signs_in(client: TestClient) -> None:
    assert "Log in with Mock IdP" in client.get("/login").text
    assert mock_login(client, "ada@example.com", "eng, data", "/account?tab=1") == "/account?tab=1"
    page = client.get("/account").text
    assert "ada@example.com" in page and "eng" in page and "data" in page


def test_mock_identities_never_become_initial_admins(app_factory: AppFactory) -> None:
    client = app_factory(AUTHORIZER__INITIAL_ADMINS='["boss@example.com"]')
    mock_login(client, "boss@example.com")
    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    user = ready.storage.users.by_identity("mock", "boss@example.com")
    assert user is not None and system_roles(ready.storage, user.id) == ["viewer"]


def test_mock_idp_routes_are_gone_once_an_idp_is_configured(app_factory: AppFactory) -> None:
    client = app_factory(
        AUTH__OPENID_CONNECT__OKTA__ENABLED="true",
        AUTH__OPENID_CONNECT__OKTA__CLIENT_ID="x",
        AUTH__OPENID_CONNECT__OKTA__DISCOVERY_URL="http://127.0.0.1:9",
    )
    assert client.get("/v1/oauth/mock/authorize?state=x").status_code == 404
    assert client.post("/v1/oauth/mock/authorize", data={"state": "x"}).status_code == 404
    assert client.get("/v1/oauth/start?provider=mock").status_code == 404
    # The unreachable IdP shows its problem; local sign-in stays.
    page = client.get("/login").text
    assert "cannot be reached" in page and 'action="/login"' in page


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("GET", "/v1/oauth/start?provider=nope", None),
        ("GET", "/v1/oauth/start", None),
        ("GET", "/v1/oauth/callback/", None),
        ("GET", "/v1/oauth/callback/?state=forged&code=x", None),
        ("GET", "/v1/oauth/callback?error=access_denied", None),
        ("GET", "/v1/oauth/callback/?state=" + "s" * 5000, None),
        ("GET", "/v1/oauth/redirect/?error=login_required&state=x", None),
        ("POST", "/v1/oauth/redirect/", {"state": "x", "authbridge_relayed": "1"}),
        ("POST", "/v1/oauth/redirect/", {f"f{i}": "v" for i in range(50)}),
        (
            "POST",
            "/v1/oauth/redirect",
            {"id_token": "a.b.c", "state": "", "authbridge_relayed": "1"},
        ),
    ],
)
def test_bad_input_ends_on_a_clear_4xx_page(
    client: TestClient, method: str, url: str, data: dict[str, str] | None
) -> None:
    response = client.request(method, url, data=data, follow_redirects=False)
    assert 400 <= response.status_code < 500, response.text
    assert "Traceback" not in response.text
    assert 'role="alert"' in response.text


def test_login_required_is_explained(client: TestClient) -> None:
    with capture_logs() as logs:
        response = client.get("/v1/oauth/callback/?error=login_required&error_description=x")
    assert "sign in again" in response.text
    # The operator's diagnostic is logged under the page's reference, not shown.
    assert "authUrlParams" not in response.text
    request_id = response.headers["x-request-id"]
    assert f"<code>{request_id}</code>" in response.text
    assert any("authUrlParams" in str(e.get("diagnostic")) for e in logs)


def test_abandoned_logins_expire_in_storage_and_are_collected(client: TestClient) -> None:
    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    start = client.get("/v1/oauth/start?provider=mock", follow_redirects=False)
    state = re.search(r"state=([^&]+)", start.headers["location"])
    assert state is not None
    client.get("/v1/oauth/start?provider=mock", follow_redirects=False)
    with ready.storage.db.session() as session:
        rows = session.query(KeyValue).filter(KeyValue.name.startswith("oauth-login:")).all()
        assert len(rows) == 2 and all(row.expires_at is not None for row in rows)
    # Both logins lapse (ten minutes): refused at once, deleted by the next collection.
    with ready.storage.db.session() as session:
        session.query(KeyValue).filter(KeyValue.name.startswith("oauth-login:")).update(
            {KeyValue.expires_at: utcnow() - timedelta(minutes=1)}
        )
    response = client.get(f"/v1/oauth/callback/?state={state.group(1)}&code=x")
    assert response.status_code == 400 and "expired" in response.text
    assert ready.storage.values.garbage_collect(utcnow()) == 2
    with ready.storage.db.session() as session:
        assert session.query(KeyValue).filter(KeyValue.name.startswith("oauth-login:")).count() == 0


def mock_authorize(client: TestClient, email: str, accept: str = "*/*") -> Response:
    """The mock IdP's consent form posted for `email`: the callback's answer."""
    start = client.get("/v1/oauth/start?provider=mock", follow_redirects=False)
    page = client.get(start.headers["location"])
    state = re.search(r'name="state" value="([^"]+)"', page.text)
    assert state is not None
    return client.post(
        "/v1/oauth/mock/authorize",
        data={"csrf_token": csrf(page.text), "state": state.group(1), "email": email},
        headers={"accept": accept},
        follow_redirects=False,
    )


def test_mock_follows_local_signup_off(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__ALLOW_SIGNUP="false")
    response = mock_authorize(client, "x@example.com")
    assert response.status_code == 403 and "turned off" in response.text


def test_a_bad_proxy_setting_is_a_problem_not_a_crash(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "::not a url::")
    client = app_factory(
        AUTH__OPENID_CONNECT__CORP__ENABLED="true",
        AUTH__OPENID_CONNECT__CORP__CLIENT_ID="x",
        AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL="http://127.0.0.1:9",
    )
    page = client.get("/login")
    assert page.status_code == 200 and 'aria-disabled="true"' in page.text


@pytest.mark.parametrize("accept", ["text/html,application/xhtml+xml", "application/json"])
def test_an_authoritative_source_refuses_with_a_page_or_json(
    app_factory: AppFactory, accept: str
) -> None:
    # The mock IdP bound to the okta SCIM source, which is authoritative and provisioned
    # no one: the login is refused, as a page for browsers and JSON for programs.
    client = app_factory(SCIM__OKTA__CONNECTOR_ID="mock", SCIM__OKTA__AUTHORITATIVE="true")
    response = mock_authorize(client, "x@example.com", accept=accept)
    assert response.status_code == 403
    if accept.startswith("text/html"):
        assert response.headers["content-type"].startswith("text/html")
        assert "has not given you an account here" in response.text
        assert "scim.okta.authoritative" not in response.text  # the operator's: logged
    else:
        body = response.json()
        assert body["error"] == "sign_in_refused"
        assert "has not given you an account here" in body["error_description"]
    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    assert ready.storage.users.count() == 0


def test_an_admin_whose_idp_proved_no_second_factor_is_refused(app_factory: AppFactory) -> None:
    """`mfaRequiredForAdmins` for an IdP's account: the upstream must show a second
    factor (amr), else the sign-in is refused with a page that says why; people who
    administer nothing are not affected."""
    client = app_factory(AUTH__LOCAL__MFA_REQUIRED_FOR_ADMINS="true")
    assert mock_login(client, "boss@example.com") == "/account"
    ready = client.app.state.services.ready()  # type: ignore[attr-defined]
    user = ready.storage.users.by_identity("mock", "boss@example.com")
    assert user is not None
    ready.bindings.grant("admin", user_id=user.id, origin="test")
    client.cookies.clear()
    start = client.get("/v1/oauth/start?provider=mock", follow_redirects=False)
    page = client.get(start.headers["location"])
    state = re.search(r'name="state" value="([^"]+)"', page.text)
    assert state is not None
    refused = client.post(
        "/v1/oauth/mock/authorize",
        data={"csrf_token": csrf(page.text), "state": state[1], "email": "boss@example.com"},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert "Administrators must sign in with a second factor" in refused.text
    assert "authbridge_session" not in client.cookies
    assert mock_login(client, "someone@example.com") == "/account"
