"""RFC 9457 problem documents for the admin API.

Every error under `/api/v1/` (except the older `authz_routes.py`, which answers its own) is
`application/problem+json` with a stable `type` (`admin.errors.problem_type`), `title`,
`status`, `detail` and, for invalid input, `errors: [{field, message}]`. The RFC 6750 §3
challenge rides along on 401, 403 and a malformed-credentials 400.

Errors that no admin service raises (the router's 404 and 405, the parser's 400, the body
limit's 413, an outage's 503, a bug's 500) take their kind from `FRAMEWORK_KINDS`, keyed by
status, so one kind has one `type` and one `title` (RFC 9457 §3.1.3: the title does not change
from occurrence to occurrence) whichever layer noticed it.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from authbridge.admin.errors import (
    AdminError,
    FieldError,
    InvalidRequest,
    NotFound,
    problem_type,
)

__all__ = [
    "FRAMEWORK_KINDS",
    "PROBLEM_MEDIA_TYPE",
    "ApiProblem",
    "framework_problem",
    "install",
    "is_api",
    "problem_body",
    "problem_response",
    "too_large",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
API_PATH = "/api/v1/"


# Public documents under /api/v1/ that are not the admin API (OpenMetadata's JWKS path, the
# revocation feed): they keep their own error bodies.
NOT_ADMIN_API = ("/api/v1/system/",)


# status -> (slug, title). 400 and 404 are the admin services' own kinds, so a bad field the
# parser caught and one the service caught are one kind to a client.
FRAMEWORK_KINDS: dict[int, tuple[str, str]] = {
    400: (InvalidRequest.slug, InvalidRequest.title),
    404: (NotFound.slug, NotFound.title),
    405: ("method-not-allowed", "Method not allowed"),
    406: ("not-acceptable", "Not acceptable"),
    413: ("too-large", "Content too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal-error", "Internal error"),
    503: ("unavailable", "Service unavailable"),
}


def framework_kind(status: int) -> tuple[str, str]:
    """The (slug, title) of a problem no admin service raised."""
    return FRAMEWORK_KINDS.get(status, (f"http-{status}", f"HTTP {status}"))


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
    return Response(
        problem_body(status, slug, title, detail, extensions),
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"cache-control": "no-store", **(headers or {})},
    )


def problem_body(
    status: int,
    slug: str,
    title: str,
    detail: str,
    extensions: Mapping[str, Any] | None = None,
) -> bytes:
    """RFC 9457 §3.1: the standard members, then extensions (which never override them)."""
    body: dict[str, Any] = {
        "type": problem_type(slug),
        "title": title,
        "status": status,
        "detail": detail,
    }
    for key, value in (extensions or {}).items():
        body.setdefault(key, value)
    return json.dumps(body, separators=(",", ":"), default=str).encode()


def framework_problem(
    status: int, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A problem of a framework kind (`FRAMEWORK_KINDS`); a 400 has `errors`, empty when no
    single field is to blame, so clients read one shape for every 400."""
    slug, title = framework_kind(status)
    extensions: dict[str, Any] | None = {"errors": []} if status == 400 else None
    return problem_response(status, slug, title, detail, extensions, headers)


def too_large(status: int, detail: str) -> tuple[str, bytes]:
    """The body limit's refusal under `/api/v1/` (`web/limits.py` renderer, RFC 9110
    §15.5.14)."""
    slug, title = framework_kind(status)
    return PROBLEM_MEDIA_TYPE, problem_body(status, slug, title, detail)


def _challenge(error: str | None, detail: str) -> str:
    """RFC 6750 §3; `error_description` holds NQSCHAR only (%x20-21 / %x23-5B / %x5D-7E),
    so a detail with a quote, backslash or non-ASCII character cannot break the header."""
    value = 'Bearer realm="authbridge"'
    if error is not None:
        description = "".join(c if c in NQSCHAR else "?" for c in detail)
        value += f', error="{error}", error_description="{description}"'
    return value


NQSCHAR = frozenset(chr(c) for c in range(0x20, 0x7F)) - {'"', "\\"}


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    result = handler(request, exc)
    response: Response = await result if inspect.isawaitable(result) else result
    return response


def install(app: FastAPI, authenticate: Callable[[Request], Awaitable[Any]]) -> None:
    """Handlers for API errors. Malformed requests and framework HTTP errors are problem
    documents only under `/api/v1/`; elsewhere `web/errors.py` answers as before.

    `authenticate` (auth.authenticated) runs before a body that is not JSON is reported:
    FastAPI parses the body before it resolves a route's dependencies, so without it an
    anonymous caller would be told about the body (400) before being refused (401)."""
    fallback_validation = app.exception_handlers.get(RequestValidationError)
    fallback_http = app.exception_handlers.get(HTTPException)

    @app.exception_handler(AdminError)
    async def admin_error(_request: Request, exc: AdminError) -> Response:
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, exc.extensions)

    @app.exception_handler(ApiProblem)
    async def api_problem(_request: Request, exc: ApiProblem) -> Response:
        headers = dict(exc.headers)
        if exc.status in (401, 403) or exc.challenge_error is not None:
            headers["www-authenticate"] = _challenge(exc.challenge_error, exc.detail)
        # One shape for every 400: `errors` (here the credentials, not a body field).
        extensions = (
            {"errors": [FieldError("Authorization", exc.detail)]} if exc.status == 400 else None
        )
        return problem_response(exc.status, exc.slug, exc.title, exc.detail, extensions, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_api(request) and fallback_validation is not None:
            return await _call(fallback_validation, request, exc)
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            try:
                await authenticate(request)
            except ApiProblem as refused:
                return await api_problem(request, refused)
        errors = [_field_error(e) for e in exc.errors()]
        error = InvalidRequest("the request is malformed", errors)
        return problem_response(
            error.status, error.slug, error.title, error.detail, error.extensions
        )

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if not is_api(request) and fallback_http is not None:
            return await _call(fallback_http, request, exc)
        detail = {
            404: f"there is no resource at {request.url.path}",
            405: f"{request.method} is not allowed here",
        }.get(exc.status_code, str(exc.detail))
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            starlettes = headers.pop("Allow", "")  # replaced, not sent twice
            headers["allow"] = _allow(request, starlettes)
        return framework_problem(exc.status_code, detail, headers)


def _allow(request: Request, fallback: str) -> str:
    """RFC 9110 §15.5.6: a 405 lists every method the resource supports. FastAPI makes one
    route per method, and Starlette's 405 names only the first route whose path matched."""
    methods = _route_methods(request.app.router.routes, request.url.path)
    return ", ".join(sorted(methods)) if methods else fallback


def _route_methods(routes: Iterable[Any], path: str) -> set[str]:
    found: set[str] = set()
    for route in routes:
        # An included router (FastAPI keeps it whole) is searched through.
        inner = getattr(route, "original_router", None)
        children = inner.routes if inner is not None else getattr(route, "routes", None)
        if children:
            found |= _route_methods(children, path)
            continue
        regex, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and methods and regex.match(path):
            found.update(methods)
    return found


def _field_error(error: Mapping[str, Any]) -> FieldError:
    """`errors[]` member of a parser error: the field's dotted path in the body, or the query,
    path or header parameter's name; a body that is not JSON at all is blamed on `body`."""
    location = [str(p) for p in error["loc"]]
    if error.get("type") == "json_invalid":
        reason = error.get("ctx", {}).get("error", "malformed")
        at = f" at character {location[1]}" if len(location) > 1 else ""
        return FieldError("body", f"not valid JSON: {reason}{at}")
    return FieldError(".".join(location[1:]) or location[0], str(error["msg"]))
