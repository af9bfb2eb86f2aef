"""FastAPI service using the dependency: protection per route, scopes per route.

    python examples/fastapi_dependency_app.py   (configure with AUTHBRIDGE_* env vars)

No ``from __future__ import annotations`` here: FastAPI evaluates ``Depends(auth)`` at
runtime, and ``auth`` is local to ``create_app``.
"""

from typing import Annotated

from fastapi import Depends, FastAPI

from authbridge.middleware import TokenVerifier, VerifiedToken
from authbridge.middleware.dependency import BearerAuth


def create_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI(title="example: FastAPI dependency")
    auth = BearerAuth(verifier)
    admin = auth.require(roles=["admin"])
    writer = auth.require(scopes=["write:dags"])

    @app.get("/public")
    def public() -> dict[str, str]:
        return {"hello": "anyone"}

    @app.get("/me")
    def me(token: Annotated[VerifiedToken, Depends(auth)]) -> dict[str, object]:
        return {"sub": token.subject, "email": token.email, "scopes": sorted(token.scopes)}

    @app.post("/dags")
    def create_dag(token: Annotated[VerifiedToken, Depends(writer)]) -> dict[str, str]:
        return {"created_by": token.subject}

    @app.delete("/users/{user_id}")
    def delete_user(
        user_id: str, token: Annotated[VerifiedToken, Depends(admin)]
    ) -> dict[str, str]:
        return {"deleted": user_id, "by": token.subject}

    return app


if __name__ == "__main__":
    import uvicorn
    from _config import verifier_from_env

    uvicorn.run(create_app(verifier_from_env()), host="127.0.0.1", port=8001)
