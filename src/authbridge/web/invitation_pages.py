"""`/invite/<token>`: the page an invitation's link opens. The invited person creates a
local account for the invited email (through the one account factory), or signs in
through an identity provider that proves that email (`directory/identities.py` accepts
the invitation then). The token is checked on every request, used once on acceptance."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

import structlog
from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from authbridge.audit.events import Actor
from authbridge.connectors.mock import MOCK_ID
from authbridge.directory.accounts import LOCAL_CONNECTOR, AccountError
from authbridge.directory.passwords import policy_summary
from authbridge.storage.invitation_models import Invitation
from authbridge.web.audit_actor import request_actor
from authbridge.web.dependencies import ServicesDep
from authbridge.web.email_pages import not_found
from authbridge.web.mfa_pages import second_step
from authbridge.web.rendering import check_csrf, render
from authbridge.web.security import client_address
from authbridge.web.services import Services
from authbridge.web.sessions import current, sign_in

__all__ = ["router"]

router = APIRouter()
log = structlog.get_logger("authbridge.pages")
FormStr = Annotated[str, Form()]


def _gone(request: Request, services: Services) -> Response:
    return not_found(
        request,
        services,
        "Invitation not valid",
        "This invitation link was used already, revoked, or has expired.",
        "Ask the administrator who invited you for a new link.",
    )


def _page(
    request: Request,
    services: Services,
    token: str,
    invitation: Invitation,
    status: int = 200,
    **context: object,
) -> Response:
    # The mock IdP never proves an email, so it could never accept an invitation.
    providers = [p for p in services.login_providers() if p.available and p.id != MOCK_ID]
    signed_in = current(request, services)
    # The invited address has an account already (a local one, or one an IdP made): the
    # person signs in to it, comes back here, and accepts as that account.
    owner = services.ready().storage.users.by_username(invitation.email)
    if signed_in is not None and (signed_in.user.email or "").casefold() == (
        invitation.email.casefold()
    ):
        owner = signed_in.user
    # The path is a credential: the app's `Referrer-Policy: no-referrer` (security_headers)
    # keeps it from being sent onwards.
    return render(
        request,
        services,
        "invitation.html",
        status,
        token=token,
        email=invitation.email,
        inviter=invitation.invited_by,
        expires=f"{invitation.expires_at:%Y-%m-%d %H:%M}",
        providers=providers,
        local_enabled=services.settings.auth.local.enabled and owner is None,
        existing=owner is not None,
        signed_in_as=signed_in.user.username if signed_in is not None else None,
        accept_here=signed_in is not None and owner is not None and owner.id == signed_in.user.id,
        sign_in_url="/login?next=" + quote(f"/invite/{token}", safe=""),
        policy=policy_summary(),
        **context,
    )


@router.get("/invite/{token}", include_in_schema=False)
def invitation_page(request: Request, services: ServicesDep, token: str) -> Response:
    invitation = services.ready().invitations.peek(token)
    if invitation is None:
        return _gone(request, services)
    return _page(request, services, token, invitation)


@router.post("/invite/{token}/accept", include_in_schema=False)
def accept_as_signed_in(
    request: Request, services: ServicesDep, token: str, csrf_token: FormStr = ""
) -> Response:
    """Accept as the account this browser is signed in to (its email is the invited one)."""
    check_csrf(request, services, csrf_token)
    signed_in = current(request, services)
    if signed_in is None:
        return RedirectResponse("/login?next=" + quote(f"/invite/{token}", safe=""), 303)
    ready = services.ready()
    user = signed_in.user
    actor = request_actor(request, services, "user", user.id, user.username)
    if not ready.invitations.accept_signed_in(token, user, actor):
        invitation = ready.invitations.peek(token)
        if invitation is None:
            return _gone(request, services)
        message = (
            f"This invitation is for {invitation.email}; you are signed in as "
            f"{user.username}. Sign out and sign in to the invited account."
        )
        return _page(request, services, token, invitation, 403, error=message)
    log.info("invitation_accepted", method="existing", user_id=user.id)
    return RedirectResponse("/account?notice=invitation-accepted", status_code=303)


@router.post("/invite/{token}", include_in_schema=False)
def accept_invitation(
    request: Request,
    services: ServicesDep,
    token: str,
    name: FormStr = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    ready = services.ready()
    invitation = ready.invitations.peek(token)
    if invitation is None:
        return _gone(request, services)
    actor = Actor(
        "anonymous",
        name=invitation.email,
        address=client_address(request, services.settings.server.trusted_proxies),
        request_id=getattr(request.state, "request_id", None),
    )
    try:
        user = ready.invitations.accept_local(
            token, password=password, name=name[:256] or None, actor=actor
        )
    except AccountError as exc:
        if ready.invitations.peek(token) is None:
            return _gone(request, services)
        return _page(request, services, token, invitation, 400, error=str(exc), name=name[:256])
    # Where a second factor is required (for everyone, or for the roles invited to), the
    # new account sets one up before its session.
    second = second_step(request, services, user, "/account")
    response = second or RedirectResponse("/account", status_code=303)
    if second is None:
        sign_in(request, response, services, user, LOCAL_CONNECTOR)
    services.metrics.sign_ins.labels("signup", "success").inc()
    log.info("sign_up", method="invitation", user_id=user.id)
    return response
