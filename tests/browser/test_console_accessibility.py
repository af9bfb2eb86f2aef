"""axe-core on the admin console's pages, for a signed-in admin, light and dark: zero
violations of WCAG 2.0/2.1/2.2 A and AA (the same run as test_accessibility.py's).

Each console section appends its pages to CONSOLE_PATHS; `<id>` is the signed-in admin's
own user id (so a user page has a session, a binding and audit events to show).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import unavailable
from tests.browser.test_accessibility import AXE, _context, _violations
from tests.browser.test_login_browser import PASSWORD
from tests.connectors.node_provider import ensure_installed
from tests.e2e.server import AuthbridgeServer

pytestmark = pytest.mark.browser

CONSOLE_PATHS = [
    "/admin",
    "/admin/users",
    "/admin/users/<id>",
    "/admin/users/new",
    "/admin/users?q=nobody-has-this-name",  # the empty state
    "/admin/users?cursor=not-a-cursor",  # the error state (400)
    "/admin/clients",
    "/admin/clients/authbridge-cli",  # the built-in, read-only client
    "/admin/service-accounts",
    "/admin/robots",
    "/admin/keys",
    "/admin/connectors",
    "/admin/scim",
    "/admin/audit",
    "/admin/audit?type=nothing.matches",  # the empty state
    "/admin/teams",
    "/admin/roles",
    "/admin/invitations",
]
ADMIN = "console-admin@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthbridgeServer]:
    ensure_installed()  # the same npm tree as the oidc-provider peer
    if not AXE.exists():
        unavailable(f"{AXE} is missing (npm ci --prefix tests/connectors/peers)")
    with AuthbridgeServer(tmp_path_factory.mktemp("console-axe")) as running:
        yield running


@pytest.fixture(scope="module")
def admin_state(browser: Any, server: AuthbridgeServer) -> dict[str, Any]:
    """The first admin, made through the one-time setup link; the browser's signed-in
    storage state, reused by each colour scheme."""
    context = _context(browser, server, "light")
    page = context.new_page()
    page.goto("/setup" + server.setup_link().split("/setup", 1)[1])
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create admin account").click()
    page.wait_for_url("**/account")
    state: dict[str, Any] = context.storage_state()
    context.close()
    return state


def _own_id(page: Any) -> str:
    page.goto(f"/admin/users?q={ADMIN}")
    href = page.locator("#users tbody a").first.get_attribute("href")
    assert href and href.startswith("/admin/users/")
    return str(href.rsplit("/", 1)[1])


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_console_pages_have_no_axe_violations(
    browser: Any, server: AuthbridgeServer, admin_state: dict[str, Any], scheme: str
) -> None:
    context = browser.new_context(
        base_url=server.url,
        color_scheme=scheme,
        bypass_csp=True,  # axe is injected as an inline script
        viewport={"width": 1000, "height": 760},
        storage_state=admin_state,
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    user_id = _own_id(page)
    found: list[str] = []
    for path in CONSOLE_PATHS:
        answer = page.goto(path.replace("<id>", user_id))
        assert answer is not None and answer.status in (200, 400), path
        assert page.url.startswith(server.url + "/admin"), f"{path}: sent to {page.url}"
        found.extend(_violations(page, f"{scheme} {path}"))
    # A confirmation page (a destructive act's first step).
    page.goto(f"/admin/users/{user_id}")
    page.get_by_role("button", name="Sign out everywhere").click()
    page.wait_for_selector("#confirm")
    found.extend(_violations(page, f"{scheme} confirm"))
    context.close()
    assert found == [], "\n".join(found)
