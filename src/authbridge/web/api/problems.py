"""RFC 9457 problem documents for the admin API.

Every error under `/api/v1/` (except the older `authz_routes.py`, which answers its own) is
`application/problem+json` with a stable `type` (`admin.errors.problem_type`), `title`,
`status`, `detail` and, for invalid input, `errors: [{field, message}]`. The RFC 6750 §3
challenge rides along on 401 and 403.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest, problem_type

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "ApiProblem",
    "install",
    "is_api",
    "problem_response",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
API_PATH = "/api/v1/"


# Public documents under /api/v1/ that are not the admin API (OpenMetadata's JWKS path, the
# revocation feed): they keep their own error bodies.
NOT_ADMIN_API = ("/api/v1/system/",)


def is_api(request: Request) -> bool:
    """Whether the request is for the admin API (its errors are problem documents)."""
    path = request.url.path
    return path.startswith(API_PATH) and not path.startswith(NOT_ADMIN_API)


class ApiProblem(Exception):
    """A problem the API's own glue raises (authentication, authorization)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        challenge_error: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.challenge_error = challenge_error
        self.headers = dict(headers or {})


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    extensions: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """RFC 9457 §3: the document; `no-store`, since a problem is about this request."""
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
    }
    for key, value in (extensions or {}).items():
        body.setdefault(key, value)
    response = Response(
        json.dumps(body, separators=(",", ":"), default=str).encode(),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"cache-control": "no-store", **(headers or {})},
    )
    return response


def _challenge(error: str | None, detail: str) -> str:
    value = 'Bearer realm="authbridge"'
    if error is not None:
        value += f', error="{error}", error_description="{detail}"'
    return value


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    response: Response = await result if inspect.isawaitable(result) else result
    return response


def install(app: FastAPI) -> None:
    """Handlers for API errors. Malformed requests and framework HTTP errors are problem
    documents only under `/api/v1/`; elsewhere `web/errors.py` answers as before."""
    fallback_validation = app.exception_handlers.get(RequestValidationError)
    fallback_http = app.exception_handlers.get(HTTPException)

    @app.exception_handler(AdminError)
    async def admin_error(_request: Request, exc: AdminError) -> Response:
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, exc.extensions)

    @app.exception_handler(ApiProblem)
    async def api_problem(_request: Request, exc: ApiProblem) -> Response:
        headers = dict(exc.headers)
        if exc.status in (401, 403):
            headers["www-authenticate"] = _challenge(exc.challenge_error, exc.detail)
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_api(request) and fallback_validation is not None:
            return await _call(fallback_validation, request, exc)
        errors = [
            FieldError(".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]), e["msg"])
            for e in exc.errors()
        ]
        error = InvalidRequest("the request is malformed", errors)
        return problem_response(
            error.status, error.slug, error.title, error.detail, error.extensions
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if not is_api(request) and fallback_http is not None:
            return await _call(fallback_http, request, exc)
        slug = {404: "not-found", 405: "method-not-allowed", 406: "not-acceptable"}.get(
            exc.status_code, "http-error"
        )
        return problem_response(
            exc.status_code,
            slug,
            str(exc.detail) if exc.status_code >= 500 else slug.replace("-", " ").capitalize(),
            str(exc.detail),
            headers=exc.headers,
        )
