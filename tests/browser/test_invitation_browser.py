"""Invitation and password reset in a real browser (Debian's Chromium, Playwright) against
`authbridge serve` and a real SMTP server on loopback: the operator invites by the CLI, the
mail arrives, the invited person accepts through local sign-up, signs out, forgets the
password, resets it from the mailed link and signs in with the new one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from authbridge.cli.main import app
from tests.browser.test_login_browser import page, snapshot  # noqa: F401 (fixtures)
from tests.e2e.server import AuthbridgeServer
from tests.mailserver import MailServer, mail_server

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a whole new passphrase"


@pytest.fixture(scope="module")
def smtp() -> Iterator[MailServer]:
    with mail_server() as server:
        yield server


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, smtp: MailServer
) -> Iterator[AuthbridgeServer]:
    with AuthbridgeServer(tmp_path_factory.mktemp("invite"), **smtp.env()) as running:
        yield running


def test_invite_accept_sign_out_and_reset(
    page: Any,  # noqa: F811
    server: AuthbridgeServer,
    smtp: MailServer,
) -> None:
    from playwright.sync_api import expect

    env = {
        k: v for k, v in server.env.items() if k.startswith(("DATABASE__", "SERVER__", "SMTP__"))
    }
    invited = CliRunner().invoke(
        app, ["invitations", "create", "lin@example.com", "--team", "data-eng"], env=env
    )
    assert invited.exit_code == 0, invited.output
    smtp.inbox.wait(1)
    link = smtp.inbox.link()
    assert link.startswith(server.url + "/invite/")

    page.goto(link)
    expect(page.get_by_role("heading", name="Accept your invitation")).to_be_visible()
    expect(page.get_by_text("lin@example.com").first).to_be_visible()
    page.get_by_label("Name").fill("Lin")
    page.get_by_label("Password").fill(PASSWORD)
    snapshot(page, "invitation")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/account")
    expect(page.locator("#who-username")).to_have_text("lin@example.com")
    expect(page.get_by_text("data-eng").first).to_be_visible()

    # The link is spent.
    page.goto(link)
    expect(page.get_by_role("heading", name="Invitation not valid")).to_be_visible()

    page.goto("/account")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("lin@example.com")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("status")).to_contain_text("reset link is on its way")
    smtp.inbox.wait(2)
    reset = smtp.inbox.link()
    assert "/password/reset/" in reset
    page.goto(reset)
    expect(page.get_by_text("At least 8 characters")).to_be_visible()
    page.get_by_label("New password for lin@example.com").fill(NEW_PASSWORD)
    snapshot(page, "password-reset")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()

    page.goto("/login")
    page.get_by_label("Email").fill("lin@example.com")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/account")
