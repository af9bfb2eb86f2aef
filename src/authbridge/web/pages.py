"""Browser pages: sign-in, sign-up, first-admin setup, the signed-in page, password change."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import structlog
from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from authbridge.audit.events import AuditEvent, Target
from authbridge.directory.accounts import LOCAL_CONNECTOR, AccountError
from authbridge.directory.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from authbridge.directory.roles import is_initial_admin
from authbridge.web.audit_actor import request_actor
from authbridge.web.dependencies import ServicesDep
from authbridge.web.mfa_pages import complete_sign_in, device_for, second_step
from authbridge.web.rendering import check_csrf, render
from authbridge.web.security import client_address, safe_next
from authbridge.web.services import Services
from authbridge.web.sessions import current, sign_in, sign_out

__all__ = ["PASSWORD_POLICY", "app_asking", "router"]

router = APIRouter()
log = structlog.get_logger("authbridge.pages")
FormStr = Annotated[str, Form()]
AUTHORIZE_PATH = "/oauth2/authorize"  # where an app's sign-in comes back to (`next`)
# What the password forms say and enforce in the browser; directory/passwords.py decides.
PASSWORD_POLICY = {
    "min_length": MIN_PASSWORD_LENGTH,
    "max_length": MAX_PASSWORD_LENGTH,
    "text": f"At least {MIN_PASSWORD_LENGTH} characters, not your email address. Long "
    "passphrases are welcome; common passwords are refused.",
}


def app_asking(services: Services, next_url: str) -> str | None:
    """The name of the OAuth client whose sign-in `next` resumes, so the page can say who
    asked; None for any other destination or an unknown client."""
    parts = urlsplit(next_url)
    if parts.path != AUTHORIZE_PATH:
        return None
    client_id = parse_qs(parts.query).get("client_id", [""])[0]
    client = services.ready().provider.registry.get(client_id)
    return (client.name or client.client_id) if client is not None else None


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _login_context(services: Services, next_url: str = "") -> dict[str, Any]:
    local = services.settings.auth.local
    next_url = safe_next(next_url, default="")
    return {
        "local_enabled": local.enabled,
        "signup_enabled": local.enabled and local.allow_signup,
        # Password reset by email (web/email_pages.py) needs outgoing mail.
        "reset_enabled": local.enabled and services.settings.smtp.configured,
        # "Sign in with a passkey" (web/passkey_pages.py): no password, a discoverable one.
        "passkeys_enabled": local.enabled and local.passkeys.enabled,
        "providers": services.login_providers(),
        # A username/password form per LDAP connector (web/ldap_routes.py answers it).
        "password_forms": services.password_forms(),
        "next": next_url,
        "app_name": app_asking(services, next_url),
    }


@router.get("/", include_in_schema=False)
def home(request: Request, services: ServicesDep) -> Response:
    return _see_other("/account" if current(request, services) else "/login")


@router.get("/login", include_in_schema=False)
async def login_page(
    request: Request, services: ServicesDep, next: str = "", login_hint: str = ""
) -> Response:
    if (
        request.cookies.get(services.cookies.session)
        or services.login_providers_may_wait
        or next.startswith(AUTHORIZE_PATH)
    ):
        # A session cookie means a database read, an IdP button may wait briefly on its
        # discovery probe, and naming the app may read its client: all go to the thread
        # pool, never onto the event loop.
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
            error_field="password" if account else "username",
            **context,
        )
    device = device_for(services, request.cookies.get(services.cookies.device), account)
    # Counted before the password is checked: requests racing cannot all read one count.
    attempt = ready.throttle.counted(account, address, device=device)
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
            error_field="password",
            **context,
        )
    ready.throttle.signed_in(account, address, device=device)
    # A second factor, when the user has one or the policy asks for one, before any session.
    second = second_step(request, services, user, next)
    if second is not None:
        return second
    return complete_sign_in(request, services, user, _see_other(safe_next(next)), device=device)


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
def signup_page(request: Request, services: ServicesDep, next: str = "") -> Response:
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
    next_url = safe_next(next, default="")
    return render(
        request,
        services,
        "signup.html",
        heading="Create an account",
        action="/signup",
        submit="Create account",
        policy=PASSWORD_POLICY,
        next=next_url,
        app_name=app_asking(services, next_url),
    )


@router.post("/signup", include_in_schema=False)
def signup(
    request: Request,
    services: ServicesDep,
    email: FormStr = "",
    name: FormStr = "",
    password: FormStr = "",
    csrf_token: FormStr = "",
    next: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    ready = services.ready()
    address = client_address(request, services.settings.server.trusted_proxies)
    next_url = safe_next(next, default="")
    form = {
        "heading": "Create an account",
        "action": "/signup",
        "submit": "Create account",
        "email": email[:320],
        "name": name[:256],
        "policy": PASSWORD_POLICY,
        "next": next_url,
        "app_name": app_asking(services, next_url),
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
        return render(
            request, services, "signup.html", status, error=str(exc), error_field=exc.field, **form
        )
    if ready.verification is not None:
        # The address stays `email_verified: false` in tokens until its owner follows this.
        ready.verification.send(user)
    # Where a second factor is required, the new account sets one up before its session.
    second = second_step(request, services, user, next_url)
    if second is not None:
        return second
    # Signed up from an app's sign-in: back to that app, as a sign-in would.
    response = _see_other(safe_next(next_url))
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
        policy=PASSWORD_POLICY,
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
    try:
        if authorizer.initial_admins and not is_initial_admin(
            email.strip(), email.strip(), authorizer
        ):
            raise AccountError(
                "Use one of the addresses listed in authorizer.initialAdmins.", field="email"
            )
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
            request,
            services,
            token,
            400,
            email=email[:320],
            name=name[:256],
            error=str(exc),
            error_field=exc.field,
        )
    if not ready.setup.consume(token):
        # Another request used the link between our check and now: undo this account.
        ready.storage.users.set_active(user.id, False)
        return _setup_gone(request, services)
    # Where admins must have a second factor, the first admin sets one up first.
    second = second_step(request, services, user, "/account")
    response = second or _see_other("/account")
    if second is None:
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
