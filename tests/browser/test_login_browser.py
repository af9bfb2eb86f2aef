"""The sign-in pages in a real browser: Debian's Chromium driven by Playwright.

A person signs up through the form, lands on the signed-in page, copies the token, signs
out and in again, mistypes a password, and does it all with the keyboard alone.
Set AUTHBRIDGE_SCREENSHOT_DIR to keep a screenshot of each page looked at.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.server import AuthbridgeServer

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"
JWT_SHAPE = re.compile(r"^ey[\w-]+\.[\w-]+\.[\w-]+$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthbridgeServer]:
    with AuthbridgeServer(tmp_path_factory.mktemp("browser")) as running:
        yield running


@pytest.fixture
def page(browser: Any, server: AuthbridgeServer) -> Iterator[Any]:
    context = browser.new_context(base_url=server.url, viewport={"width": 1000, "height": 760})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def snapshot(page: Any, name: str) -> None:
    folder = os.environ.get("AUTHBRIDGE_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"authbridge-{name}.png"), full_page=True)


def sign_up(page: Any, email: str, name: str) -> None:
    page.goto("/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    snapshot(page, "signup")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url("**/account")


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")


def test_sign_up_copy_the_token_sign_out_and_in_again(page: Any, server: AuthbridgeServer) -> None:
    from playwright.sync_api import expect

    sign_up(page, "ada@example.com", "Ada Lovelace")
    expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
    expect(page.locator("#who-username")).to_have_text("ada@example.com")
    expect(page.locator("#who-name")).to_have_text("Ada Lovelace")
    expect(page.locator("#who-roles")).to_have_text("viewer")
    token_box = page.get_by_role("textbox", name="Platform token")
    token = token_box.input_value()
    assert JWT_SHAPE.match(token), token[:40]
    snapshot(page, "account")

    page.get_by_role("button", name="Copy token").click()
    expect(page.locator("#copy-status")).to_have_text(re.compile("Copied"))
    assert page.evaluate("navigator.clipboard.readText()") == token

    sign_out(page)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/account")
    page.wait_for_url("**/login")  # the session is gone on the server too
    snapshot(page, "login")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url("**/account")
    expect(page.locator("#who-username")).to_have_text("ada@example.com")
    assert JWT_SHAPE.match(page.get_by_role("textbox", name="Platform token").input_value())


def test_wrong_password_shows_the_error_and_keeps_the_email(page: Any) -> None:
    from playwright.sync_api import expect

    sign_up(page, "grace@example.com", "Grace Hopper")
    sign_out(page)
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill("not the right password")
    page.get_by_role("button", name="Sign in", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("do not match an account")
    snapshot(page, "login-error")
    assert page.url.endswith("/login")
    expect(page.get_by_label("Email")).to_have_value("grace@example.com")
    expect(page.get_by_label("Password")).to_have_value("")
    assert _focused(page) == "password"  # the email is kept, so the cursor waits in Password
    # The form points assistive technology at the error.
    assert page.locator("form[action='/login']").get_attribute("aria-describedby") == "form-error"


def _focused(page: Any) -> str:
    return str(
        page.evaluate(
            "(() => { const e = document.activeElement;"
            " return e.id || e.getAttribute('name') || e.textContent.trim(); })()"
        )
    )


def test_keyboard_only_sign_up_sign_in_and_copy(page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/signup")
    # Every visible field has a label a screen reader announces.
    unlabelled = page.evaluate(
        "[...document.querySelectorAll('input:not([type=hidden]):not([hidden]), textarea')]"
        ".filter(e => e.labels.length === 0 && !e.getAttribute('aria-labelledby'))"
        ".map(e => e.name)"
    )
    assert unlabelled == []
    # Autofocus on the first field: Chromium applies it at a rendering update after load, so
    # wait for it rather than read the focus at once (a loaded machine showed the gap).
    expect(page.locator("#email")).to_be_focused()
    page.keyboard.type("linus@example.com")
    page.keyboard.press("Tab")
    assert _focused(page) == "name"
    page.keyboard.type("Linus")
    page.keyboard.press("Tab")
    assert _focused(page) == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/account")

    # Tab from the top of the page reaches the copy button; the focus ring is visible.
    for _ in range(10):
        page.keyboard.press("Tab")
        if _focused(page) == "copy-token":
            break
    assert _focused(page) == "copy-token"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    snapshot(page, "account-focus")
    page.keyboard.press("Enter")
    expect(page.locator("#copy-status")).to_have_text(re.compile("Copied"))

    # Sign out with the keyboard, then sign in with it.
    page.get_by_role("button", name="Sign out").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/login")
    assert _focused(page) == "username"
    page.keyboard.type("linus@example.com")
    page.keyboard.press("Tab")
    assert _focused(page) == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/account")
    expect(page.locator("#who-username")).to_have_text("linus@example.com")
