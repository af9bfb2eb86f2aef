"""Passkeys in a real browser (Debian's Chromium through Playwright) against the real
`authbridge serve`, with Chromium's virtual authenticator (Chrome DevTools Protocol
`WebAuthn.addVirtualAuthenticator`): a passkey registered from the account page, then used
as the second step after the password and to sign in without one; a copy of the credential
whose counter is behind (re-added with `WebAuthn.addCredential`) is refused.

The issuer is http://localhost:<port>: a secure context (WebAuthn needs one) whose host is
a valid RP id, which 127.0.0.1 is not (an IP address is no domain, WebAuthn §5.1.3)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_login_browser import PASSWORD, sign_out, sign_up, snapshot
from tests.e2e.server import AuthbridgeServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthbridgeServer]:
    running = AuthbridgeServer(tmp_path_factory.mktemp("passkeys"))
    local = f"http://localhost:{running.port}"
    running.env["SERVER__ISSUER"] = local
    with running:
        running.url = local  # for the browser; the server listens on 127.0.0.1
        yield running


@pytest.fixture
def page(browser: Any, server: AuthbridgeServer) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1000, "height": 900})
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def _virtual_authenticator(page: Any) -> tuple[Any, str]:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable", {"enableUI": False})
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def _password_step(page: Any, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/login/mfa")


def test_register_then_sign_in_as_second_factor_and_passwordless_and_refuse_a_clone(
    page: Any,
) -> None:
    from playwright.sync_api import expect

    cdp, authenticator = _virtual_authenticator(page)
    sign_up(page, "ada@example.com", "Ada")
    page.goto("/account/mfa")
    page.get_by_label("Name it").fill("Laptop")
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url("**/account/mfa?notice=passkey-added")
    expect(page.locator("#passkeys")).to_contain_text("Laptop")
    snapshot(page, "passkeys-account")
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1 and stored["credentials"][0]["isResidentCredential"]

    # A second factor after the password.
    page.goto("/account")
    sign_out(page)
    _password_step(page, "ada@example.com")
    snapshot(page, "passkeys-second-step")
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url("**/account")
    expect(page.locator("#who-username")).to_have_text("ada@example.com")

    # Without a password.
    sign_out(page)
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/account")
    expect(page.locator("#who-username")).to_have_text("ada@example.com")
    sign_out(page)

    # A clone: the same key, its counter behind what the server saw last.
    credential = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})[
        "credentials"
    ][0]
    assert credential["signCount"] >= 2
    cdp.send(
        "WebAuthn.removeCredential",
        {"authenticatorId": authenticator, "credentialId": credential["credentialId"]},
    )
    cdp.send(
        "WebAuthn.addCredential",
        {"authenticatorId": authenticator, "credential": {**credential, "signCount": 0}},
    )
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_contain_text("may have been copied")
    snapshot(page, "passkeys-clone-refused")
    assert page.url.endswith("/login")
    page.goto("/account")
    page.wait_for_url("**/login")


@pytest.fixture(scope="module")
def required(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthbridgeServer]:
    running = AuthbridgeServer(tmp_path_factory.mktemp("passkeys-required"))
    local = f"http://localhost:{running.port}"
    running.env["SERVER__ISSUER"] = local
    running.env["AUTH__LOCAL__MFA"] = "required"
    with running:
        running.url = local
        yield running


def test_a_required_second_factor_set_up_as_a_passkey(browser: Any, required: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(base_url=required.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    _virtual_authenticator(page)
    page.goto("/signup")
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Name").fill("Bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/login/mfa/enrol")
    snapshot(page, "passkeys-enrol")
    page.get_by_role("button", name="Add a passkey").click()
    page.wait_for_url("**/account")
    expect(page.locator("#who-username")).to_have_text("bob@example.com")
    sign_out(page)
    _password_step(page, "bob@example.com")
    expect(page.get_by_label("Code", exact=True)).to_have_count(0)  # no app: a passkey only
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url("**/account")
    context.close()
