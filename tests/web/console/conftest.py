"""The console on a started app, and browsers signed in as operators of each role.

`console.browser(role)` signs a new local user up in a fresh cookie jar and binds `role` at
system scope; `console.page(path)` reads a page as the (cached) admin; `console.post(path,
data)` sends a form with that page's CSRF token, as a browser would.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from authbridge.web.app import create_app
from authbridge.web.services import Ready
from tests.conftest import make_settings, started_clients
from tests.web.test_pages import csrf, sign_up

_counter = itertools.count()


@dataclass
class Console:
    client: TestClient
    browsers: dict[str, TestClient] = field(default_factory=dict)

    @property
    def ready(self) -> Ready:
        ready: Ready = self.client.app.state.services.ready()  # type: ignore[attr-defined]
        return ready

    def browser(self, role: str | None = "admin", email: str | None = None) -> TestClient:
        """A new browser signed in as a new local user holding `role` (None: no role)."""
        browser = TestClient(self.client.app, base_url=str(self.client.base_url))
        email = email or f"operator{next(_counter)}@example.com"
        assert sign_up(browser, email=email).status_code == 303
        user = self.ready.storage.users.by_username(email)
        assert user is not None
        if role is not None:
            self.ready.bindings.grant(role, user_id=user.id, origin="test")
        return browser

    def as_role(self, role: str = "admin") -> TestClient:
        if role not in self.browsers:
            self.browsers[role] = self.browser(role)
        return self.browsers[role]

    def page(self, path: str, role: str = "admin") -> httpx.Response:
        return self.as_role(role).get(path, headers={"accept": "text/html"})

    def post(
        self, path: str, data: dict[str, str] | None = None, *, role: str = "admin", **kw: Any
    ) -> httpx.Response:
        """A form POST with a CSRF token from the console's front page."""
        browser = self.as_role(role)
        token = csrf(browser.get("/account").text)
        kw.setdefault("follow_redirects", False)
        headers = {"accept": "text/html", **kw.pop("headers", {})}
        return browser.post(path, data={**(data or {}), "csrf_token": token}, headers=headers, **kw)


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    with started_clients() as start:
        yield Console(start(create_app(make_settings(sqlite_url))))


def rows(html: str, table_id: str) -> list[str]:
    """The body rows of `<table id=table_id>` as text (tags dropped, spaces squeezed)."""
    match = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert match, f"no table #{table_id}"
    cells = re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells]
