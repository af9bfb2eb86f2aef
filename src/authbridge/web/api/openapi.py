"""`GET /api/v1/openapi.json`: the admin API's OpenAPI 3.1 document.

Built once per app from the routes under `/api/v1/` that are in the schema (the OAuth, OIDC
and SCIM endpoints are specified by their RFCs and stay out). Every operation documents its
errors as `application/problem+json` (`Problem`, RFC 9457 §3), including the 400 that
FastAPI would otherwise describe as its own 422 validation body, and requires the bearer
scheme (RFC 6750).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.responses import Response

from authbridge import __version__
from authbridge.admin.errors import PROBLEM_TYPE_PREFIX

__all__ = ["OPENAPI_PATH", "PROBLEM_STATUSES", "document", "problems", "router"]

OPENAPI_PATH = "/api/v1/openapi.json"
router = APIRouter()

PROBLEM_STATUSES = {
    400: "The request is invalid (`errors` lists each field).",
    401: "No valid access token.",
    403: "The token's subject lacks the permission.",
    404: "No such resource.",
    409: "Conflicts with the current state, or managed elsewhere.",
    412: "`If-Match` named another version.",
    413: "The request body is larger than the server accepts.",
    428: "This write needs `If-Match`.",
    503: "The database is unavailable; retry after `Retry-After` seconds.",
}
# Every authenticated operation can answer these.
ALWAYS = (400, 401, 403, 503)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "description": f"`{PROBLEM_TYPE_PREFIX}<kind>`"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "description": "On 400: each invalid field (`body` when the body is not JSON).",
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status"],
}


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the problem answers it can give beyond `ALWAYS`."""
    return {
        status: {
            "description": PROBLEM_STATUSES[status],
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for status in statuses
    }


def document(routers: Sequence[APIRouter]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the API routers' routes (each router carries its prefix)."""
    api_routes = [
        r
        for router in routers
        for r in router.routes
        if isinstance(r, APIRoute) and r.path.startswith("/api/v1/") and r.include_in_schema
    ]
    doc = get_openapi(
        title="authbridge admin API",
        version=__version__,
        openapi_version="3.1.0",
        description=(
            "Administration of authbridge: users, teams, role bindings, clients, service "
            "accounts, robots, signing keys, SCIM credentials, connectors and the audit log. "
            "Authenticate with a platform access token whose subject holds the permission "
            "named by each operation. Errors are RFC 9457 problem documents."
        ),
        routes=api_routes,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    components["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    always = problems(*ALWAYS)
    with_body = problems(413)
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            responses.pop("422", None)
            for status, response in always.items():
                responses.setdefault(str(status), response)
            if "requestBody" in operation:  # web/limits.py refuses it while it streams
                for status, response in with_body.items():
                    responses.setdefault(str(status), response)
            operation.setdefault("security", [{"bearer": []}])
    return doc


@router.get(OPENAPI_PATH, include_in_schema=False)
async def openapi_document(request: Request) -> Response:
    """The document (unauthenticated, like a discovery document: it describes, grants
    nothing). Built at the first request and kept for the app's life."""
    cached: bytes | None = getattr(request.app.state, "api_openapi", None)
    if cached is None:
        routers = request.app.state.api_routers  # set by create_app
        cached = json.dumps(document(routers), separators=(",", ":")).encode()
        request.app.state.api_openapi = cached
    return Response(cached, media_type="application/json")
