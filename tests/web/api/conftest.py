"""The admin API on a started app, and tokens for callers of each kind.

`api.token(role)` mints a platform access token for a new user holding `role` at system
scope, through the app's own issuer (as a sign-in would); `api.get/post/...` send it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from authbridge.clock import utcnow
from authbridge.directory.principals import principal_of
from authbridge.tokens.issuer import TokenIssuer
from authbridge.web.app import create_app
from authbridge.web.services import Ready
from tests.conftest import make_settings, started_clients

_counter = itertools.count()


@dataclass
class Api:
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> Ready:
        ready: Ready = self.client.app.state.services.ready()  # type: ignore[attr-defined]
        return ready

    def user(self, role: str = "viewer", username: str | None = None) -> str:
        """A new local user holding `role` at system scope; returns its id."""
        return new_user(self.ready, role, username)

    def token_of(self, user_id: str, *, expired: bool = False) -> str:
        return mint_token(self.ready, user_id, expired=expired)

    def token(self, role: str = "admin") -> str:
        """A token of a (cached) user holding `role`."""
        if role not in self.tokens:
            self.tokens[role] = self.token_of(self.user(role))
        return self.tokens[role]

    def request(
        self, method: str, path: str, *, role: str | None = "admin", **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}) or {})
        if role is not None:
            headers.setdefault("authorization", f"Bearer {self.token(role)}")
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", path, **kwargs)


def new_user(ready: Ready, role: str = "viewer", username: str | None = None) -> str:
    """A new local user holding `role` at system scope; returns its id."""
    name = username or f"user{next(_counter)}@example.com"
    user = ready.storage.users.create(username=name, email=name, roles=[])
    ready.bindings.grant(role, user_id=user.id, origin="test")
    return user.id


def mint_token(ready: Ready, user_id: str, *, expired: bool = False) -> str:
    """A platform access token of `user_id`, from the app's own issuer (as a sign-in would)."""
    user = ready.storage.users.get(user_id)
    assert user is not None
    issuer = ready.issuer
    if expired:
        past = utcnow() - timedelta(hours=2)
        issuer = TokenIssuer(
            ready.keyring,
            issuer=issuer.issuer,
            access_token_lifetime=300,
            id_token_lifetime=300,
            clock=lambda: past,
        )
    principal = principal_of(ready.bindings, user)
    return issuer.access_token(principal, audience=["authbridge"], client_id="test").token


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    with started_clients() as start:
        yield Api(start(create_app(make_settings(sqlite_url))))


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    """RFC 9457 §3: the media type, and `type`/`title`/`status` as members."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert body["type"].startswith("tag:authbridge.dev,2026:problem:")
    if slug is not None:
        assert body["type"].endswith(":" + slug), body
    return body
