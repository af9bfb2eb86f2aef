"""Two-step sign-in in a real browser (Debian's Chromium through Playwright), against the
real `authbridge serve` with `auth.local.mfa: required`: a new account sets up an
authenticator app (the key read off the page, codes computed here by RFC 6238), keeps its
recovery codes, then signs in with a code, and with a recovery code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest

from tests.browser.conftest import unavailable
from tests.browser.test_login_browser import PASSWORD, snapshot
from tests.e2e.server import AuthbridgeServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthbridgeServer]:
    with AuthbridgeServer(tmp_path_factory.mktemp("mfa"), AUTH__LOCAL__MFA="required") as running:
        yield running


@pytest.fixture
def page(browser: Any, server: AuthbridgeServer) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def _password_step(page: Any, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/login/mfa")


def test_enrol_then_sign_in_with_a_code_and_with_a_recovery_code(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/signup")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Name").fill("Ada")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/login/mfa/enrol")
    expect(page.get_by_role("heading", name="Set up two-step sign-in")).to_be_visible()
    expect(page.locator("#qr svg")).to_be_visible()  # drawn by the server, inline
    secret = page.locator("#secret").inner_text().strip()
    snapshot(page, "mfa-enrol")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Save your recovery codes")).to_be_visible()
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    snapshot(page, "mfa-recovery-codes")
    page.get_by_role("link", name="I saved them, continue").click()
    page.wait_for_url("**/account")
    expect(page.locator("#who-username")).to_have_text("ada@example.com")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    _password_step(page, "ada@example.com")
    snapshot(page, "mfa-code")
    # The next step's code: the enrolment used this one (each code works once).
    page.get_by_label("Code", exact=True).fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    _password_step(page, "ada@example.com")
    page.get_by_label("Code", exact=True).fill("12345")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("not right")
    page.get_by_label("Code", exact=True).fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/account")
    page.goto("/account/mfa")
    expect(page.locator("#mfa-status")).to_contain_text("9 recovery codes left")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_second_step_pages_have_no_axe_violations(
    browser: Any, server: AuthbridgeServer, scheme: str
) -> None:
    from tests.browser.test_accessibility import AXE, _context, _violations
    from tests.connectors.node_provider import ensure_installed

    ensure_installed()
    if not AXE.exists():
        unavailable(f"{AXE} is missing (npm ci --prefix tests/connectors/peers)")
    context = _context(browser, server, scheme)
    page = context.new_page()
    found: list[str] = []
    email = f"axe-{scheme}@example.com"
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill("Axe")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/login/mfa/enrol")
    found += _violations(page, f"{scheme} enrol")
    secret = page.locator("#secret").inner_text().strip()
    page.get_by_label("Code from the app").fill("12345")
    page.evaluate("document.querySelector('form').noValidate = true")
    page.get_by_role("button", name="Turn on").click()
    found += _violations(page, f"{scheme} enrol error")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    found += _violations(page, f"{scheme} recovery codes")
    page.get_by_role("link", name="I saved them, continue").click()
    page.goto("/account/mfa")
    found += _violations(page, f"{scheme} account two-step")
    page.get_by_role("button", name="Sign out").first.click()
    page.wait_for_url("**/login")
    _password_step(page, email)
    found += _violations(page, f"{scheme} code")
    page.get_by_label("Code", exact=True).fill("12345")
    page.get_by_role("button", name="Verify").click()
    found += _violations(page, f"{scheme} code error")
    context.close()
    assert found == [], "\n".join(found)
