"""SAML sign-in in a real browser: Debian's Chromium on authbridge's login page, the
"Log in with Corp SSO" button, pysaml2's IdP on loopback (its page posts the Response
with a script, as IdPs' pages do), our ACS, and the signed-in page with the IdP's groups
as teams. `authbridge serve` runs as a real process (tests/e2e/server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.connectors.saml_idp import SamlIdp, need_xmlsec1, running_idp
from tests.e2e.server import AuthbridgeServer

pytestmark = pytest.mark.browser

USER = {
    "email": ["grace@example.com"],
    "displayName": ["Grace Hopper"],
    "groups": ["navy;compilers"],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AuthbridgeServer, SamlIdp]]:
    need_xmlsec1()
    tmp = tmp_path_factory.mktemp("saml-browser")
    with running_idp(tmp, user=USER, name_id="grace-7") as idp:
        server = AuthbridgeServer(
            tmp,
            AUTH__SAML__CORP__METADATA_URL=idp.entity_id,
            AUTH__SAML__CORP__DISPLAY_NAME="Corp SSO",
            AUTH__SAML__CORP__USERNAME_ATTR="displayName",
            AUTH__SAML__CORP__GROUPS_ATTR="groups",
            AUTH__SAML__CORP__GROUPS_DELIM=";",
        )
        with server as running:
            with httpx.Client(trust_env=False) as http:
                idp.sp_metadata = [http.get(running.url + "/v1/saml/metadata/corp").text]
            yield running, idp


def test_sign_in_with_saml_in_chromium(browser: Any, stack: tuple[AuthbridgeServer, Any]) -> None:
    from playwright.sync_api import expect

    server, _ = stack
    context = browser.new_context(base_url=server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto("/login")
        page.get_by_role("link", name="Log in with Corp SSO").click()
        page.wait_for_url("**/account")
        # The IdP's email is not a verified one (docs/saml.md): the name is namespaced.
        expect(page.locator("#who-username")).to_have_text("corp:grace@example.com")
        expect(page.locator("#who-name")).to_have_text("Grace Hopper")
        expect(page.locator("#who-teams")).to_have_text("compilers, navy")
    finally:
        context.close()
