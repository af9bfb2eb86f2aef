"""Browser pages: sign-in, sign-up, first-admin setup, the signed-in page, password change."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from authbridge.audit.events import AuditEvent, Target
from authbridge.directory.accounts import LOCAL_CONNECTOR, AccountError
from authbridge.directory.principals import principal_of
from authbridge.directory.roles import is_initial_admin
from authbridge.storage.users import username_key
from authbridge.web.audit_actor import request_actor
from authbridge.web.dependencies import ServicesDep
from authbridge.web.rendering import check_csrf, render
from authbridge.web.security import client_address, safe_next
from authbridge.web.services import Services
from authbridge.web.sessions import current, sign_in, sign_out

__all__ = ["router"]

router = APIRouter()
log = structlog.get_logger("authbridge.pages")
FormStr = Annotated[str, Form()]
DEVICE = "device"
UI_CLIENT_ID = "authbridge"


def _device_for(value: str | None, account: str) -> str | None:
    """The device id of a device cookie, if it was issued for `account` (OWASP device cookies)."""
    if not value:
        return None
    device, _, owner = value.partition(":")
    return device if owner == username_key(account) else None


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _login_context(services: Services, next_url: str = "") -> dict[str, Any]:
    local = services.settings.auth.local
    return {
        "local_enabled": local.enabled,
        "signup_enabled": local.enabled and local.allow_signup,
        # Password reset by email (web/email_pages.py) needs outgoing mail.
        "reset_enabled": local.enabled and services.settings.smtp.configured,
        "providers": services.login_providers(),
        "next": safe_next(next_url, default=""),
    }


@router.get("/", include_in_schema=False)
def home(request: Request, services: ServicesDep) -> Response:
    return _see_other("/account" if current(request, services) else "/login")


@router.get("/login", include_in_schema=False)
async def login_page(
    request: Request, services: ServicesDep, next: str = "", login_hint: str = ""
) -> Response:
    if request.cookies.get(services.cookies.session) or services.login_providers_may_wait:
        # A session cookie means a database read and an IdP button may wait briefly on its
        # discovery probe: both go to the thread pool, never onto the event loop.
        return await run_in_threadpool(_login_page, request, services, next, login_hint)
    # A signed-out browser and local accounts only: nothing here blocks, and the hop to a
    # worker thread measured about a quarter of a sign-in's non-argon2 CPU.
    return _login_page(request, services, next, login_hint)


def _login_page(request: Request, services: Services, next: str, login_hint: str) -> Response:
    if current(request, services):
        return _see_other(safe_next(next))
    # OIDC Core §3.1.2.1 login_hint, relayed by the authorization endpoint: prefilled only.
    hint = login_hint.strip()[:320] or None
    return render(request, services, "login.html", username=hint, **_login_context(services, next))


@router.post("/login", include_in_schema=False)
def login(
    request: Request,
    services: ServicesDep,
    username: FormStr = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    context = _login_context(services, next)
    if not services.settings.auth.local.enabled:
        return render(
            request, services, "login.html", 404, error="Password sign-in is turned off.", **context
        )
    ready = services.ready()
    metrics = services.metrics.sign_ins
    address = client_address(request, services.settings.server.trusted_proxies)
    account = username.strip()[:320]
    if not account or not password or not account.isprintable():
        metrics.labels("password", "invalid_request").inc()
        return render(
            request,
            services,
            "login.html",
            400,
            username=account,
            error="Enter your email and password.",
            **context,
        )
    device = _device_for(
        ready.csrf.unsign(DEVICE, request.cookies.get(services.cookies.device)), account
    )
    attempt = ready.throttle.check(account, address, device=device)
    if attempt.throttled:
        metrics.labels("password", "throttled").inc()
        log.warning("sign_in_throttled", method="password", address=address)
        _signin_failed(request, services, account, "throttled")
        response = render(
            request,
            services,
            "login.html",
            429,
            username=account,
            error="Too many failed sign-ins. Wait a few minutes and try again.",
            **context,
        )
        response.headers["retry-after"] = str(attempt.retry_after)
        return response
    user = ready.accounts.authenticate(account, password)
    if user is None:
        ready.throttle.failed(account, address, device=device)
        metrics.labels("password", "failure").inc()
        log.info("sign_in_failed", method="password", address=address)
        _signin_failed(request, services, account, "invalid_credentials")
        # One message for unknown user, wrong password and disabled account (no enumeration).
        return render(
            request,
            services,
            "login.html",
            401,
            username=account,
            error="That email and password do not match an account.",
            **context,
        )
    ready.throttle.succeeded(account, address, attempt, device=device)
    signed = _see_other(safe_next(next))
    sign_in(request, signed, services, user, LOCAL_CONNECTOR)
    if device is None:
        device_cookie = ready.csrf.sign(DEVICE, f"{secrets.token_urlsafe(12)}:{user.username_key}")
        services.cookies.set(
            signed, services.cookies.device, device_cookie, max_age=180 * 24 * 3600
        )
    metrics.labels("password", "success").inc()
    log.info("sign_in", method="password", user_id=user.id)
    ready.audit.record(
        AuditEvent(
            "signin.succeeded",
            request_actor(request, services, "user", user.id, user.username),
            Target("user", user.id, user.username),
            details={"method": "password"},
        )
    )
    return signed


def _signin_failed(request: Request, services: Services, account: str, reason: str) -> None:
    # The account as typed names who was tried (never the password).
    services.ready().audit.record(
        AuditEvent(
            "signin.failed",
            request_actor(request, services, name=account),
            outcome="failure",
            details={"method": "password", "reason": reason},
        )
    )


@router.get("/signup", include_in_schema=False)
def signup_page(request: Request, services: ServicesDep) -> Response:
    local = services.settings.auth.local
    if not (local.enabled and local.allow_signup):
        return render(
            request,
            services,
            "error.html",
            404,
            title="Sign-up is turned off",
            message="Ask an administrator to create an account for you.",
        )
    return render(
        request,
        services,
        "signup.html",
        heading="Create an account",
        action="/signup",
        submit="Create account",
    )


@router.post("/signup", include_in_schema=False)
def signup(
    request: Request,
    services: ServicesDep,
    email: FormStr = "",
    name: FormStr = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    ready = services.ready()
    address = client_address(request, services.settings.server.trusted_proxies)
    form = {
        "heading": "Create an account",
        "action": "/signup",
        "submit": "Create account",
        "email": email[:320],
        "name": name[:256],
    }
    attempt = ready.throttle.check_signup(address)
    if attempt.throttled:
        services.metrics.sign_ins.labels("signup", "throttled").inc()
        refused = render(
            request,
            services,
            "signup.html",
            429,
            **form,
            error="Too many failed sign-ups. Wait a few minutes and try again.",
        )
        refused.headers["retry-after"] = str(attempt.retry_after)
        return refused
    try:
        user = ready.accounts.sign_up(email=email, password=password, name=name)
    except AccountError as exc:
        ready.throttle.signup_failed(address)
        status = 404 if "turned off" in str(exc) else 400
        return render(request, services, "signup.html", status, error=str(exc), **form)
    if ready.verification is not None:
        # The address stays `email_verified: false` in tokens until its owner follows this.
        ready.verification.send(user)
    response = _see_other("/account")
    sign_in(request, response, services, user, LOCAL_CONNECTOR)
    services.metrics.sign_ins.labels("signup", "success").inc()
    log.info("sign_up", method="password", user_id=user.id)
    return response


def _setup_form(
    request: Request, services: Services, token: str, status: int = 200, **context: object
) -> Response:
    return render(
        request,
        services,
        "signup.html",
        status,
        heading="Create the first admin",
        intro="This one-time link creates the administrator account.",
        action="/setup",
        submit="Create admin account",
        setup_token=token,
        **context,
    )


def _setup_gone(request: Request, services: Services) -> Response:
    return render(
        request,
        services,
        "error.html",
        404,
        title="Setup link not valid",
        message="This setup link was used already or has been replaced.",
        hint="Run `authbridge setup-link` to print a new link while no admin exists.",
    )


@router.get("/setup", include_in_schema=False)
def setup_page(request: Request, services: ServicesDep, token: str = "") -> Response:
    if not services.ready().setup.valid(token):
        return _setup_gone(request, services)
    return _setup_form(request, services, token)


@router.post("/setup", include_in_schema=False)
def setup(
    request: Request,
    services: ServicesDep,
    token: FormStr = "",
    email: FormStr = "",
    name: FormStr = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    ready = services.ready()
    if not ready.setup.valid(token):
        return _setup_gone(request, services)
    authorizer = services.settings.authorizer
    if authorizer.initial_admins and not is_initial_admin(email.strip(), email.strip(), authorizer):
        return _setup_form(
            request,
            services,
            token,
            400,
            email=email[:320],
            name=name[:256],
            error="Use one of the addresses listed in authorizer.initialAdmins.",
        )
    try:
        user = ready.accounts.sign_up(
            email=email,
            password=password,
            name=name,
            admin=True,
            self_service=False,
            origin="setup",
        )
    except AccountError as exc:
        return _setup_form(
            request, services, token, 400, email=email[:320], name=name[:256], error=str(exc)
        )
    if not ready.setup.consume(token):
        # Another request used the link between our check and now: undo this account.
        ready.storage.users.set_active(user.id, False)
        return _setup_gone(request, services)
    response = _see_other("/account")
    sign_in(request, response, services, user, LOCAL_CONNECTOR)
    log.info("first_admin_created", user_id=user.id)
    ready.audit.record(
        AuditEvent(
            "bootstrap.setup_link_used",
            request_actor(request, services, "user", user.id, user.username),
            Target("user", user.id, user.username),
            details={"admin": True},
        )
    )
    return response


@router.post("/logout", include_in_schema=False)
def logout(request: Request, services: ServicesDep, csrf_token: FormStr = "") -> Response:
    check_csrf(request, services, csrf_token)
    response = _see_other("/login")
    sign_out(request, response, services)
    return response


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
        notice=(
            request.query_params.get("notice") == "password-changed"
            and "Your password was changed."
        )
        or None,
    )


@router.get("/account/password", include_in_schema=False)
def password_page(request: Request, services: ServicesDep) -> Response:
    signed_in = current(request, services)
    if signed_in is None or signed_in.user.password_hash is None:
        return _see_other("/login")
    return render(request, services, "password.html")


@router.post("/account/password", include_in_schema=False)
def change_password(
    request: Request,
    services: ServicesDep,
    current_password: FormStr = "",
    new_password: FormStr = "",
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
        return render(request, services, "password.html", 400, error=str(exc))
    # Whoever holds the old password may hold its sessions and tokens too: every browser
    # session and every refresh token of the user ends; this browser gets a new session.
    ready.revocation.revoke_user(signed_in.user.id)
    response = _see_other("/account?notice=password-changed")
    sign_in(request, response, services, signed_in.user, signed_in.session.auth_method)
    log.info("password_changed", user_id=signed_in.user.id)
    return response
