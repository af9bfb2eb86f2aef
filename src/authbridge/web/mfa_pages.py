"""The second step of a password sign-in: `/login/mfa` (a TOTP or recovery code) and
`/login/mfa/enrol` (a user who must have a second factor and has none sets one up first).

After the right password, a user whose sign-in needs a second factor (`mfa_needed`:
`auth.local.mfa`, `auth.local.mfaRequiredForAdmins`) gets no session yet but a pending
login (directory/pending_logins.py: single-use, lapsing after `PENDING_TTL`, voided by a
revocation) whose value this browser keeps in a short-lived HttpOnly cookie.
Wrong codes are counted by the sign-in throttle (`SignInThrottle`), on counters of their
own (`_code_throttle`); `check_code` is the one code check, here and on the account page.
The passkey step (web/passkey_pages.py) finishes the same pending login. Over 400 lines
to keep the second step's whole life in one place: starting it (local and LDAP
passwords), the code and enrolment pages, and finishing it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

import structlog
from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from authbridge.audit.events import AuditEvent, Target
from authbridge.config.roles import ADMINISTRATION
from authbridge.directory.accounts import LOCAL_CONNECTOR
from authbridge.directory.pending_logins import (
    ENROL,
    PENDING_TTL,
    VERIFY,
    PendingLogin,
    PendingLogins,
)
from authbridge.directory.throttle import Attempt, SignInThrottle
from authbridge.directory.totp import SecondFactors, mfa_needed
from authbridge.storage.models import User
from authbridge.storage.users import username_key
from authbridge.web.audit_actor import request_actor
from authbridge.web.dependencies import ServicesDep
from authbridge.web.rendering import check_csrf, render
from authbridge.web.security import client_address, safe_next
from authbridge.web.services import Services
from authbridge.web.sessions import end_session, sign_in

__all__ = [
    "DEVICE",
    "ENROL",
    "PENDING_TTL",
    "VERIFY",
    "CodeCheck",
    "administers",
    "audit_enrolled",
    "check_code",
    "code_attempt",
    "code_failed",
    "code_succeeded",
    "complete_sign_in",
    "device_cookie",
    "device_for",
    "finish_pending",
    "pending_login",
    "router",
    "second_factors",
    "second_step",
]

router = APIRouter()
log = structlog.get_logger("authbridge.mfa")
FormStr = Annotated[str, Form(max_length=64)]
DEVICE = "device"
AMR_OTP = ["pwd", "otp"]  # RFC 8176 §2: a password, then a one-time password


def second_factors(services: Services) -> SecondFactors:
    found = services.ready().second_factors
    assert found is not None  # built with the rest of `Ready`
    return found


def _pending_logins(services: Services) -> PendingLogins:
    found = services.ready().pending_logins
    assert found is not None  # built with the rest of `Ready`
    return found


def _cookie(services: Services) -> str:
    return "__Host-authbridge_mfa" if services.settings.server.https else "authbridge_mfa"


def _owner(account: str) -> str:
    """Whose device cookie it is, as a digest of the account's name: a name can be any
    Unicode a directory holds, and a cookie header carries Latin-1 only (a raw name made
    the sign-in's response unencodable, a 500); nor need the browser carry the name."""
    digest = hashlib.sha256(username_key(account).encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def device_cookie(services: Services, account: str) -> str:
    """A new device cookie for `account`, after a completed sign-in (OWASP device cookies)."""
    return services.ready().csrf.sign(DEVICE, f"{secrets.token_urlsafe(12)}:{_owner(account)}")


def device_for(services: Services, value: str | None, account: str) -> str | None:
    """The device id of a device cookie, if it was issued for `account` (OWASP device
    cookies); the cookie is signed, so only a completed sign-in can have set it."""
    if not value:
        return None
    unsigned = services.ready().csrf.unsign(DEVICE, value)
    if not unsigned:
        return None
    device, _, owner = unsigned.partition(":")
    return device if hmac.compare_digest(owner.encode(), _owner(account).encode()) else None


def administers(services: Services, user: User) -> bool:
    """Whether `user` holds an administration permission (`mfaRequiredForAdmins`)."""
    bindings = services.ready().bindings
    return any(bindings.allows(user.id, permission) for permission in ADMINISTRATION)


def second_step(
    request: Request,
    services: Services,
    user: User,
    next_url: str,
    *,
    connector: str = LOCAL_CONNECTOR,
) -> Response | None:
    """After the right password: a redirect to the second step (a pending login started),
    or None when the session may start now. A directory's (LDAP) password is checked
    here too, so its administrators take the same second step under
    `mfaRequiredForAdmins` (docs/mfa.md); `auth.local.mfa` is local accounts' policy."""
    local = services.settings.auth.local
    if connector == LOCAL_CONNECTOR and not local.enabled:
        return None
    if connector != LOCAL_CONNECTOR and not (
        local.mfa_required_for_admins and administers(services, user)
    ):
        return None
    passkeys = services.ready().passkeys
    enrolled = second_factors(services).enrolled(user.id) or (
        passkeys is not None and local.passkeys.enabled and passkeys.has(user.id)
    )
    # Whether the user administers anything is only asked when it could matter.
    admin = connector != LOCAL_CONNECTOR or (
        local.mfa_required_for_admins and not enrolled and administers(services, user)
    )
    step = mfa_needed(services.settings, enrolled=enrolled, admin=admin)
    if step is None:
        return None
    value = _pending_logins(services).start(
        user.id, safe_next(next_url, default=""), step, connector
    )
    response = RedirectResponse(
        "/login/mfa" if step == VERIFY else "/login/mfa/enrol", status_code=303
    )
    services.cookies.set(
        response, _cookie(services), value, max_age=int(PENDING_TTL.total_seconds())
    )
    response.headers["cache-control"] = "no-store"
    log.info("sign_in_second_step", user_id=user.id, step=step)
    return response


def complete_sign_in(
    request: Request,
    services: Services,
    user: User,
    response: Response,
    *,
    device: str | None,
    method: str = "password",
    amr: Sequence[str] = ("pwd",),
    connector: str = LOCAL_CONNECTOR,
) -> Response:
    """Start the session on `response`, remember the browser (device cookie), count and
    audit the sign-in."""
    _start_session(
        request,
        services,
        user,
        response,
        device=device,
        method=method,
        amr=amr,
        connector=connector,
    )
    return response


def _start_session(
    request: Request,
    services: Services,
    user: User,
    response: Response,
    *,
    device: str | None,
    method: str,
    amr: Sequence[str],
    connector: str,
) -> str:
    """`complete_sign_in`'s work; returns the new session's id."""
    ready = services.ready()
    session_id = sign_in(request, response, services, user, connector, amr=amr)
    if device is None:
        services.cookies.set(
            response,
            services.cookies.device,
            device_cookie(services, user.username),
            max_age=180 * 24 * 3600,
        )
    services.metrics.sign_ins.labels("password", "success").inc()
    log.info("sign_in", method=method, user_id=user.id)
    ready.audit.record(
        AuditEvent(
            "signin.succeeded",
            request_actor(request, services, "user", user.id, user.username),
            Target("user", user.id, user.username),
            details={"method": method},
        )
    )
    return session_id


@dataclass(frozen=True)
class _Pending:
    login: PendingLogin
    user: User

    @property
    def next(self) -> str:
        return self.login.next

    @property
    def step(self) -> str:
        return self.login.step


def _pending(request: Request, services: Services) -> _Pending | None:
    """This browser's pending login, if it has a live one for an active user."""
    login = _pending_logins(services).get(request.cookies.get(_cookie(services)))
    if login is None:
        return None
    user = services.ready().storage.users.get(login.user_id)
    if user is None or not user.active:
        return None
    return _Pending(login, user)


def _device(request: Request, services: Services, user: User) -> str | None:
    return device_for(services, request.cookies.get(services.cookies.device), user.username)


def _code_throttle(services: Services) -> SignInThrottle:
    """The sign-in throttle's counters and windows (`auth.local.rateLimit`), over codes of
    their own: a right password never clears them (an attacker holding it could otherwise
    reset the count by signing in again), and the per-account limit is twice the per
    (account, address) one, not `perAccount`, since 3 codes in 10^6 hold at any moment.
    The owner's browser (device cookie) is counted on its own, so a flood cannot lock
    them out."""
    limits = services.settings.auth.local.rate_limit
    strict = limits.model_copy(update={"per_account": 2 * limits.per_account_and_address})
    return SignInThrottle(services.ready().counters.rate, strict)


def _code_key(user: User) -> str:
    return "second-factor:" + user.id


def code_attempt(request: Request, services: Services, user: User) -> Attempt:
    """The throttle's verdict on one more code for `user` from this browser, the attempt
    counted before its code is checked (so racing requests cannot all read one count)."""
    address = client_address(request, services.settings.server.trusted_proxies)
    device = _device(request, services, user)
    attempt = _code_throttle(services).counted(_code_key(user), address, device=device)
    if attempt.throttled:
        services.metrics.sign_ins.labels("password", "throttled").inc()
        log.warning("code_throttled", user_id=user.id, address=address)
    return attempt


def code_failed(
    request: Request,
    services: Services,
    user: User,
    reason: str,
    method: str = "totp",
    **details: object,
) -> None:
    """Audit a wrong code or a refused passkey (`code_attempt` counted it already)."""
    ready = services.ready()
    services.metrics.sign_ins.labels("password", "failure").inc()
    ready.audit.record(
        AuditEvent(
            "signin.failed",
            request_actor(request, services, name=user.username),
            Target("user", user.id, user.username),
            outcome="failure",
            details={"method": method, "reason": reason, **details},
        )
    )


T = TypeVar("T")


@dataclass(frozen=True)
class CodeCheck(Generic[T]):
    """What `check_code` found: the check's result (None: wrong), or, while the throttle
    says wait, `retry_after` seconds and nothing checked."""

    result: T | None
    retry_after: int | None = None


def check_code(
    request: Request,
    services: Services,
    user: User,
    check: Callable[[], T | None],
    reason: str,
) -> CodeCheck[T]:
    """The one way a second-factor code (or the password standing in for one) is checked,
    at sign-in and on the account page: counted first (`code_attempt`), not checked at
    all while throttled, a wrong one audited with `reason`, a right one clearing this
    browser's count."""
    attempt = code_attempt(request, services, user)
    if attempt.throttled:
        return CodeCheck(None, attempt.retry_after)
    result = check()
    if result is None:
        code_failed(request, services, user, reason)
    else:
        code_succeeded(request, services, user)
    return CodeCheck(result)


def code_succeeded(request: Request, services: Services, user: User) -> None:
    """A right code clears this browser's count (never the account's: see `_code_throttle`)."""
    address = client_address(request, services.settings.server.trusted_proxies)
    device = _device(request, services, user)
    attempt = Attempt(retry_after=None, earlier_failures=True)
    _code_throttle(services).succeeded(_code_key(user), address, attempt, device=device)


def _expired(request: Request, services: Services) -> Response:
    response = render(
        request,
        services,
        "error.html",
        400,
        title="Sign in again",
        message="This sign-in waited too long or was finished already. Sign in again.",
    )
    services.cookies.clear(response, _cookie(services))
    return response


def _throttled(
    request: Request, services: Services, pending: _Pending, retry_after: int | None
) -> Response:
    """The 429 page while the throttle says wait."""
    template = "mfa.html" if pending.step == VERIFY else "mfa_enrol.html"
    context = _enrol_context(services, pending) if pending.step == ENROL else {}
    response = render(
        request,
        services,
        template,
        429,
        error="Too many wrong codes. Wait a few minutes and try again.",
        **context,
    )
    response.headers["retry-after"] = str(retry_after)
    return response


def _finish(
    request: Request,
    services: Services,
    pending: _Pending,
    response: Response,
    *,
    method: str = "totp",
    amr: list[str] = AMR_OTP,
) -> bool:
    """Use up the pending login (exactly one request can) and start the session."""
    logins = _pending_logins(services)
    if not logins.finish(pending.login):
        return False
    services.cookies.clear(response, _cookie(services))
    device = device_for(
        services, request.cookies.get(services.cookies.device), pending.user.username
    )
    session_id = _start_session(
        request,
        services,
        pending.user,
        response,
        device=device,
        method=method,
        amr=amr,
        connector=pending.login.connector,
    )
    if not logins.current(pending.login):
        # A revocation between `finish` and the session's write swept the sessions before
        # this one existed: it ends here instead.
        end_session(services, session_id)
        log.warning("sign_in_revoked_meanwhile", user_id=pending.user.id)
        return False
    return True


@router.get("/login/mfa", include_in_schema=False)
def mfa_page(request: Request, services: ServicesDep) -> Response:
    pending = _pending(request, services)
    if pending is None:
        return _expired(request, services)
    if pending.step != VERIFY:
        return RedirectResponse("/login/mfa/enrol", status_code=303)
    return render(request, services, "mfa.html", **_verify_context(services, pending))


def _verify_context(services: Services, pending: _Pending) -> dict[str, Any]:
    """Which second factors the step offers: the code form, and a passkey button."""
    passkeys = services.ready().passkeys
    return {
        "totp": second_factors(services).enrolled(pending.user.id),
        "passkey": passkeys is not None
        and services.settings.auth.local.passkeys.enabled
        and passkeys.has(pending.user.id),
    }


@router.post("/login/mfa", include_in_schema=False)
def mfa_verify(
    request: Request, services: ServicesDep, code: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    pending = _pending(request, services)
    if pending is None or pending.step != VERIFY:
        return _expired(request, services)
    factors = second_factors(services)
    checked = check_code(
        request,
        services,
        pending.user,
        lambda: factors.verify(pending.user.id, code) if code.strip() else None,
        "invalid_code",
    )
    if checked.retry_after is not None:
        return _throttled(request, services, pending, checked.retry_after)
    used = checked.result
    if used is None:
        return render(
            request,
            services,
            "mfa.html",
            401,
            error="That code is not right, or was used already. Try the next one.",
            error_field="code",
            **_verify_context(services, pending),
        )
    response = RedirectResponse(safe_next(pending.next), status_code=303)
    if not _finish(request, services, pending, response):
        return _expired(request, services)
    if used == "recovery":
        log.info("recovery_code_used", user_id=pending.user.id)
    return response


def _enrol_context(services: Services, pending: _Pending) -> dict[str, Any]:
    enrolment = second_factors(services).start_enrolment(
        pending.user.id, pending.user.username, binding=pending.login.key
    )
    if enrolment is None:
        return {}
    return {
        "enrolment": enrolment,
        "action": "/login/mfa/enrol",
        "required": True,
        # Or a passkey (web/passkey_pages.py), where they are on.
        "passkey_enrol": services.ready().passkeys is not None
        and services.settings.auth.local.passkeys.enabled,
    }


@router.get("/login/mfa/enrol", include_in_schema=False)
def mfa_enrol_page(request: Request, services: ServicesDep) -> Response:
    pending = _pending(request, services)
    if pending is None:
        return _expired(request, services)
    context = _enrol_context(services, pending)
    if pending.step != ENROL or not context:
        return _expired(request, services)
    return render(request, services, "mfa_enrol.html", **context)


@router.post("/login/mfa/enrol", include_in_schema=False)
def mfa_enrol(
    request: Request, services: ServicesDep, code: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    check_csrf(request, services, csrf_token)
    pending = _pending(request, services)
    if pending is None or pending.step != ENROL:
        return _expired(request, services)
    factors = second_factors(services)
    checked = check_code(
        request,
        services,
        pending.user,
        lambda: factors.confirm(pending.user.id, code, binding=pending.login.key),
        "invalid_enrolment_code",
    )
    if checked.retry_after is not None:
        return _throttled(request, services, pending, checked.retry_after)
    codes = checked.result
    if codes is None:
        context = _enrol_context(services, pending)
        if not context:
            return _expired(request, services)
        return render(
            request,
            services,
            "mfa_enrol.html",
            400,
            error="That code is not right. Enter the code your app shows now.",
            error_field="code",
            **context,
        )
    response = render(
        request, services, "mfa_recovery.html", codes=codes, continue_to=safe_next(pending.next)
    )
    if not _finish(request, services, pending, response):
        # Finished or revoked meanwhile: the key came with this sign-in and goes with it
        # (its recovery codes are never shown).
        factors.remove(pending.user.id)
        return _expired(request, services)
    audit_enrolled(request, services, pending.user)
    return response


def audit_enrolled(request: Request, services: Services, user: User) -> None:
    services.ready().audit.record(
        AuditEvent(
            "user.mfa_enrolled",
            request_actor(request, services, "user", user.id, user.username),
            Target("user", user.id, user.username),
            details={"factor": "totp"},
        )
    )


# The passkey step (web/passkey_pages.py) reads and finishes the same pending login.
pending_login = _pending
finish_pending = _finish
