"""`/admin/connectors`: the identity providers, each one's status from what this process
last saw of it (`admin.connectors`, no probe on read), the redirect URI to register at the
IdP (the one a sign-in sends, `connectors/redirects.py`), and `authbridge doctor`'s checks
of it run on demand ("Run checks", a POST: it calls the IdP).

Operator diagnostics (internal URLs, proxy advice, the failure's hint) are shown here and
logged, never on the login page's end-user messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.connectors import ConnectorView
from authbridge.admin.errors import AdminError
from authbridge.connectors.redirects import CALLBACK_PATH, DEX_CALLBACK_PATH
from authbridge.doctor import Check, check_connector
from authbridge.web.console.guard import ConsoleUser, console_user, console_writer
from authbridge.web.console.shell import failed, page
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["router"]

log = structlog.get_logger("authbridge.console")
router = APIRouter()
SECTION = "connectors"


@dataclass(frozen=True, slots=True)
class RedirectUri:
    uri: str
    note: str


def redirect_uris(services: Services, view: ConnectorView) -> list[RedirectUri]:
    """What to register at the IdP: the URI a sign-in sends, exactly (RFC 6749 §3.1.2.3),
    and, for the code flow, Dex's path authbridge also serves (it is sent only when the
    provider's `redirectUri` names it)."""
    issuer = services.settings.server.issuer
    sent = view.redirect_uri
    if sent.endswith(DEX_CALLBACK_PATH):
        return [RedirectUri(sent, "sent by sign-ins (redirectUri: a Dex/Pachyderm registration)")]
    found = [RedirectUri(sent, "sent by sign-ins")]
    if sent == issuer + CALLBACK_PATH:
        found.append(
            RedirectUri(
                issuer + DEX_CALLBACK_PATH,
                "also served, for an app registered for Dex; sent only once redirectUri "
                "is set to it",
            )
        )
    return found


def _detail(
    request: Request,
    services: Services,
    user: ConsoleUser,
    connector_id: str,
    checks: list[Check] | None = None,
    checked: bool = False,
) -> Response:
    try:
        view = services.ready().admin.connectors.get(connector_id)
    except AdminError as error:
        return failed(request, services, user, error, back="/admin/connectors", section=SECTION)
    return page(
        request,
        services,
        user,
        "console/connector.html",
        SECTION,
        connector=view,
        redirects=redirect_uris(services, view),
        checks=checks or [],
        checked=checked,
        live=services.connectors.get(view.id) is not None,
    )


@router.get("/admin/connectors", include_in_schema=False)
def connector_list(request: Request, services: ServicesDep) -> Response:
    user = console_user(request, services, "connectors.read")
    views = services.ready().admin.connectors.list()
    return page(
        request,
        services,
        user,
        "console/connectors.html",
        SECTION,
        connectors=views,
        redirects={v.id: redirect_uris(services, v)[0].uri for v in views},
    )


@router.get("/admin/connectors/{connector_id}", include_in_schema=False)
def connector_page(connector_id: str, request: Request, services: ServicesDep) -> Response:
    user = console_user(request, services, "connectors.read")
    return _detail(request, services, user, connector_id)


@router.post("/admin/connectors/{connector_id}/checks", include_in_schema=False)
def run_checks(
    connector_id: str,
    request: Request,
    services: ServicesDep,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """`authbridge doctor`'s checks of this IdP, through the app's own connector (so its
    calls count in the status above). Reading only, but a POST: it sends requests to the
    IdP, which a link, a prefetch or a crawler must not trigger."""
    user = console_writer(request, services, "connectors.read", csrf_token)
    connector = services.connectors.get(connector_id)
    if connector is None:  # disabled or unknown: the page says which
        return _detail(request, services, user, connector_id, checked=True)
    checks = check_connector(connector, services.settings)
    log.info(
        "console_connector_checked",
        connector=connector_id,
        failed=[c.check for c in checks if c.status == "fail"],
    )
    return _detail(request, services, user, connector_id, checks, checked=True)
