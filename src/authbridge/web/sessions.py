"""Server-side browser sessions: a random id in an HttpOnly cookie, its digest in storage.

A new id is issued at every sign-in (no session fixation), sign-out deletes the row so a
copied cookie dies with it, and sessions end after an idle timeout and an absolute lifetime.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response

from authbridge.clock import utcnow
from authbridge.middleware.authn import acr_for, recorded_amr
from authbridge.storage.models import BrowserSession, User
from authbridge.web.security import client_address
from authbridge.web.services import Services

__all__ = ["SignedIn", "current", "end_session", "sign_in", "sign_out"]

TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SignedIn:
    session: BrowserSession
    session_id: str
    user: User


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def current(request: Request, services: Services) -> SignedIn | None:
    """The signed-in user of this request, or None; cached on the request."""
    if hasattr(request.state, "signed_in"):
        cached: SignedIn | None = request.state.signed_in
        return cached
    found = None
    session_id = request.cookies.get(services.cookies.session)
    if session_id and len(session_id) <= 128:
        ready = services.ready()
        row = ready.storage.sessions.get(_digest(session_id))
        now = utcnow()
        idle = timedelta(seconds=services.settings.sessions.idle_timeout)
        if row is not None and (
            row.expires_at <= now
            or row.last_seen_at + idle <= now
            or not services.method_enabled(row.auth_method)
        ):
            ready.storage.sessions.delete(row.id_hash)
            row = None
        user = ready.storage.users.get(row.user_id) if row is not None else None
        if row is not None and user is not None and user.active:
            if now - row.last_seen_at >= TOUCH_EVERY:
                ready.storage.sessions.touch(row.id_hash, now)
            found = SignedIn(row, session_id, user)
    request.state.signed_in = found
    return found


def sign_in(
    request: Request,
    response: Response,
    services: Services,
    user: User,
    method: str,
    *,
    amr: Sequence[str] = ("pwd",),
    acr: str | None = None,
) -> str:
    """Start a session with a fresh id, ending any session this browser had.

    `method` is the connector (`local`, an IdP's id); `amr` the RFC 8176 methods the person
    used (a local password: `pwd`; with a TOTP code: `pwd`, `otp`, recorded with `mfa`
    added; an upstream IdP: what its ID token proved, possibly nothing); `acr` the
    platform's level, by default derived from `amr` (middleware/authn.py). Tokens issued
    from this session carry both."""
    ready = services.ready()
    old = request.cookies.get(services.cookies.session)
    if old:
        ready.storage.sessions.delete(_digest(old))
    session_id = secrets.token_urlsafe(32)
    methods = recorded_amr(list(amr))
    now = utcnow()
    lifetime = services.settings.sessions.absolute_lifetime
    ready.storage.sessions.create(
        id_hash=_digest(session_id),
        user_id=user.id,
        auth_method=method,
        now=now,
        expires_at=now + timedelta(seconds=lifetime),
        client_address=client_address(request, services.settings.server.trusted_proxies),
        user_agent=request.headers.get("user-agent"),
        max_per_user=services.settings.sessions.max_per_user,
        amr=methods,
        acr=acr or acr_for(methods),
    )
    services.cookies.set(response, services.cookies.session, session_id)
    # A response that sets a session cookie must never be stored by a cache on the way.
    response.headers["cache-control"] = "no-store"
    request.state.signed_in = None
    return session_id


def end_session(services: Services, session_id: str) -> None:
    """End the session `session_id` on the server (its cookie is the caller's to clear)."""
    services.ready().storage.sessions.delete(_digest(session_id))


def sign_out(request: Request, response: Response, services: Services) -> None:
    session_id = request.cookies.get(services.cookies.session)
    if session_id:
        services.ready().storage.sessions.delete(_digest(session_id))
    services.cookies.clear(response, services.cookies.session)
