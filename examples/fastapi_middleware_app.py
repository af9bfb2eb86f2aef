"""FastAPI service protected by the ASGI middleware: every route needs a valid token.

    uvicorn examples.fastapi_middleware_app:app   (configure with AUTHBRIDGE_* env vars)

``request.user`` is a ``TokenUser`` and ``request.auth.scopes`` holds the token's scopes, so
Starlette's ``@requires`` works as usual.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.authentication import requires

from authbridge.middleware import TokenVerifier
from authbridge.middleware.asgi import JwtAuthMiddleware


def create_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI(title="example: ASGI middleware")
    app.add_middleware(JwtAuthMiddleware, verifier=verifier, exempt_paths=["/healthz"])

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/whoami")
    def whoami(request: Request) -> dict[str, object]:
        user = request.user
        return {
            "sub": user.identity,
            "principal": user.principal,
            "scopes": sorted(request.auth.scopes),
        }

    @app.post("/dags")
    @requires("write:dags")
    async def create_dag(request: Request) -> dict[str, str]:
        return {"created_by": request.user.identity}

    return app


if __name__ == "__main__":
    import uvicorn
    from _config import verifier_from_env

    uvicorn.run(create_app(verifier_from_env()), host="127.0.0.1", port=8000)
