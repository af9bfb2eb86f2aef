"""Page rendering with the CSRF token every form needs, and the check of that token.

Templates come from `branding.templatesDir` first and the built-in directory second (a Jinja
ChoiceLoader), so an operator replaces one page, or base.html for all of them, without
forking; every page gets `brand` (product name, logo, colours) for the header and title.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from authbridge.config.branding import BrandingSettings
from authbridge.web.security import same_origin
from authbridge.web.services import Services
from authbridge.web.sessions import current

__all__ = [
    "CsrfFailed",
    "brand_of",
    "check_csrf",
    "code_spans",
    "render",
    "templates",
    "templates_for",
]

BUILT_IN = Path(__file__).parent / "templates"
_CODE_SPAN = re.compile(r"`([^`\n]+)`")


def code_spans(text: object) -> Markup:
    """Messages name commands and keys between backticks (`authbridge setup-link`): shown
    as <code>, never as literal backticks; everything else is escaped."""
    # Safe: the text is escaped first; only the <code> tags added here are markup.
    return Markup(_CODE_SPAN.sub(r"<code>\1</code>", str(escape(text))))  # noqa: S704


@lru_cache(maxsize=8)
def templates_for(templates_dir: Path | None) -> Jinja2Templates:
    """The page templates: the operator's directory (if any) overrides built-ins by name."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(BUILT_IN))]
    if templates_dir is not None:
        loaders.insert(0, jinja2.FileSystemLoader(str(templates_dir)))
    environment = jinja2.Environment(loader=jinja2.ChoiceLoader(loaders), autoescape=True)
    environment.filters["code"] = code_spans
    return Jinja2Templates(env=environment)


templates = templates_for(None)


def brand_of(branding: BrandingSettings) -> dict[str, Any]:
    return {
        "name": branding.product_name,
        "logo": branding.logo_path is not None,
        "colours": branding.primary_color is not None or branding.accent_color is not None,
    }


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
    branding = services.settings.branding
    response = templates_for(branding.templates_dir).TemplateResponse(
        request,
        template,
        {
            "csrf_token": services.ready().csrf.token_for(anchor),
            "user": signed_in.user if signed_in else None,
            "brand": brand_of(branding),
            # The operator finds the page's log lines (and their diagnostics) by this id.
            "request_id": getattr(request.state, "request_id", None),
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
