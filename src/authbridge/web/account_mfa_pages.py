"""The signed-in user's second factor: `/account/mfa` shows it, sets up an authenticator
app (QR code and key, confirmed by a first code, recovery codes shown once), makes new
recovery codes (given a current code) and turns it off (given a current code or the
password). Every code counts against the sign-in throttle, as at sign-in."""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from authbridge.audit.events import AuditEvent, Target
from authbridge.storage.models import User
from authbridge.storage.passkeys import StoredPasskey
from authbridge.web.audit_actor import request_actor
from authbridge.web.dependencies import ServicesDep
from authbridge.web.mfa_pages import CodeCheck, audit_enrolled, check_code, second_factors
from authbridge.web.rendering import check_csrf, render
from authbridge.web.services import Services
from authbridge.web.sessions import SignedIn, current

__all__ = ["router"]

router = APIRouter()
log = structlog.get_logger("authbridge.account")
FormStr = Annotated[str, Form(max_length=64)]
PasswordStr = Annotated[str, Form(max_length=1024)]
NOTICES = {
    "removed": "Two-step sign-in is off.",
    "passkey-added": "Passkey added.",
    "passkey-removed": "Passkey removed.",
}


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _local_user(request: Request, services: Services) -> SignedIn | None:
    """The signed-in user, if they sign in with a password here (an IdP's account takes
    its second factor from the IdP)."""
    signed_in = current(request, services)
    if signed_in is None or signed_in.user.password_hash is None:
        return None
    return signed_in


def _status_page(
    request: Request, services: Services, user: User, status: int = 200, **context: Any
) -> Response:
    return render(
        request,
        services,
        "account_mfa.html",
        status,
        status=second_factors(services).status(user.id),
        # The policy would make this user set one up again after removing it.
        required=services.settings.auth.local.mfa == "required",
        passkeys=_passkeys_of(services, user),
        **context,
    )


def _passkeys_of(services: Services, user: User) -> list[StoredPasskey] | None:
    """The user's passkeys for the page, or None when passkeys are turned off."""
    passkeys = services.ready().passkeys
    if passkeys is None or not services.settings.auth.local.passkeys.enabled:
        return None
    return passkeys.list(user.id)


def _throttled(
    request: Request, services: Services, user: User, checked: CodeCheck[Any]
) -> Response | None:
    """The 429 page while the throttle says wait (`check_code` checked nothing)."""
    if checked.retry_after is None:
        return None
    response = _status_page(
        request, services, user, 429, error="Too many wrong codes. Wait a few minutes."
    )
    response.headers["retry-after"] = str(checked.retry_after)
    return response


def _off(request: Request, services: Services) -> Response:
    return render(
        request,
        services,
        "error.html",
        404,
        title="Two-step sign-in is turned off",
        message="This service does not offer a second sign-in step for local accounts.",
    )


@router.get("/account/mfa", include_in_schema=False)
def mfa_status(request: Request, services: ServicesDep) -> Response:
    signed_in = _local_user(request, services)
    if signed_in is None:
        return _see_other("/login")
    notice = NOTICES.get(request.query_params.get("notice", ""))
    return _status_page(request, services, signed_in.user, notice=notice)


@router.get("/account/mfa/enrol", include_in_schema=False)
def enrol_page(request: Request, services: ServicesDep) -> Response:
    signed_in = _local_user(request, services)
    if signed_in is None:
        return _see_other("/login")
    if services.settings.auth.local.mfa == "off":
        return _off(request, services)
    user = signed_in.user
    binding = signed_in.session.id_hash
    enrolment = second_factors(services).start_enrolment(user.id, user.username, binding=binding)
    if enrolment is None:
        return _see_other("/account/mfa")
    return render(
        request, services, "mfa_enrol.html", enrolment=enrolment, action="/account/mfa/enrol"
    )


@router.post("/account/mfa/enrol", include_in_schema=False)
def enrol(
    request: Request, services: ServicesDep, code: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    signed_in = _local_user(request, services)
    if signed_in is None:
        return _see_other("/login")
    if services.settings.auth.local.mfa == "off":
        return _off(request, services)
    user = signed_in.user
    factors = second_factors(services)
    binding = signed_in.session.id_hash
    checked = check_code(
        request,
        services,
        user,
        lambda: factors.confirm(user.id, code, binding=binding),
        "invalid_enrolment_code",
    )
    refused = _throttled(request, services, user, checked)
    if refused is not None:
        return refused
    codes = checked.result
    if codes is None:
        enrolment = factors.start_enrolment(user.id, user.username, binding=binding)
        if enrolment is None:
            return _see_other("/account/mfa")
        return render(
            request,
            services,
            "mfa_enrol.html",
            400,
            enrolment=enrolment,
            action="/account/mfa/enrol",
            error="That code is not right. Enter the code your app shows now.",
            error_field="code",
        )
    audit_enrolled(request, services, user)
    log.info("mfa_enrolled", user_id=user.id)
    return render(request, services, "mfa_recovery.html", codes=codes, continue_to="/account/mfa")


@router.post("/account/mfa/recovery-codes", include_in_schema=False)
def regenerate(
    request: Request, services: ServicesDep, code: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    signed_in = _local_user(request, services)
    if signed_in is None:
        return _see_other("/login")
    user = signed_in.user
    factors = second_factors(services)
    checked = check_code(
        request,
        services,
        user,
        lambda: factors.regenerate_recovery_codes(user.id, code),
        "invalid_code",
    )
    refused = _throttled(request, services, user, checked)
    if refused is not None:
        return refused
    codes = checked.result
    if codes is None:
        return _status_page(
            request,
            services,
            user,
            400,
            error="That code is not right, or was used already.",
            error_field="regenerate-code",
        )
    _audit(request, services, user, "user.mfa_recovery_codes_replaced")
    return render(request, services, "mfa_recovery.html", codes=codes, continue_to="/account/mfa")


@router.post("/account/mfa/remove", include_in_schema=False)
def remove(
    request: Request, services: ServicesDep, proof: PasswordStr = "", csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    signed_in = _local_user(request, services)
    if signed_in is None:
        return _see_other("/login")
    user = signed_in.user
    factors = second_factors(services)
    accounts = services.ready().accounts
    checked = check_code(
        request,
        services,
        user,
        lambda: (
            factors.verify_totp(user.id, proof)
            or accounts.hashing.verify(user.password_hash, proof)
            or None
        ),
        "invalid_code_or_password",
    )
    refused = _throttled(request, services, user, checked)
    if refused is not None:
        return refused
    if checked.result is None:
        return _status_page(
            request,
            services,
            user,
            400,
            error="That is neither a current code nor your password.",
            error_field="remove-code",
        )
    factors.remove(user.id)
    _audit(request, services, user, "user.mfa_removed")
    log.info("mfa_removed", user_id=user.id)
    return _see_other("/account/mfa?notice=removed")


def _audit(request: Request, services: Services, user: User, type_: str) -> None:
    services.ready().audit.record(
        AuditEvent(
            type_,
            request_actor(request, services, "user", user.id, user.username),
            Target("user", user.id, user.username),
            details={"factor": "totp"},
        )
    )
