"""The whole login in a real browser: authbridge's page, the certified provider's login
and consent pages, and back through our fragment relay script or the IdP's form_post."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from authbridge.config import Settings
from authbridge.web.app import create_app
from tests.conftest import make_settings
from tests.connectors.node_provider import free_port, node_provider

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("Debian chromium is not installed")
    tmp = tmp_path_factory.mktemp("browser")
    port = free_port()
    origin = f"http://localhost:{port}"
    client = {
        "client_id": "authbridge",
        "client_secret": "a-long-enough-client-secret-for-hs-algs",
        "application_type": "native",
        "redirect_uris": [origin + "/v1/oauth/redirect/"],
        "response_types": ["id_token token"],
        "grant_types": ["implicit"],
    }
    with node_provider([client], tmp) as issuer:
        yield {"origin": origin, "port": port, "issuer": issuer, "tmp": tmp, "client": client}


@contextmanager
def serve(stack: dict[str, Any], name: str, **env: str) -> Iterator[str]:
    settings = make_settings(
        f"sqlite:///{Path(stack['tmp']) / (name + '.db')}",
        SERVER__ISSUER=stack["origin"],
        AUTH__OPENID_CONNECT__FLOW="implicit",
        AUTH__OPENID_CONNECT__OKTA__ENABLED="true",
        AUTH__OPENID_CONNECT__OKTA__CLIENT_ID=stack["client"]["client_id"],
        AUTH__OPENID_CONNECT__OKTA__DISCOVERY_URL=stack["issuer"],
        AUTH__OPENID_CONNECT__OKTA__SCOPES='["openid", "profile", "email", "groups"]',
        **env,
    )
    with run_app(settings, stack["port"]):
        yield stack["origin"]


@contextmanager
def run_app(settings: Settings, port: int) -> Iterator[None]:
    """authbridge on 127.0.0.1:`port` in a thread, for a real browser to reach."""
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(10)


def browser_login(origin: str, login: str, visited: list[str] | None = None) -> str:
    """Sign `login` in from authbridge's login page; returns the /account page's HTML.

    `visited`, if given, receives the URL of every page the browser navigated to."""
    from playwright.sync_api import Request, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            if visited is not None:
                seen = visited

                def record(request: Request) -> None:
                    if request.is_navigation_request():
                        seen.append(request.url)

                page.on("request", record)
            page.goto(origin + "/login")
            page.get_by_role("link", name="Log in with Okta").click()
            page.wait_for_url(re.compile(r".*/interaction/.*"))
            page.fill('input[name="login"]', login)
            page.fill('input[name="password"]', "any")
            page.click('button[type="submit"]')
            page.wait_for_url(re.compile(r".*/interaction/.*"))
            page.click('button[type="submit"]')  # consent
            page.wait_for_url(origin + "/account", timeout=15000)
            # The tokens never stay in the address bar or history.
            assert "#" not in page.url
            return page.content()
        finally:
            browser.close()


def test_browser_login_through_the_fragment_relay(stack: dict[str, Any]) -> None:
    fragment = {"AUTH__OPENID_CONNECT__OKTA__AUTH_URL_PARAMS__RESPONSE_MODE": "fragment"}
    with serve(stack, "fragment", **fragment) as origin:
        html = browser_login(origin, "ada")
        assert "ada@example.com" in html and "team-ada" in html


def test_browser_login_through_form_post(stack: dict[str, Any]) -> None:
    with serve(stack, "form-post") as origin:
        html = browser_login(origin, "bob")
        assert "bob@example.com" in html and "analysts" in html
