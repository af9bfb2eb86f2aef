"""Passkeys on the web (directory/passkeys.py): registered and removed on the account page
(`/account/mfa`), used as the second step of a password sign-in (`/login/mfa`), or to sign
in without a password (the login page's "Sign in with a passkey").

Each ceremony is two same-origin POSTs driven by `static/passkeys.js` (the CSP allows no
inline script): `.../options` returns the WebAuthn options as JSON, the page calls
`navigator.credentials.create`/`get` and posts the result back. Both POSTs carry the CSRF
token. The challenge is bound to this browser by the value the CSRF token is made from
(the session id when signed in, else the CSRF cookie), so a response relayed from another
browser finds no challenge.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from authbridge.audit.events import AuditEvent, Target
from authbridge.directory.passkeys import ClonedAuthenticator, PasskeyError, Passkeys, amr_of
from authbridge.storage.models import User
from authbridge.web.audit_actor import request_actor
from authbridge.web.dependencies import ServicesDep
from authbridge.web.mfa_pages import (
    ENROL,
    VERIFY,
    code_attempt,
    code_failed,
    code_succeeded,
    complete_sign_in,
    device_for,
    finish_pending,
    pending_login,
)
from authbridge.web.rendering import check_csrf, render
from authbridge.web.security import safe_next
from authbridge.web.services import Services
from authbridge.web.sessions import current

__all__ = ["router"]

router = APIRouter()
log = structlog.get_logger("authbridge.passkeys")
FormStr = Annotated[str, Form(max_length=64)]
NameStr = Annotated[str, Form(max_length=100)]
NextStr = Annotated[str, Form(max_length=2048)]
# A credential's JSON: an attestation object with a key and no certificate chain is < 2 KB;
# room for attestation certificates, not for a megabyte.
CredentialStr = Annotated[str, Form(max_length=32768)]


def _passkeys(services: Services) -> Passkeys | None:
    found = services.ready().passkeys
    enabled = services.settings.auth.local.enabled and services.settings.auth.local.passkeys.enabled
    return found if enabled else None


def _binding(request: Request, services: Services) -> str:
    """The browser's secret the CSRF token derives from (check_csrf verified it)."""
    signed_in = current(request, services)
    if signed_in is not None:
        return signed_in.session_id
    return request.cookies.get(services.cookies.csrf) or ""


def _json(body: dict[str, object], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status, headers={"cache-control": "no-store"})


def _options(text: str) -> Response:
    return Response(text, media_type="application/json", headers={"cache-control": "no-store"})


def _refused(message: str, status: int = 400) -> JSONResponse:
    return _json({"error": message}, status)


def _audit(request: Request, services: Services, user: User, type_: str, **details: object) -> None:
    services.ready().audit.record(
        AuditEvent(
            type_,
            request_actor(request, services, "user", user.id, user.username),
            Target("user", user.id, user.username),
            details={"factor": "passkey", **details},
        )
    )


def _failed(
    request: Request, services: Services, user: User | None, error: PasskeyError
) -> JSONResponse:
    """Audit a refused sign-in; a counter that went back also says which credential. At
    the second step (`user` known) the failure counts on the codes' throttle too."""
    details: dict[str, object] = {}
    reason = error.reason.split(":")[0]
    if isinstance(error, ClonedAuthenticator):
        reason = "cloned_authenticator"
        details = {
            "passkey_id": error.passkey.id,
            "stored_count": error.passkey.sign_count,
            "seen_count": error.seen,
        }
        log.warning("passkey_counter_regression", passkey_id=error.passkey.id)
    if user is not None:
        code_failed(request, services, user, reason, "passkey", **details)
    else:
        owner = (
            services.ready().storage.users.get(error.passkey.user_id)
            if isinstance(error, ClonedAuthenticator)
            else None
        )
        services.metrics.sign_ins.labels("password", "failure").inc()
        services.ready().audit.record(
            AuditEvent(
                "signin.failed",
                request_actor(request, services, name=owner.username if owner else None),
                Target("user", owner.id, owner.username) if owner else None,
                outcome="failure",
                details={"method": "passkey", "reason": reason, **details},
            )
        )
    if isinstance(error, ClonedAuthenticator):
        return _refused(
            "This passkey was refused: its counter went backwards, so it may have been "
            "copied. Use another way to sign in and remove it from your account.",
            403,
        )
    return _refused("That passkey could not be used. Try again, or use another way.", 401)


# Account: register, list (on /account/mfa), remove ---------------------------------------


def _account_user(request: Request, services: Services) -> User | None:
    signed_in = current(request, services)
    if signed_in is None or signed_in.user.password_hash is None:
        return None  # an IdP's account takes its factors from the IdP
    return signed_in.user


@router.post("/account/passkeys/options", include_in_schema=False)
def registration_options(
    request: Request, services: ServicesDep, csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    passkeys, user = _passkeys(services), _account_user(request, services)
    if passkeys is None or user is None:
        return _refused("Passkeys are not available here.", 404)
    binding = _binding(request, services)
    return _options(passkeys.registration_options(binding, user.id, user.username, user.name or ""))


@router.post("/account/passkeys", include_in_schema=False)
def register(
    request: Request,
    services: ServicesDep,
    credential: CredentialStr = "",
    name: NameStr = "",
    csrf_token: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    passkeys, user = _passkeys(services), _account_user(request, services)
    if passkeys is None or user is None:
        return _refused("Passkeys are not available here.", 404)
    try:
        stored = passkeys.register(_binding(request, services), user.id, credential, name)
    except PasskeyError as exc:
        log.info("passkey_registration_refused", user_id=user.id, reason=exc.reason)
        return _refused("The passkey could not be added. Try again.")
    _audit(request, services, user, "user.passkey_added", passkey_id=stored.id, name=stored.name)
    return _json({"redirect": "/account/mfa?notice=passkey-added"})


@router.get("/account/passkeys/{passkey_id}/remove", include_in_schema=False)
def remove_page(request: Request, services: ServicesDep, passkey_id: int) -> Response:
    passkeys, user = _passkeys(services), _account_user(request, services)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    found = [p for p in passkeys.list(user.id) if p.id == passkey_id] if passkeys else []
    if not found:
        return RedirectResponse("/account/mfa", status_code=303)
    return render(request, services, "passkey_remove.html", passkey=found[0])


@router.post("/account/passkeys/{passkey_id}/remove", include_in_schema=False)
def remove(
    request: Request, services: ServicesDep, passkey_id: int, csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    passkeys, user = _passkeys(services), _account_user(request, services)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    removed = passkeys.remove(user.id, passkey_id) if passkeys else None
    if removed is None:
        return RedirectResponse("/account/mfa", status_code=303)
    _audit(
        request, services, user, "user.passkey_removed", passkey_id=removed.id, name=removed.name
    )
    return RedirectResponse("/account/mfa?notice=passkey-removed", status_code=303)


# The second step of a password sign-in -------------------------------------------------


@router.post("/login/mfa/passkey/options", include_in_schema=False)
def second_factor_options(
    request: Request, services: ServicesDep, csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    passkeys, pending = _passkeys(services), pending_login(request, services)
    if passkeys is None or pending is None or pending.step != VERIFY:
        return _refused("This sign-in waited too long. Sign in again.", 400)
    return _options(passkeys.authentication_options(_binding(request, services), pending.user.id))


@router.post("/login/mfa/passkey", include_in_schema=False)
def second_factor(
    request: Request,
    services: ServicesDep,
    credential: CredentialStr = "",
    csrf_token: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    passkeys, pending = _passkeys(services), pending_login(request, services)
    if passkeys is None or pending is None or pending.step != VERIFY:
        return _refused("This sign-in waited too long. Sign in again.", 400)
    attempt = code_attempt(request, services, pending.user)
    if attempt.throttled:
        return _refused("Too many failed attempts. Wait a few minutes and try again.", 429)
    try:
        used = passkeys.authenticate(_binding(request, services), credential, pending.user.id)
    except PasskeyError as exc:
        return _failed(request, services, pending.user, exc)
    code_succeeded(request, services, pending.user)
    response = _json({"redirect": safe_next(pending.next)})
    if not finish_pending(request, services, pending, response, method="passkey", amr=used.amr):
        return _refused("This sign-in was finished already. Sign in again.", 400)
    return response


@router.post("/login/mfa/enrol/passkey/options", include_in_schema=False)
def enrol_options(request: Request, services: ServicesDep, csrf_token: FormStr = "") -> Response:
    check_csrf(request, services, csrf_token)
    passkeys, pending = _passkeys(services), pending_login(request, services)
    if passkeys is None or pending is None or pending.step != ENROL:
        return _refused("This sign-in waited too long. Sign in again.", 400)
    user = pending.user
    binding = _binding(request, services)
    return _options(passkeys.registration_options(binding, user.id, user.username, user.name or ""))


@router.post("/login/mfa/enrol/passkey", include_in_schema=False)
def enrol(
    request: Request,
    services: ServicesDep,
    credential: CredentialStr = "",
    name: NameStr = "",
    csrf_token: FormStr = "",
) -> Response:
    """A user who must have a second factor registers a passkey instead of an app. As
    with a first TOTP code, the new credential is the second step of this sign-in."""
    check_csrf(request, services, csrf_token)
    passkeys, pending = _passkeys(services), pending_login(request, services)
    if passkeys is None or pending is None or pending.step != ENROL:
        return _refused("This sign-in waited too long. Sign in again.", 400)
    try:
        stored = passkeys.register(_binding(request, services), pending.user.id, credential, name)
    except PasskeyError as exc:
        log.info("passkey_registration_refused", user_id=pending.user.id, reason=exc.reason)
        return _refused("The passkey could not be added. Try again.")
    _audit(
        request,
        services,
        pending.user,
        "user.passkey_added",
        passkey_id=stored.id,
        name=stored.name,
    )
    response = _json({"redirect": safe_next(pending.next)})
    amr = amr_of(stored, passwordless=False)
    if not finish_pending(request, services, pending, response, method="passkey", amr=amr):
        # Finished or revoked meanwhile (a password reset, the account disabled): the
        # passkey came with this sign-in and goes with it, else it signs in on its own.
        if passkeys.remove(pending.user.id, stored.id) is not None:
            _audit(
                request,
                services,
                pending.user,
                "user.passkey_removed",
                passkey_id=stored.id,
                name=stored.name,
            )
        return _refused("This sign-in was finished already. Sign in again.", 400)
    return response


# Without a password ---------------------------------------------------------------------


@router.post("/login/passkey/options", include_in_schema=False)
def passwordless_options(
    request: Request, services: ServicesDep, csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    passkeys = _passkeys(services)
    if passkeys is None:
        return _refused("Passkeys are not available here.", 404)
    return _options(passkeys.authentication_options(_binding(request, services), None))


@router.post("/login/passkey", include_in_schema=False)
def passwordless(
    request: Request,
    services: ServicesDep,
    credential: CredentialStr = "",
    next: NextStr = "",
    csrf_token: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    passkeys = _passkeys(services)
    if passkeys is None:
        return _refused("Passkeys are not available here.", 404)
    try:
        used = passkeys.authenticate(_binding(request, services), credential, None)
    except PasskeyError as exc:
        return _failed(request, services, None, exc)
    user = services.ready().storage.users.get(used.user_id)
    if user is None or not user.active:
        return _refused("That passkey could not be used. Try again, or use another way.", 401)
    response = _json({"redirect": safe_next(next)})
    device = device_for(services, request.cookies.get(services.cookies.device), user.username)
    complete_sign_in(
        request, services, user, response, device=device, method="passkey", amr=used.amr
    )
    return response
