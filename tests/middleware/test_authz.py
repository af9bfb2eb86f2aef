"""`require_role` / `require_permission` in the three adapters (ASGI, FastAPI, WSGI), with
RFC 6750 §3.1's answers: 403 ``insufficient_scope`` (no ``scope`` attribute: roles are not
OAuth scopes), 401 without a token; and the overflow indicator: roles fetched from the
authorization endpoint (cached per token), or a fail-closed refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from authbridge.middleware import TokenVerifier
from authbridge.middleware.asgi import JwtAuthMiddleware, RequireMiddleware
from authbridge.middleware.authz import (
    ROLES_OVERFLOW,
    SCOPED_ROLES,
    Authorizer,
    RolesEndpoint,
    require_permission,
    require_role,
)
from authbridge.middleware.dependency import BearerAuth
from authbridge.middleware.errors import ConfigError
from authbridge.middleware.wsgi import JwtWsgiMiddleware, RequireWsgiMiddleware

from .forge import Signer, access_claims, at_header, compact

PERMISSIONS = {"viewer": ["resources.read"], "editor": ["resources.read", "resources.write"]}


@pytest.fixture
def es(signers: dict[str, Signer]) -> Signer:
    return signers["ES256"]


def _header(signer: Signer, **claims: Any) -> dict[str, str]:
    token = compact(at_header(signer), access_claims(**claims), signer)
    return {"Authorization": f"Bearer {token}"}


def _ws(request: Any) -> str:
    return f"workspace:{request.path_params['ws']}"


def _asgi(verifier: TokenVerifier, authorizer: Authorizer) -> TestClient:
    ok = Route("/{ws}", lambda request: PlainTextResponse("ok"))
    # The ASGI scope callable receives the ASGI scope: the workspace is the path's last part.
    inner = RequireMiddleware(
        Starlette(routes=[ok]),
        require_role("editor", scope=lambda scope: "workspace:" + scope["path"].rsplit("/", 1)[1]),
        authorizer=authorizer,
    )
    app = JwtAuthMiddleware(Starlette(routes=[Mount("/ws", app=inner)]), verifier)
    return TestClient(app)


def _fastapi(verifier: TokenVerifier, authorizer: Authorizer) -> TestClient:
    app = FastAPI()
    auth = BearerAuth(verifier)

    editor = Depends(auth.require_role("editor", _ws, authorizer))

    # (A default, not Annotated: this module's annotations are strings FastAPI resolves
    # from module globals, and the dependency is built per app.)
    @app.get("/ws/{ws}")
    def read(ws: str, token: Any = editor) -> str:
        return "ok"

    return TestClient(app)


def _wsgi(verifier: TokenVerifier, authorizer: Authorizer) -> Any:
    from werkzeug.test import Client

    def app(environ: Any, start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    guarded = RequireWsgiMiddleware(
        app,
        require_role("editor", scope=lambda env: "workspace:" + env["PATH_INFO"].rsplit("/", 1)[1]),
        authorizer=authorizer,
    )
    return Client(JwtWsgiMiddleware(guarded, verifier))


ADAPTERS = {"asgi": _asgi, "fastapi": _fastapi, "wsgi": _wsgi}


@pytest.fixture(params=sorted(ADAPTERS))
def build(request: pytest.FixtureRequest) -> Any:
    return ADAPTERS[request.param]


def test_require_role_at_a_scope_in_each_adapter(
    build: Any, verifier: TokenVerifier, es: Signer
) -> None:
    client = build(verifier, Authorizer())
    scoped = {SCOPED_ROLES: {"workspace:ws1": ["editor"]}}
    assert client.get("/ws/ws1", headers=_header(es, **scoped)).status_code == 200
    refused = client.get("/ws/ws2", headers=_header(es, **scoped))
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and 'error="insufficient_scope"' in challenge
    assert "scope=" not in challenge.replace("insufficient_scope", "")
    # A system role holds at every scope.
    assert client.get("/ws/ws9", headers=_header(es, roles=["editor"])).status_code == 200
    # Roles are exact names: admin is not editor (require_permission is the "at least").
    assert client.get("/ws/ws1", headers=_header(es, roles=["admin"])).status_code == 403
    assert client.get("/ws/ws1").status_code == 401


def test_an_overflowed_token_is_decided_from_the_endpoint_once_per_token(
    build: Any, verifier: TokenVerifier, es: Signer, clock: Any
) -> None:
    calls: list[str] = []

    def fetch(url: str, bearer: str) -> Any:
        calls.append(bearer)
        return {"roles": ["viewer"], SCOPED_ROLES: {"workspace:ws1": ["editor"]}}

    url = "https://id.example/api/v1/authz/roles"
    endpoint = RolesEndpoint(url, fetch=fetch, ttl=30, clock=clock)
    client = build(verifier, Authorizer(endpoint=endpoint))
    headers = _header(es, **{ROLES_OVERFLOW: True})
    assert client.get("/ws/ws1", headers=headers).status_code == 200
    assert client.get("/ws/ws1", headers=headers).status_code == 200
    assert client.get("/ws/ws2", headers=headers).status_code == 403
    assert len(calls) == 1  # cached for this token ...
    clock.advance(31)
    assert client.get("/ws/ws1", headers=headers).status_code == 200
    assert len(calls) == 2  # ... briefly: a revoked binding shows within the ttl
    assert calls[0] == headers["Authorization"].removeprefix("Bearer ")


def test_an_overflowed_token_fails_closed(build: Any, verifier: TokenVerifier, es: Signer) -> None:
    headers = _header(es, **{ROLES_OVERFLOW: True})
    no_endpoint = build(verifier, Authorizer()).get("/ws/ws1", headers=headers)
    assert no_endpoint.status_code == 403
    assert "overflowed" in no_endpoint.headers["www-authenticate"]

    def down(url: str, bearer: str) -> Any:
        raise OSError("connection refused")

    endpoint = RolesEndpoint("https://id.example/api/v1/authz/roles", fetch=down)
    failing = build(verifier, Authorizer(endpoint=endpoint)).get("/ws/ws1", headers=headers)
    assert failing.status_code == 503


def test_require_permission_through_the_role_map(verifier: TokenVerifier, es: Signer) -> None:
    app = FastAPI()
    auth = BearerAuth(verifier)
    authorizer = Authorizer(role_permissions=PERMISSIONS)

    writer = Depends(auth.require_permission("resources.write", _ws, authorizer))

    @app.post("/ws/{ws}/dags")
    def write(ws: str, token: Any = writer) -> str:
        return "ok"

    client = TestClient(app)
    editor = _header(es, **{SCOPED_ROLES: {"workspace:ws1": ["editor"]}})
    assert client.post("/ws/ws1/dags", headers=editor).status_code == 200
    viewer = client.post("/ws/ws1/dags", headers=_header(es))
    assert viewer.status_code == 403 and "permission" in json.dumps(viewer.json())


def test_require_permission_needs_a_map_or_the_endpoint() -> None:
    with pytest.raises(ConfigError):
        RequireMiddleware(Starlette(), require_permission("resources.write"))


def test_a_malformed_scoped_claim_grants_nothing(verifier: TokenVerifier, es: Signer) -> None:
    client = _fastapi(verifier, Authorizer())
    for bad in ({"workspace:ws1": "editor"}, ["editor"], {"workspace:ws1": [1]}):
        headers = _header(es, **{SCOPED_ROLES: bad})
        assert client.get("/ws/ws1", headers=headers).status_code == 403
