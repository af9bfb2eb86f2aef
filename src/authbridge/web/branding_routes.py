"""`GET /branding.css` and `GET /branding/logo`: the operator's colours and logo, served by
authbridge itself so the pages keep `default-src 'self'` and load nothing from elsewhere."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import FileResponse, Response

from authbridge.web.dependencies import services_of

__all__ = ["router"]

router = APIRouter()
# Branding changes only with the configuration (a restart): an hour in caches is harmless.
CACHE = {"cache-control": "public, max-age=3600"}


@router.get("/branding.css", include_in_schema=False)
def branding_css(request: Request) -> Response:
    """The custom properties style.css reads (`--accent`, `--accent-dark`); colours were
    validated and contrast-checked when the configuration loaded."""
    branding = services_of(request).settings.branding
    properties = []
    if branding.primary_color:
        properties.append(f"--accent: {branding.primary_color};")
    if branding.accent_color:
        properties.append(f"--accent-dark: {branding.accent_color};")
    body = ":root { " + " ".join(properties) + " }\n"
    return Response(body, media_type="text/css", headers=CACHE)


@router.get("/branding/logo", include_in_schema=False)
def branding_logo(request: Request) -> Response:
    branding = services_of(request).settings.branding
    if branding.logo_path is None or not branding.logo_path.is_file():
        return Response(status_code=404)
    return FileResponse(branding.logo_path, media_type=branding.logo_type, headers=CACHE)
