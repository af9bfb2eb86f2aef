"""Pages of the links authbridge mails: password reset (`/password/forgot`,
`/password/reset/<token>`) and email verification (`/email/verify/<token>`). Served only
while local accounts are on, and asking for a link (`/password/forgot`) only while `smtp:`
is configured; without it a reset link is one an administrator made and passed on.

The forgot-password form answers the same page, at once, for any address: the lookup and
the mail happen on the mail thread (`directory/email_links.py`), so neither the body, the
status nor the timing says whether an account exists (OWASP Forgot Password Cheat Sheet).
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.directory.accounts import AccountError
from authbridge.directory.email_links import PasswordResets
from authbridge.directory.passwords import policy_summary
from authbridge.web.dependencies import ServicesDep
from authbridge.web.rendering import check_csrf, render
from authbridge.web.security import client_address
from authbridge.web.services import Services

__all__ = ["not_found", "router"]

router = APIRouter()
log = structlog.get_logger("authbridge.pages")
FormStr = Annotated[str, Form()]


def not_found(
    request: Request, services: Services, title: str, message: str, hint: str | None = None
) -> Response:
    """A 404 page for a link that is not (or no longer) valid, or a feature that is off."""
    return render(request, services, "error.html", 404, title=title, message=message, hint=hint)


def _off(request: Request, services: Services) -> Response:
    return not_found(
        request,
        services,
        "Password reset is not available",
        "Ask an administrator to reset your password.",
    )


def _resets(services: Services) -> PasswordResets | None:
    return services.ready().resets


def _mailed_resets(services: Services) -> PasswordResets | None:
    """The resets one may ask for by email: only when links can be mailed."""
    resets = services.ready().resets
    return resets if resets is not None and resets.mails else None


@router.get("/password/forgot", include_in_schema=False)
def forgot_page(request: Request, services: ServicesDep) -> Response:
    if _mailed_resets(services) is None:
        return _off(request, services)
    return render(request, services, "password_forgot.html")


@router.post("/password/forgot", include_in_schema=False)
def forgot(
    request: Request, services: ServicesDep, email: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    resets = _mailed_resets(services)
    if resets is None:
        return _off(request, services)
    ready = services.ready()
    address = client_address(request, services.settings.server.trusted_proxies)
    email = email.strip()[:320]
    # Counted for every address typed, whether or not an account has it.
    attempt = ready.mail_throttle.hit("pwreset", email, address) if ready.mail_throttle else None
    if attempt is not None and attempt.throttled:
        log.warning("password_reset_throttled", address=address)
        refused = render(
            request,
            services,
            "password_forgot.html",
            429,
            error="Too many reset requests. Wait a while and try again.",
        )
        refused.headers["retry-after"] = str(attempt.retry_after)
        return refused
    resets.request(email)
    return render(request, services, "password_forgot.html", sent=True)


def _reset_gone(request: Request, services: Services) -> Response:
    return not_found(
        request,
        services,
        "Reset link not valid",
        "This reset link was used already or has expired. Ask for a new one.",
    )


@router.get("/password/reset/{token}", include_in_schema=False)
def reset_page(request: Request, services: ServicesDep, token: str) -> Response:
    resets = _resets(services)
    if resets is None:
        return _off(request, services)
    user = resets.user_for(token)
    if user is None:
        return _reset_gone(request, services)
    return render(
        request,
        services,
        "password_reset.html",
        token=token,
        email=user.email,
        policy=policy_summary(),
    )


@router.post("/password/reset/{token}", include_in_schema=False)
def reset(
    request: Request,
    services: ServicesDep,
    token: str,
    new_password: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    check_csrf(request, services, csrf_token)
    resets = _resets(services)
    if resets is None:
        return _off(request, services)
    user = resets.user_for(token)
    if user is None:
        return _reset_gone(request, services)
    try:
        resets.reset(token, new_password)
    except AccountError as exc:
        if resets.user_for(token) is None:
            return _reset_gone(request, services)
        return render(
            request,
            services,
            "password_reset.html",
            400,
            token=token,
            email=user.email,
            policy=policy_summary(),
            error=str(exc),
        )
    return render(
        request,
        services,
        "notice.html",
        title="Password changed",
        message="Your password was changed and every session was signed out. Sign in with "
        "the new password.",
    )


@router.get("/email/verify/{token}", include_in_schema=False)
def verify_email(request: Request, services: ServicesDep, token: str) -> Response:
    verification = services.ready().verification
    if verification is not None and verification.verify(token):
        return render(
            request,
            services,
            "notice.html",
            title="Email address confirmed",
            message="Thank you: your email address is confirmed.",
            link="/account",
            link_text="Continue to your account",
        )

    return not_found(
        request,
        services,
        "Confirmation link not valid",
        "This link was used already or has expired.",
    )
