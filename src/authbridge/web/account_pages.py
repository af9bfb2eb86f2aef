"""The signed-in user's own pages: `/account` (who, token, sessions, connected apps) and the
password change.

A user sees their live browser sessions (device from the user agent, address, last seen,
which one is this browser) and the apps holding a refresh token for them, and ends any of
them with a CSRF-protected POST; the ending goes through the one `Revocation`.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from authbridge.clock import utcnow
from authbridge.config.roles import ADMINISTRATION
from authbridge.directory.accounts import AccountError
from authbridge.directory.principals import principal_of
from authbridge.web.dependencies import ServicesDep
from authbridge.web.pages import PASSWORD_POLICY
from authbridge.web.rendering import check_csrf, render
from authbridge.web.services import Services
from authbridge.web.sessions import SignedIn, current, sign_in, sign_out

__all__ = ["describe_device", "router"]

router = APIRouter()
log = structlog.get_logger("authbridge.account")
FormStr = Annotated[str, Form(max_length=128)]
UI_CLIENT_ID = "authbridge"
NOTICES = {
    "password-changed": "Your password was changed.",
    "session-ended": "That session was ended; the browser is signed out.",
    "app-ended": "That app's access was ended.",
    "gone": "That session or app had ended already.",
}
# Most specific first: Edge and Opera say Chrome too, Chrome says Safari.
_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
)
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)
_HEADLESS = re.compile(r"Headless", re.IGNORECASE)


def describe_device(user_agent: str | None) -> str:
    """A person's name for a browser ("Firefox on Linux") from its User-Agent (RFC 9110
    §10.1.5); never the raw string, which is long and may be forged."""
    agent = user_agent or ""
    browser = next((name for token, name in _BROWSERS if token in agent), None)
    system = next((name for token, name in _SYSTEMS if token in agent), None)
    if browser and _HEADLESS.search(agent):
        browser = f"{browser} (headless)"
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or "Unknown device"


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _when(moment: datetime) -> str:
    return moment.replace(tzinfo=moment.tzinfo or UTC).strftime("%Y-%m-%d %H:%M UTC")


def _sessions(services: Services, signed_in: SignedIn) -> list[dict[str, Any]]:
    own = signed_in.session.id_hash
    rows = services.ready().storage.sessions.of_user(signed_in.user.id, utcnow())
    return [
        {
            "id": row.id_hash,
            "device": describe_device(row.user_agent),
            "address": row.client_address or "unknown",
            "last_seen": _when(row.last_seen_at),
            "method": row.auth_method,
            "current": row.id_hash == own,
        }
        for row in rows
    ]


def _apps(services: Services, user_id: str) -> list[dict[str, Any]]:
    provider = services.ready().provider
    apps = []
    for grant in provider.grants_of_user(user_id):
        client = provider.registry.get(grant.client_id)
        apps.append(
            {
                "id": grant.family_id,
                "name": (client.name if client else "") or grant.client_id,
                "scope": grant.scope,
                "since": _when(datetime.fromtimestamp(grant.auth_time, UTC)),
            }
        )
    return apps


@router.get("/account", include_in_schema=False)
def account(request: Request, services: ServicesDep) -> Response:
    signed_in = current(request, services)
    if signed_in is None:
        return _see_other("/login")
    ready = services.ready()
    user = signed_in.user
    principal = principal_of(ready.bindings, user)
    issued = ready.issuer.access_token(
        principal,
        audience=services.settings.access_token_audience,
        client_id=UI_CLIENT_ID,
        scope="openid profile email",
    )
    expires = datetime.fromtimestamp(issued.expires_at, UTC).strftime("%Y-%m-%d %H:%M")
    return render(
        request,
        services,
        "account.html",
        roles=list(principal.roles),
        teams=list(principal.groups),
        token=issued.token,
        token_expires=expires,
        method=signed_in.session.auth_method,
        has_password=user.password_hash is not None,
        notice=NOTICES.get(request.query_params.get("notice", "")),
        sessions=_sessions(services, signed_in),
        apps=_apps(services, user.id),
        operator=any(ready.bindings.allows(user.id, p) for p in ADMINISTRATION),
    )


def _owner(request: Request, services: Services, csrf_token: str) -> SignedIn | None:
    """Who is ending something of theirs: the CSRF check first (a cross-site form must not
    end a session), then the signed-in user, whose id bounds what can be ended."""
    check_csrf(request, services, csrf_token)
    return current(request, services)


@router.post("/account/sessions/end", include_in_schema=False)
def end_session(
    request: Request, services: ServicesDep, session: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    """End one of the user's own browser sessions (another browser, or this one)."""
    signed_in = _owner(request, services, csrf_token)
    if signed_in is None:
        return _see_other("/login")
    ended = services.ready().revocation.end_session(signed_in.user.id, session)
    if ended and session == signed_in.session.id_hash:
        response = _see_other("/login")
        sign_out(request, response, services)  # the row is gone already: clears the cookie
        return response
    log.info("session_ended_by_user", user_id=signed_in.user.id, ended=ended)
    return _see_other(f"/account?notice={'session-ended' if ended else 'gone'}#sessions")


@router.post("/account/apps/end", include_in_schema=False)
def end_app(
    request: Request, services: ServicesDep, grant: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    """End one app's access: its refresh-token family for this user."""
    signed_in = _owner(request, services, csrf_token)
    if signed_in is None:
        return _see_other("/login")
    ended = services.ready().revocation.end_grant(signed_in.user.id, grant)
    log.info("grant_ended_by_user", user_id=signed_in.user.id, ended=ended)
    return _see_other(f"/account?notice={'app-ended' if ended else 'gone'}#apps")


@router.get("/account/password", include_in_schema=False)
def password_page(request: Request, services: ServicesDep) -> Response:
    signed_in = current(request, services)
    if signed_in is None or signed_in.user.password_hash is None:
        return _see_other("/login")
    return render(request, services, "password.html", policy=PASSWORD_POLICY)


@router.post("/account/password", include_in_schema=False)
def change_password(
    request: Request,
    services: ServicesDep,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
    csrf_token: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    signed_in = current(request, services)
    if signed_in is None:
        return _see_other("/login")
    ready = services.ready()
    try:
        ready.accounts.change_password(signed_in.user, current_password, new_password)
    except AccountError as exc:
        return render(
            request,
            services,
            "password.html",
            400,
            error=str(exc),
            error_field=exc.field,
            policy=PASSWORD_POLICY,
        )
    # Whoever holds the old password may hold its sessions and tokens too: every browser
    # session and every refresh token of the user ends; this browser gets a new session.
    ready.revocation.revoke_user(signed_in.user.id)
    response = _see_other("/account?notice=password-changed")
    sign_in(
        request,
        response,
        services,
        signed_in.user,
        signed_in.session.auth_method,
        amr=signed_in.session.methods,
        acr=signed_in.session.acr,
    )
    log.info("password_changed", user_id=signed_in.user.id)
    return response
