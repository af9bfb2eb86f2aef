"""`GET /api/v1/authz/roles`: a user's whole authorization (roles at every scope, groups,
permissions), for services whose token overflowed its claims' size bound
(`authbridge_roles_overflow` / `authbridge_groups_overflow`, see `tokens/claims.py`).

Authenticated by the platform access token itself (RFC 6750 §2.1). Without parameters it
answers for the token's own subject. `?user=<username>` answers for someone else and needs
the `roles.read` permission at system scope (the built-in admin role): the admin gate in
front of the directory, until the admin API arrives. Errors: RFC 9457 problem documents,
with the RFC 6750 §3 challenge in `WWW-Authenticate` (401 `invalid_token`, 403
`insufficient_scope`).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authbridge.web.dependencies import services_of

__all__ = ["AUTHZ_ROLES_PATH", "router"]

AUTHZ_ROLES_PATH = "/api/v1/authz/roles"
READ_OTHERS = "roles.read"
router = APIRouter()


def _response(status: int, body: dict[str, object], media: str = "application/json") -> Response:
    # no-store: a user's roles change, and a shared cache must never answer for another.
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type=media,
        headers={"cache-control": "no-store"},
    )


def _problem(status: int, title: str, detail: str, error: str | None) -> Response:
    """RFC 9457 §3.1 problem document, with RFC 6750 §3's challenge (no error code when the
    request carried no token, §3.1)."""
    response = _response(
        status,
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        "application/problem+json",
    )
    challenge = 'Bearer realm="authbridge"'
    if error is not None:
        challenge += f', error="{error}", error_description="{detail}"'
    # RFC 6750 §3: every answer to a request without an access token that enables access
    # carries the challenge, the 400 of invalid_request included.
    if status in (400, 401, 403):
        response.headers["www-authenticate"] = challenge
    return response


@router.get(AUTHZ_ROLES_PATH, include_in_schema=False)
async def roles(request: Request) -> Response:
    """The roles, scoped roles, groups and permissions of the token's subject (or, for an
    admin, of `?user=`)."""
    header = request.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    # Another scheme (Basic) is no bearer credentials at all (RFC 6750 §3.1: "an
    # unsupported authentication method"): the bare challenge, as the middleware answers.
    if not header or scheme.lower() != "bearer":
        return _problem(401, "Unauthorized", "a bearer token is required", None)
    if not value.strip():
        return _problem(400, "Bad Request", "the Bearer credentials are empty", "invalid_request")
    ready = services_of(request).ready()
    claims = await run_in_threadpool(ready.provider.access_claims, value.strip())
    if claims is None:
        return _problem(
            401,
            "Unauthorized",
            "the access token is invalid, expired or revoked",
            "invalid_token",
        )
    caller = str(claims["sub"])
    wanted = request.query_params.get("user")
    bindings = ready.bindings
    if wanted is None:
        return _response(200, await run_in_threadpool(bindings.document, caller))
    if not await run_in_threadpool(bindings.allows, caller, READ_OTHERS):
        return _problem(
            403,
            "Forbidden",
            f"reading another user's roles needs the {READ_OTHERS} permission",
            "insufficient_scope",
        )
    user = await run_in_threadpool(ready.storage.users.by_username, wanted)
    if user is None:
        return _problem(404, "Not Found", "no such user", None)
    return _response(200, await run_in_threadpool(bindings.document, user.id))
