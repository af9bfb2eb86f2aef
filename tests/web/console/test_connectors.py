"""`/admin/connectors`: each IdP's type, status from what authbridge last saw, the redirect
URI to register, and `authbridge doctor`'s checks run on demand, against an IdP that
refuses connections (127.0.0.1:9), a real OpenID provider on loopback (oidc-provider-mock,
its client registered with Dex's `/dex/callback`), a disabled one and the built-in mock."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from oidc_provider_mock import run_server_in_thread

from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.connectors.upstream import APP
from tests.web.console.conftest import Console, rows
from tests.web.test_pages import csrf

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

REFUSING = "http://127.0.0.1:9/.well-known/openid-configuration"


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    with run_server_in_thread(require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def _register(issuer: str) -> dict[str, Any]:
    response = httpx.post(
        f"{issuer}/oauth2/clients",
        json={"redirect_uris": [APP + "/dex/callback"]},
        trust_env=False,
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def idps(provider: str, sqlite_url: str) -> Iterator[Console]:
    client = _register(provider)
    env = {
        "AUTH__OPENID_CONNECT__FLOW": "code",
        "AUTH__OPENID_CONNECT__CORP__ENABLED": "true",
        "AUTH__OPENID_CONNECT__CORP__CLIENT_ID": "x",
        "AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL": REFUSING,
        "AUTH__OPENID_CONNECT__CORP__DISPLAY_NAME": "Corp SSO",
        "AUTH__OPENID_CONNECT__OKTA__ENABLED": "true",
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_ID": client["client_id"],
        "AUTH__OPENID_CONNECT__OKTA__CLIENT_SECRET": client["client_secret"],
        "AUTH__OPENID_CONNECT__OKTA__DISCOVERY_URL": provider,
        "AUTH__OPENID_CONNECT__OKTA__REDIRECT_URI": APP + "/dex/callback",
        "AUTH__OPENID_CONNECT__LEGACY__CLIENT_ID": "old",
        "AUTH__OPENID_CONNECT__LEGACY__DISCOVERY_URL": REFUSING,
    }
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url, **env))))


def _checks(answer: httpx.Response) -> dict[str, str]:
    """Each check's row: `check -> "outcome finding fix"`."""
    return {r.split()[0]: r.split(" ", 1)[1] for r in rows(answer.text, "checks")}


def test_the_list_shows_type_status_and_the_uri_to_register(idps: Console) -> None:
    listing = idps.page("/admin/connectors")
    assert listing.status_code == 200
    table = {r.split("(")[1].split(")")[0]: r for r in rows(listing.text, "connectors")}
    assert list(table) == ["corp", "okta", "legacy"]
    assert table["corp"].startswith("Corp SSO (corp) oidc yes unknown")
    assert table["corp"].endswith(f"{APP}/v1/oauth/callback/")
    assert table["okta"].endswith(f"{APP}/dex/callback")
    assert " no disabled " in table["legacy"]
    # Reading the page probes no IdP.
    view = idps.ready.admin.connectors.get("corp")
    assert view.status.status == "unknown"


def test_a_viewer_is_refused(idps: Console) -> None:
    for path in ("/admin/connectors", "/admin/connectors/corp"):
        assert idps.page(path, role="viewer").status_code == 403
    assert idps.post("/admin/connectors/corp/checks", role="viewer").status_code == 403


def test_redirect_uris_are_exactly_what_sign_ins_send(idps: Console) -> None:
    corp = rows(idps.page("/admin/connectors/corp").text, "redirect-uris")
    assert corp[0] == f"{APP}/v1/oauth/callback/ sent by sign-ins"
    assert corp[1].startswith(f"{APP}/dex/callback also served")
    (okta,) = rows(idps.page("/admin/connectors/okta").text, "redirect-uris")
    assert okta.startswith(f"{APP}/dex/callback sent by sign-ins")
    # The one the authorization request carries.
    browser = idps.browser(None)
    start = browser.get("/v1/oauth/start?provider=okta", follow_redirects=False)
    assert (
        f"redirect_uri={APP}/dex/callback".replace(":", "%3A").replace("/", "%2F")
        in (start.headers["location"])
    )


def test_an_unreachable_idp_fails_its_checks_with_the_operators_hint(idps: Console) -> None:
    page = idps.page("/admin/connectors/corp")
    assert 'id="checks"' not in page.text and 'id="run-checks"' in page.text
    answer = idps.post("/admin/connectors/corp/checks")
    assert answer.status_code == 200
    checks = _checks(answer)
    assert checks["discovery"].startswith("fail")
    assert "127.0.0.1:9" in checks["discovery"]
    assert "check the URL, DNS and firewall" in checks["discovery"]  # the fix
    assert checks["redirect_uri"].startswith("warn")
    assert f"register {APP}/v1/oauth/callback/" in html.unescape(checks["redirect_uri"])
    assert re.search(r'id="checks-summary">1 of 2 checks failed', answer.text)
    # The checks went through the app's own connector: its status says so now.
    assert idps.ready.admin.connectors.get("corp").status.status == "failing"
    status = idps.page("/admin/connectors/corp").text
    shown = re.search(r'id="status">(.*?)</dd>', status, re.S)
    assert shown and "failing" in shown.group(1) and "unreachable" in shown.group(1)


def test_the_login_pages_down_mark_is_the_consoles_failing_status(idps: Console) -> None:
    anonymous = TestClient(idps.client.app, base_url=str(idps.client.base_url))
    login = anonymous.get("/login")
    assert re.search(r'provider disabled" aria-disabled="true">Log in with Corp SSO', login.text)
    assert "127.0.0.1" not in login.text  # end users see no operator diagnostics...
    page = idps.page("/admin/connectors/corp")
    assert re.search(r'id="status">\s*<strong class="status-fail">failing</strong>', page.text)
    detail = re.search(r'id="status-detail">(.*?)</dd>', page.text, re.S)
    assert detail and "127.0.0.1:9" in detail.group(1)  # ...the console does
    listing = {
        r.split("(")[1].split(")")[0]: r
        for r in rows(idps.page("/admin/connectors").text, "connectors")
    }
    assert " failing" in listing["corp"]


def test_a_healthy_idp_passes_its_checks(idps: Console) -> None:
    answer = idps.post("/admin/connectors/okta/checks")
    assert answer.status_code == 200
    checks = _checks(answer)
    for name in ("discovery", "issuer", "endpoints", "jwks", "flow", "redirect_uri"):
        assert checks[name].startswith("ok"), (name, checks[name])
    assert f"accepts {APP}/dex/callback" in checks["redirect_uri"]
    assert "fail" not in {v.split()[0] for v in checks.values()}
    assert "No check failed." in answer.text
    page = idps.page("/admin/connectors/okta")
    assert re.search(r'id="status">\s*<span class="tag">ok</span>', page.text)


def test_a_disabled_idp_has_nothing_to_check(idps: Console) -> None:
    page = idps.page("/admin/connectors/legacy")
    assert page.status_code == 200
    assert 'id="run-checks"' not in page.text and 'id="not-checked"' in page.text
    answer = idps.post("/admin/connectors/legacy/checks")
    assert answer.status_code == 200 and 'id="checks"' not in answer.text


def test_unknown_connectors_are_404(idps: Console) -> None:
    assert idps.page("/admin/connectors/nobody").status_code == 404
    assert idps.post("/admin/connectors/nobody/checks").status_code == 404


def test_running_checks_needs_the_csrf_token_and_this_origin(idps: Console) -> None:
    browser = idps.as_role("admin")
    no_token = browser.post("/admin/connectors/corp/checks", headers={"accept": "text/html"})
    assert no_token.status_code == 403
    token = csrf(browser.get("/account").text)
    cross = browser.post(
        "/admin/connectors/corp/checks",
        data={"csrf_token": token},
        headers={"accept": "text/html", "origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    # Refused before any request left for the IdP.
    assert idps.ready.admin.connectors.get("corp").status.status == "unknown"


def test_the_built_in_mock_idp_is_ok_and_warns_it_is_a_mock(console: Console) -> None:
    (row,) = rows(console.page("/admin/connectors").text, "connectors")
    assert "mock" in row and " ok" in row
    checks = _checks(console.post("/admin/connectors/mock/checks"))
    assert list(checks) == ["config"] and checks["config"].startswith("warn")
    assert "signs in whoever is typed" in checks["config"]
