"""axe-core (from npm, pinned in tests/connectors/peers) injected by Playwright into every
page a person can meet, in the light and the dark colour scheme: zero violations of WCAG
2.0/2.1/2.2 A and AA (target size, SC 2.5.8, included). Also: ending a session from the
account page signs that other browser out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import unavailable
from tests.browser.test_login_browser import PASSWORD
from tests.connectors.node_provider import ensure_installed
from tests.e2e.server import AuthbridgeServer

pytestmark = pytest.mark.browser

AXE = Path(__file__).parents[1] / "connectors/peers/node_modules/axe-core/axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CLIENT = {
    "CLIENTS__WEBAPP__NAME": "Web app",
    "CLIENTS__WEBAPP__PUBLIC": "true",
    "CLIENTS__WEBAPP__REDIRECT_URIS": '["http://127.0.0.1:9/callback"]',
    "CLIENTS__WEBAPP__GRANT_TYPES": '["authorization_code", "refresh_token",'
    ' "urn:ietf:params:oauth:grant-type:device_code"]',
    # An IdP that never answers: its button is shown disabled, and starting it fails.
    "AUTH__OPENID_CONNECT__CORP__ENABLED": "true",
    "AUTH__OPENID_CONNECT__CORP__CLIENT_ID": "x",
    "AUTH__OPENID_CONNECT__CORP__DISPLAY_NAME": "Corp SSO",
    "AUTH__OPENID_CONNECT__CORP__DISCOVERY_URL": "http://127.0.0.1:9/.well-known/x",
}
AUTHORIZE = (
    "/oauth2/authorize?client_id=webapp&response_type=code&scope=openid"
    "&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback&state=s"
    "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthbridgeServer]:
    ensure_installed()  # the same npm tree as the oidc-provider peer
    if not AXE.exists():
        unavailable(f"{AXE} is missing (npm ci --prefix tests/connectors/peers)")
    with AuthbridgeServer(tmp_path_factory.mktemp("axe"), **CLIENT) as running:
        yield running


def _context(browser: Any, server: AuthbridgeServer, scheme: str) -> Any:
    # bypass_csp: axe is injected as an inline script, which our CSP (rightly) forbids.
    context = browser.new_context(
        base_url=server.url,
        color_scheme=scheme,
        bypass_csp=True,
        viewport={"width": 1000, "height": 760},
    )
    context.set_default_timeout(15_000)
    return context


def _violations(page: Any, name: str) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS
    )
    found = []
    for violation in result["violations"]:
        targets = [json.dumps(node["target"]) for node in violation["nodes"]][:3]
        found.append(f"{name}: {violation['id']} ({violation['impact']}) at {', '.join(targets)}")
    return found


def _sign_up(page: Any, email: str) -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/account")


def _device_code(server: AuthbridgeServer) -> str:
    answer = httpx.post(
        f"{server.url}/oauth2/device_authorization",
        data={"client_id": "webapp", "scope": "openid"},
    )
    return str(answer.json()["user_code"])


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_has_no_axe_violations(
    browser: Any, server: AuthbridgeServer, scheme: str
) -> None:
    context = _context(browser, server, scheme)
    page = context.new_page()
    found: list[str] = []

    def check(name: str, url: str | None = None) -> None:
        if url is not None:
            page.goto(url)
        found.extend(_violations(page, f"{scheme} {name}"))

    setup = server.setup_link().split("/setup", 1)[1]
    check("setup", "/setup" + setup)
    check("setup link gone", "/setup?token=not-a-token")
    check("login", "/login")
    check("login for an app", "/login?next=" + httpx.QueryParams({"n": AUTHORIZE})["n"])
    check("sign-up", "/signup")
    page.get_by_label("Email").fill(f"short-{scheme}@example.com")
    page.get_by_label("Password").fill("short")
    page.evaluate("document.querySelector('form').noValidate = true")
    page.get_by_role("button", name="Create account").click()
    check("sign-up error")
    check("expired state", "/v1/oauth/callback/?state=stale&code=x")
    check("idp down", "/v1/oauth/start?provider=corp")
    check("not found", "/nowhere")
    check("device signed out", "/device")

    _sign_up(page, f"ada-{scheme}@example.com")
    check("account")
    check("password", "/account/password")
    page.get_by_label("Current password").fill("wrong password here")
    page.get_by_label("New password").fill("another long passphrase")
    page.get_by_role("button", name="Change password").click()
    check("password error")
    check("device code", "/device")
    check("device request", "/device?user_code=" + _device_code(server))
    allow = page.get_by_role("button", name="Allow").bounding_box()
    deny = page.get_by_role("button", name="Deny").bounding_box()
    assert allow and deny and min(allow["height"], deny["height"]) >= 24
    assert deny["x"] - (allow["x"] + allow["width"]) >= 24  # WCAG 2.5.8 spacing
    check("device wrong code", "/device?user_code=ZZZZ-ZZZZ")
    check("logout", "/oauth2/logout?client_id=webapp")
    check("authorize refused", "/oauth2/authorize?client_id=nobody")

    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url("**/login")
    page.get_by_label("Email").fill(f"ada-{scheme}@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    check("login error")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "password"
    assert page.locator("#password").get_attribute("aria-invalid") == "true"
    context.close()
    assert found == [], "\n".join(found)


def test_ending_a_session_from_the_account_page_signs_that_browser_out(
    browser: Any, server: AuthbridgeServer
) -> None:
    from playwright.sync_api import expect

    laptop = _context(browser, server, "light")
    phone = _context(browser, server, "light")
    mine = laptop.new_page()
    _sign_up(mine, "two-browsers@example.com")
    other = phone.new_page()
    other.goto("/login")
    other.get_by_label("Email").fill("two-browsers@example.com")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Sign in", exact=True).click()
    other.wait_for_url("**/account")

    mine.reload()
    rows = mine.locator("#sessions + table tbody tr")
    expect(rows).to_have_count(2)
    expect(mine.locator("#this-session")).to_contain_text("this browser")
    mine.locator("tbody tr:not(#this-session)").get_by_role("button").click()
    expect(mine.get_by_role("status").first).to_contain_text("session was ended")
    expect(rows).to_have_count(1)

    other.goto("/account")
    other.wait_for_url("**/login")  # that browser is signed out
    mine.goto("/account")
    expect(mine.get_by_role("heading", name="Signed in")).to_be_visible()
    laptop.close()
    phone.close()
