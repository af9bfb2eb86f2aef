"""The three example apps, driven by test clients: ASGI middleware, FastAPI dependency,
Flask behind the WSGI middleware. Failure answers are checked against RFC 6750 §3.1:
no credentials → 401 and a bare ``Bearer`` challenge; bad token → 401 ``invalid_token``;
missing scope → 403 ``insufficient_scope``; malformed header → 400 ``invalid_request``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient

from .forge import Signer, access_claims, at_header, compact

EXAMPLES = Path(__file__).parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def bearer(signer: Signer, **claims: Any) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {compact(at_header(signer), access_claims(**claims), signer)}"
    }


def challenge(response: Any) -> str:
    return response.headers["www-authenticate"]


def check_rfc6750(client: Any, path: str, signer: Signer, method: str = "get") -> None:
    call = getattr(client, method)
    r = call(path)
    assert r.status_code == 401
    assert challenge(r).startswith("Bearer realm=") and "error=" not in challenge(r)
    r = call(path, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert r.status_code == 401 and "error=" not in challenge(r)
    r = call(path, headers={"Authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401 and 'error="invalid_token"' in challenge(r)
    r = call(path, headers={"Authorization": "Bearer a b"})
    assert r.status_code == 400 and 'error="invalid_request"' in challenge(r)
    r = call(path, headers=bearer(signer, exp=1))
    assert r.status_code == 401 and 'error="invalid_token"' in challenge(r)
    assert "expired" in challenge(r)


@pytest.fixture
def es(signers: dict[str, Signer]) -> Signer:
    return signers["ES256"]


def test_fastapi_middleware_example(verifier, es):
    app = load("fastapi_middleware_app").create_app(verifier)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/whoami", headers=bearer(es))
        assert r.status_code == 200
        assert r.json() == {
            "sub": "user-123",
            "principal": "jane@example.com",
            "scopes": ["authenticated", "openid", "read:dags", "write:dags"],
        }
        assert client.post("/dags", headers=bearer(es)).json() == {"created_by": "user-123"}
        # Starlette's @requires answers 403 for a valid token without the scope.
        assert client.post("/dags", headers=bearer(es, scope="openid")).status_code == 403
        check_rfc6750(client, "/whoami", es)


def test_fastapi_middleware_required_scope_is_403_with_scope_attribute(verifier, es):
    from fastapi import FastAPI

    from authbridge.middleware.asgi import JwtAuthMiddleware

    app = FastAPI()
    app.add_middleware(JwtAuthMiddleware, verifier=verifier, scopes=["admin"])

    @app.get("/")
    def root() -> dict[str, str]:
        return {}

    with TestClient(app) as client:
        r = client.get("/", headers=bearer(es))
        assert r.status_code == 403
        assert 'error="insufficient_scope"' in challenge(r) and 'scope="admin"' in challenge(r)
        assert r.json()["error"] == "insufficient_scope"


def test_fastapi_middleware_refuses_websocket(verifier, es):
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from authbridge.middleware.asgi import JwtAuthMiddleware

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.user.identity)
        await websocket.close()

    app = JwtAuthMiddleware(Starlette(routes=[WebSocketRoute("/ws", ws)]), verifier)
    with TestClient(app) as client:
        with client.websocket_connect("/ws", headers=bearer(es)) as conn:
            assert conn.receive_text() == "user-123"
        with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/ws"):
            pass
        assert info.value.code == 1008


def test_fastapi_dependency_example(verifier, es):
    app = load("fastapi_dependency_app").create_app(verifier)
    with TestClient(app) as client:
        assert client.get("/public").status_code == 200
        r = client.get("/me", headers=bearer(es))
        assert r.status_code == 200 and r.json()["email"] == "jane@example.com"
        assert client.post("/dags", headers=bearer(es)).status_code == 200
        r = client.post("/dags", headers=bearer(es, scope="openid"))
        assert r.status_code == 403 and 'error="insufficient_scope"' in challenge(r)
        assert 'scope="write:dags"' in challenge(r)
        r = client.delete("/users/7", headers=bearer(es))
        assert r.status_code == 403
        r = client.delete("/users/7", headers=bearer(es, roles=["admin"]))
        assert r.json() == {"deleted": "7", "by": "user-123"}
        check_rfc6750(client, "/me", es)
        schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
        assert schemes["bearerAuth"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


def test_flask_wsgi_example(verifier, es):
    app = load("flask_wsgi_app").create_app(verifier)
    client = app.test_client()
    assert client.get("/health").status_code == 200
    r = client.get("/api/v1/dags", headers=bearer(es))
    assert r.status_code == 200
    assert r.json == {"remote_user": "jane@example.com", "sub": "user-123", "roles": ["viewer"]}
    check_rfc6750(client, "/api/v1/dags", es)


def test_flask_wsgi_forged_tokens_never_500(verifier, signers):
    from .test_verifier import FORGED

    app = load("flask_wsgi_app").create_app(verifier)
    client = app.test_client()
    for name, forge, _ in FORGED:
        token = forge(signers)
        if not isinstance(token, str) or not token or any(c in token for c in " \x00ï"):
            continue  # not expressible as one b64token in a header: covered elsewhere
        r = client.get("/api/v1/dags", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code in (400, 401), name
