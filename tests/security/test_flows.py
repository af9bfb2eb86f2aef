"""Red team: login CSRF, fixation, open redirects, throttling and headers on the pages and
the `/v1/oauth/*` flows (with the built-in mock IdP standing in for an upstream)."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from tests.conftest import LOCAL
from tests.security.conftest import AppFactory
from tests.web.test_pages import PASSWORD, csrf, sign_in, sign_up

OPEN_REDIRECTS = [
    "//evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "https://evil.example",
    "http:evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/\r\nSet-Cookie: x=1",
    " //evil.example",
    "javascript:alert(1)",
    "evil.example",
    "\u3002/evil.example",
    "/" * 3 + "evil.example",
]


def _location_is_local(location: str) -> bool:
    return location.startswith("/") and not location.startswith(("//", "/\\"))


def start_mock(client: TestClient, next_url: str = "/account") -> tuple[str, str]:
    """Begin a mock-IdP login; the state and the mock's CSRF token."""
    start = client.get(
        "/v1/oauth/start", params={"provider": "mock", "next": next_url}, follow_redirects=False
    )
    assert start.status_code == 303
    location = start.headers["location"]
    page = client.get(location)
    return location.split("state=", 1)[1], csrf(page.text)


def finish_mock(client: TestClient, state: str, token: str, email: str = "mo@example.com"):
    return client.post(
        "/v1/oauth/mock/authorize",
        data={"state": state, "email": email, "csrf_token": token},
        follow_redirects=False,
    )


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_no_open_redirect_through_password_sign_in(client: TestClient, target: str) -> None:
    sign_up(client)
    client.cookies.clear()
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": "ada@example.com",
            "password": PASSWORD,
            "next": target,
            "csrf_token": csrf(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert _location_is_local(response.headers["location"])
    assert "\n" not in response.headers["location"]
    signed_in = client.get("/login", params={"next": target}, follow_redirects=False)
    assert _location_is_local(signed_in.headers["location"])


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_no_open_redirect_through_idp_start(client: TestClient, target: str) -> None:
    state, token = start_mock(client, target)
    done = finish_mock(client, state, token)
    assert done.status_code == 303
    assert _location_is_local(done.headers["location"])


def test_state_from_another_browser_is_refused_and_not_burnt(app_factory: AppFactory) -> None:
    """Login CSRF (RFC 6749 §10.12): an attacker's own authorization response replayed in
    the victim's browser must not sign the victim in, nor spend the attacker's state."""
    attacker = app_factory()
    state, token = start_mock(attacker)
    victim = TestClient(
        attacker.app,
        base_url="http://localhost:8080",
        raise_server_exceptions=False,
        client=LOCAL,
    )
    victim_token = csrf(victim.get("/login").text)
    stolen = finish_mock(victim, state, victim_token, "attacker@example.com")
    assert stolen.status_code == 400
    assert victim.cookies.get("authbridge_session") is None
    assert victim.get("/account", follow_redirects=False).headers["location"] == "/login"
    assert finish_mock(attacker, state, token).status_code == 303


def test_state_works_once(client: TestClient) -> None:
    state, token = start_mock(client)
    assert finish_mock(client, state, token).status_code == 303
    again = client.get(f"/v1/oauth/callback/?state={state}&email=x@example.com")
    assert again.status_code == 400
    page = client.get("/login")
    assert finish_mock(client, state, csrf(page.text)).status_code == 400


def test_planted_session_cookie_is_replaced_at_idp_sign_in(client: TestClient) -> None:
    sign_up(client)
    planted = client.cookies.get("authbridge_session")
    assert planted
    state, token = start_mock(client)
    assert finish_mock(client, state, token).status_code == 303
    fresh = client.cookies.get("authbridge_session")
    assert fresh and fresh != planted
    other = TestClient(client.app, base_url="http://localhost:8080", client=LOCAL)
    other.cookies.set("authbridge_session", planted)
    assert other.get("/account", follow_redirects=False).headers["location"] == "/login"


def test_cross_site_form_post_is_relayed_then_refused(client: TestClient) -> None:
    """A cross-site POST (form_post) reaches the relay page; the relayed same-origin POST
    then carries this browser's binding cookie, which the attacker's state is not bound to."""
    attacker = TestClient(client.app, base_url="http://localhost:8080", client=LOCAL)
    state, _ = start_mock(attacker)
    payload = '"><script>alert(1)</script>'
    relay = client.post(
        "/v1/oauth/redirect/",
        data={"state": state, payload: payload},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert relay.status_code == 200
    assert "<script>alert(1)" not in relay.text
    assert relay.headers["cache-control"] == "no-store"
    relayed = client.post(
        "/v1/oauth/redirect/", data={"state": state, "authbridge_relayed": "1", "code": "x"}
    )
    assert relayed.status_code == 400
    assert client.cookies.get("authbridge_session") is None


def test_mock_idp_cross_site_post_is_refused_even_with_a_valid_token(client: TestClient) -> None:
    state, token = start_mock(client)
    response = client.post(
        "/v1/oauth/mock/authorize",
        data={"state": state, "email": "mo@example.com", "csrf_token": token},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert response.status_code == 403


def test_mock_idp_is_gone_once_an_upstream_is_configured(app_factory: AppFactory) -> None:
    client = app_factory(
        AUTH__OPENID_CONNECT__OKTA__ENABLED="true",
        AUTH__OPENID_CONNECT__OKTA__CLIENT_ID="c",
        AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET="s",
        AUTH__OPENID_CONNECT__OKTA__DISCOVERY_URL="http://127.0.0.1:9/.well-known/openid-configuration",
    )
    assert client.get("/v1/oauth/mock/authorize?state=x").status_code == 404
    token = csrf(client.get("/login").text)
    posted = client.post(
        "/v1/oauth/mock/authorize",
        data={"state": "x", "email": "a@example.com", "csrf_token": token},
    )
    assert posted.status_code == 404
    assert client.get("/v1/oauth/start?provider=mock", follow_redirects=False).status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/v1/oauth/callback/?error=%3Cscript%3Ealert(1)%3C/script%3E",
        "/login?login_hint=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
        "/v1/oauth/start?provider=%3Cscript%3Ealert(1)%3C/script%3E",
        "/v1/oauth/mock/authorize?state=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
    ],
)
def test_reflected_values_are_escaped(client: TestClient, path: str) -> None:
    page = client.get(path)
    assert "<script>alert(1)" not in page.text


def test_x_forwarded_for_is_ignored_without_trusted_proxies(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__RATE_LIMIT__PER_ADDRESS="3")
    statuses = []
    for i in range(5):
        page = client.get("/login")
        statuses.append(
            client.post(
                "/login",
                data={
                    "username": f"user{i}@example.com",
                    "password": "wrong",
                    "csrf_token": csrf(page.text),
                },
                headers={"x-forwarded-for": f"203.0.113.{i}", "x-real-ip": f"198.51.100.{i}"},
            ).status_code
        )
    assert statuses[-1] == 429


def test_username_variants_share_one_throttle(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__RATE_LIMIT__PER_ACCOUNT_AND_ADDRESS="3")
    sign_up(client)
    client.cookies.clear()
    for variant in ("ada@example.com", "ADA@example.com", " ada@EXAMPLE.COM "):
        assert sign_in(client, variant, "wrong").status_code == 401
    assert sign_in(client, "Ada@Example.Com").status_code == 429


def test_device_cookie_of_one_account_does_not_exempt_another(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__RATE_LIMIT__PER_ACCOUNT_AND_ADDRESS="3")
    sign_up(client, "eve@example.com")
    sign_up(client, "ada@example.com")
    client.cookies.clear()
    assert sign_in(client, "eve@example.com").status_code == 303  # Eve's own device cookie
    client.cookies.delete("authbridge_session")
    for _ in range(3):
        assert sign_in(client, "ada@example.com", "wrong").status_code == 401
    assert sign_in(client, "ada@example.com").status_code == 429


def test_forged_device_cookie_is_ignored(app_factory: AppFactory) -> None:
    client = app_factory(AUTH__LOCAL__RATE_LIMIT__PER_ACCOUNT_AND_ADDRESS="2")
    sign_up(client)
    client.cookies.clear()
    client.cookies.set("authbridge_device", "abc:ada@example.com.AAAA")
    for _ in range(2):
        sign_in(client, "ada@example.com", "wrong")
    assert sign_in(client, "ada@example.com").status_code == 429


@pytest.mark.parametrize("payload", ["' OR '1'='1' --", "ada@example.com' --", "%", "_@%"])
def test_sql_metacharacters_in_sign_in_are_data(client: TestClient, payload: str) -> None:
    sign_up(client)
    client.cookies.clear()
    assert sign_in(client, payload).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/login",
        "/signup",
        "/account",
        "/v1/oauth/redirect/",
        "/v1/oauth/mock/authorize",
        "/nope",
        "/setup?token=x",
    ],
)
def test_pages_cannot_be_framed_or_run_inline_script(client: TestClient, path: str) -> None:
    sign_up(client)
    page = client.get(path)
    csp = page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    if page.status_code == 200:
        assert page.headers["cache-control"] == "no-store"


def test_responses_that_set_the_session_cookie_are_not_cacheable(client: TestClient) -> None:
    """OWASP Session Management: a response carrying a session id must not be stored by a
    shared cache (a misconfigured CDN in front would hand the cookie to the next visitor).
    /v1/oauth/start already sends no-store; its siblings do not."""
    responses = [sign_up(client)]
    client.cookies.clear()
    responses.append(sign_in(client))
    client.cookies.clear()
    state, token = start_mock(client)
    responses.append(finish_mock(client, state, token))
    for response in responses:
        assert response.status_code == 303
        assert "authbridge_session=" in response.headers.get("set-cookie", "")
        assert "no-store" in response.headers.get("cache-control", "")


@pytest.mark.parametrize("path", ["/api/v1/system/config/jwks", "/.well-known/jwks.json"])
def test_jwks_publishes_no_private_key_material(client: TestClient, path: str) -> None:
    keys = json.loads(client.get(path).text)["keys"]
    assert keys
    for key in keys:
        assert not {"d", "p", "q", "dp", "dq", "qi", "k", "oth"} & set(key), key.get("kid")
    assert not re.search(r"PRIVATE KEY", client.get(path).text)
