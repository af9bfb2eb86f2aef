"""The login page's LDAP forms in Chromium, against a real OpenLDAP: a person signs in
with the keyboard alone through the directory's form (labelled by its usernamePrompt),
mistypes their password and is pointed at the field; axe-core finds no WCAG A/AA
violation with one directory up and one down, in the light and the dark colour scheme."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import unavailable
from tests.browser.test_accessibility import AXE, _context, _violations
from tests.connectors.node_provider import ensure_installed
from tests.e2e.server import AuthbridgeServer
from tests.ldapserver import Slapd, closed_port, slapd

pytestmark = [pytest.mark.browser, pytest.mark.ldap]
__all__ = ["slapd"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, slapd: Slapd) -> Iterator[AuthbridgeServer]:
    ensure_installed()
    if not AXE.exists():
        unavailable(f"{AXE} is missing (npm ci --prefix tests/connectors/peers)")
    ldap = {
        "corp": slapd.config(displayName="Corp directory"),
        "backup": slapd.config(
            displayName="Backup directory",
            host=f"127.0.0.1:{closed_port()}",
            usernamePrompt="Backup login",
            timeout=2,
        ),
    }
    with AuthbridgeServer(tmp_path_factory.mktemp("ldap"), AUTH__LDAP=json.dumps(ldap)) as running:
        yield running


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_sign_in_through_the_directory_form_with_the_keyboard(
    browser: Any, server: AuthbridgeServer, scheme: str
) -> None:
    context = _context(browser, server, scheme)
    page = context.new_page()
    page.goto("/login")
    found = _violations(page, f"{scheme} login with directories")
    corp = page.locator('form[action="/v1/ldap/login/corp"]')
    backup = page.locator('form[action="/v1/ldap/login/backup"]')
    assert backup.get_by_label("Backup login").is_disabled()
    assert "cannot be reached" in backup.inner_text()
    # Wrong password: the page comes back pointing at the directory form's password.
    corp.get_by_label("Example username").fill("alice")
    corp.get_by_label("Password").fill("not the password")
    corp.get_by_label("Password").press("Enter")
    page.wait_for_load_state()
    found += _violations(page, f"{scheme} directory login error")
    assert page.evaluate("document.activeElement.id") == "ldap-corp-password"
    assert page.locator("#ldap-corp-password").get_attribute("aria-invalid") == "true"
    assert page.locator("#ldap-corp-username").input_value() == "alice"
    page.keyboard.type("alice-password")
    page.keyboard.press("Enter")
    page.wait_for_url("**/account")
    assert "alice" in page.content()
    context.close()
    assert found == [], "\n".join(found)
