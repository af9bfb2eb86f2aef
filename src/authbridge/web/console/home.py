"""`/admin`: the console's front page, the sections this operator may open."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from authbridge.web.console.guard import console_user
from authbridge.web.console.shell import page
from authbridge.web.dependencies import ServicesDep

__all__ = ["router"]

router = APIRouter()


@router.get("/admin", include_in_schema=False)
def home(request: Request, services: ServicesDep) -> Response:
    user = console_user(request, services, None)
    return page(request, services, user, "console/home.html", None)
