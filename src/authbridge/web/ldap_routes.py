"""`POST /v1/ldap/login/<connector>`: the login page's username/password form of one
password connector (an LDAP directory, connectors/ldap.py).

The form is the local password form's twin: CSRF-checked, throttled by the same
`SignInThrottle` (per account and address, per address, per account; the account counted
as `<connector>:<username>` so a directory's names never share counters with local ones;
device cookies exempt a browser that signed in before), failures audited without the
password, one message for an unknown user and a wrong password. A directory that cannot
be reached fails this form only: the page comes back 503 naming it, with every other way
in still there.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.audit.events import AuditEvent
from authbridge.connectors import ConnectorError, PasswordConnector, ProviderUnavailable
from authbridge.web.audit_actor import request_actor
from authbridge.web.dependencies import ServicesDep
from authbridge.web.mfa_pages import device_cookie, device_for
from authbridge.web.oauth_client_routes import complete_sign_in
from authbridge.web.pages import _login_context
from authbridge.web.rendering import check_csrf, render
from authbridge.web.security import client_address
from authbridge.web.services import Services

__all__ = ["router"]

router = APIRouter()
log = structlog.get_logger("authbridge.pages")
FormStr = Annotated[str, Form()]
METHOD = "ldap"


def throttle_account(connector: PasswordConnector, username: str) -> str:
    """The account a directory's failures are counted against (`<connector>:<username>`:
    the `:` namespace is never a local account's)."""
    return f"{connector.id}:{username}"


def _page(
    request: Request,
    services: Services,
    status: int,
    connector: PasswordConnector | None,
    username: str,
    next_url: str,
    error: str,
    field: str | None = None,
) -> Response:
    form = f"ldap-{connector.id}" if connector is not None else None
    return render(
        request,
        services,
        "login.html",
        status,
        error=error,
        error_field=f"{form}-{field}" if form and field else None,
        form_connector=connector.id if connector is not None else None,
        form_username=username,
        **_login_context(services, next_url),
    )


def _failed(
    request: Request, services: Services, connector: PasswordConnector, account: str, reason: str
) -> None:
    services.metrics.sign_ins.labels(connector.id, reason).inc()
    services.ready().audit.record(
        AuditEvent(
            "signin.failed",
            request_actor(request, services, name=account[:255]),
            outcome="failure",
            details={"method": METHOD, "connector": connector.id, "reason": reason},
        )
    )


@router.post("/v1/ldap/login/{connector_id}", include_in_schema=False)
def ldap_login(
    request: Request,
    services: ServicesDep,
    connector_id: str,
    username: FormStr = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    connector = services.connectors.password(connector_id)
    if connector is None:
        return _page(
            request, services, 404, None, "", next, "That sign-in form is not configured here."
        )
    ready = services.ready()
    address = client_address(request, services.settings.server.trusted_proxies)
    typed = username.strip()[:320]
    if not typed or not password or not typed.isprintable():
        # RFC 4513 §5.1.2: an empty password is refused here, and again by the connector.
        services.metrics.sign_ins.labels(connector.id, "invalid_request").inc()
        message = f"Enter your {connector.username_prompt.lower()} and password."
        field = "password" if typed else "username"
        return _page(request, services, 400, connector, typed, next, message, field)
    account = throttle_account(connector, typed)
    device = device_for(services, request.cookies.get(services.cookies.device), account)
    # Counted before the directory is asked: requests racing cannot all read one count.
    attempt = ready.throttle.counted(account, address, device=device)
    if attempt.throttled:
        log.warning("sign_in_throttled", method=METHOD, connector=connector.id, address=address)
        _failed(request, services, connector, typed, "throttled")
        response = _page(
            request,
            services,
            429,
            connector,
            typed,
            next,
            "Too many failed sign-ins. Wait a few minutes and try again.",
        )
        response.headers["retry-after"] = str(attempt.retry_after)
        return response
    try:
        identity = connector.login(typed, password)
    except ProviderUnavailable as exc:
        ready.throttle.not_a_guess(account, address, device=device)
        log.warning(
            "ldap_sign_in_unavailable", connector=connector.id, code=exc.code, detail=exc.hint
        )
        _failed(request, services, connector, typed, "unavailable")
        message = (
            f"{connector.display_name} cannot be reached right now. Try again in a few "
            "minutes, or sign in another way."
        )
        return _page(request, services, 503, connector, typed, next, message)
    except ConnectorError as exc:
        ready.throttle.not_a_guess(account, address, device=device)
        log.warning("ldap_sign_in_failed", connector=connector.id, code=exc.code, detail=exc.hint)
        _failed(request, services, connector, typed, exc.code)
        return _page(request, services, exc.status, connector, typed, next, exc.message)
    if identity is None:
        log.info("sign_in_failed", method=METHOD, connector=connector.id, address=address)
        _failed(request, services, connector, typed, "invalid_credentials")
        # One message for an unknown user and a wrong password (no enumeration).
        message = (
            f"That {connector.username_prompt.lower()} and password do not match an account "
            f"in {connector.display_name}."
        )
        return _page(request, services, 401, connector, typed, next, message, "password")
    ready.throttle.signed_in(account, address, device=device)
    response = complete_sign_in(request, identity, connector.signup, next, method=METHOD)
    # A device cookie once signed in; not before a second step (web/mfa_pages.py).
    done = not response.headers.get("location", "").startswith("/login/mfa")
    if response.status_code == 303 and device is None and done:
        cookie = device_cookie(services, account)
        services.cookies.set(response, services.cookies.device, cookie, max_age=180 * 24 * 3600)
    return response
