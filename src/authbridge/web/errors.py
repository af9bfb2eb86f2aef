"""Every failure ends on a clear page (or JSON for programs), never a traceback."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from authbridge.storage.errors import (
    MAYBE_UNAVAILABLE,
    UNAVAILABLE,
    UNSTORABLE,
    RedisUnavailable,
    lost_connection,
)
from authbridge.web.api.problems import framework_problem, is_api
from authbridge.web.dependencies import services_of
from authbridge.web.rendering import CsrfFailed, brand_of, templates_for

__all__ = ["RETRY_AFTER", "error_response", "install"]

# Seconds a client is asked to wait after a 503 (RFC 9110 §10.2.3).
RETRY_AFTER = "5"

log = structlog.get_logger("authbridge.errors")

TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Request too large",
    429: "Too many requests",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request, status: int, message: str, hint: str | None = None, code: str | None = None
) -> Response:
    """An error page for browsers, a JSON body for programs; needs no storage."""
    request_id = getattr(request.state, "request_id", None)
    headers = {"cache-control": "no-store"}
    if status == 503:
        headers["retry-after"] = RETRY_AFTER
    if is_api(request):
        # The admin API answers RFC 9457 problem documents, outages and limits included,
        # of the kind its status names (one type, one title, whichever layer noticed it).
        return framework_problem(status, message, headers)
    if not _wants_html(request):
        body = {
            "error": code or TITLES.get(status, "error").lower().replace(" ", "_"),
            "error_description": message,
        }
        return JSONResponse(body, status_code=status, headers=headers)
    branding = services_of(request).settings.branding
    return templates_for(branding.templates_dir).TemplateResponse(
        request,
        "error.html",
        {
            "brand": brand_of(branding),
            "title": TITLES.get(status, "Error"),
            "message": message,
            "hint": hint,
            "request_id": request_id,
            "user": None,
            "csrf_token": "",
        },
        status_code=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        log.warning("csrf_rejected", reason=str(exc), path=request.url.path)
        return error_response(
            request,
            403,
            "This form expired or was sent from another site.",
            "Go back, reload the page and try again.",
            "csrf",
        )

    async def unavailable(request: Request, exc: Exception) -> Response:
        # Redis holds the counters a sign-in or a credential check needs: without it the
        # request is refused (503), never let through unthrottled.
        redis = isinstance(exc, RedisUnavailable)
        what, link = ("Redis", "the Redis") if redis else ("its database", "the database")
        log.error("storage_unavailable", error=type(exc).__name__, path=request.url.path)
        return error_response(
            request,
            503,
            f"The service cannot reach {what} right now.",
            f"Try again in a moment. Operators: check /readyz and {link} connection.",
            "temporarily_unavailable",
        )

    # Only "cannot talk to the database" is a 503 (storage names which errors those are): a
    # DataError or IntegrityError is a bug or bad input and must not be dressed up as an
    # outage (it ends as a 400 or a logged 500).
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, unavailable)

    async def maybe_unavailable(request: Request, exc: Exception) -> Response:
        # A database error of another class is an outage only if its connection was lost
        # with it; any other (an IntegrityError, a bug) stays the 500 it was.
        if lost_connection(exc):
            return await unavailable(request, exc)
        raise exc

    for kind in MAYBE_UNAVAILABLE:
        app.add_exception_handler(kind, maybe_unavailable)

    async def unstorable(request: Request, exc: Exception) -> Response:
        # The database refused a value (a NUL, an out-of-range number): bad input, never an
        # outage; routes validate first, this is the net under them.
        log.warning("unstorable_value", path=request.url.path)
        return error_response(
            request,
            400,
            "The request holds a value the service cannot store; check it for control characters.",
            code="invalid_request",
        )

    for kind in UNSTORABLE:
        app.add_exception_handler(kind, unstorable)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        message = {
            404: "There is no page at this address.",
            405: "This address does not accept that method.",
        }.get(exc.status_code, str(exc.detail))
        return error_response(request, exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()})
        return error_response(
            request,
            400,
            "The request is malformed: check " + (", ".join(fields) or "its parameters") + ".",
            code="invalid_request",
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", path=request.url.path)
        return error_response(request, 500, "An unexpected error occurred; it has been logged.")
