"""Page rendering with the CSRF token every form needs, and the check of that token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from starlette.requests import Request
from starlette.responses import HTMLResponse

from authbridge.web.security import same_origin
from authbridge.web.services import Services
from authbridge.web.sessions import current

__all__ = ["CsrfFailed", "check_csrf", "render", "templates"]

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class CsrfFailed(Exception):
    """A state-changing form arrived without a valid token or from another site."""


def _anchor(request: Request, services: Services) -> tuple[str, bool]:
    """What the CSRF token is bound to: the session id once signed in, else a random cookie.

    Returns the anchor and whether it is new (and so must be set as a cookie).
    """
    signed_in = current(request, services)
    if signed_in is not None:
        return signed_in.session_id, False
    existing = request.cookies.get(services.cookies.csrf)
    if existing and 20 <= len(existing) <= 128:
        return existing, False
    fresh = getattr(request.state, "csrf_anchor", None) or services.ready().csrf.new_anchor()
    request.state.csrf_anchor = fresh
    return fresh, True


def render(
    request: Request, services: Services, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    anchor, fresh = _anchor(request, services)
    signed_in = current(request, services)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "csrf_token": services.ready().csrf.token_for(anchor),
            "user": signed_in.user if signed_in else None,
            **context,
        },
        status_code=status_code,
    )
    if fresh:
        services.cookies.set(response, services.cookies.csrf, anchor)
    # Pages carry tokens and CSRF values: never store them in a shared or browser cache.
    response.headers["cache-control"] = "no-store"
    return response


def check_csrf(request: Request, services: Services, token: str) -> None:
    if not same_origin(request):
        raise CsrfFailed("cross-site")
    signed_in = current(request, services)
    anchor = signed_in.session_id if signed_in else request.cookies.get(services.cookies.csrf)
    if not services.ready().csrf.valid(anchor, token):
        raise CsrfFailed("token")
