"""Sign-in through upstream identity providers: Astronomer's `/v1/oauth/*` URLs.

- `GET /v1/oauth/start?provider=<id>&next=<path>` begins a login (also an Okta tile's
  Initiate Login URI).
- `GET /v1/oauth/callback/` is the authorization-code landing (RFC 6749 §4.1.2);
  `GET /dex/callback` is the same landing for a provider whose `redirectUri` was
  registered at the IdP for Pachyderm's Dex, so that registration needs no change.
- `GET|POST /v1/oauth/redirect/` is the implicit/hybrid landing: a fragment response is
  moved into a same-origin POST by a static script (the CSP forbids inline scripts), and
  a `form_post` response (OAuth 2.0 Form Post Response Mode) is accepted directly.
- `GET|POST /v1/oauth/mock/authorize` is the built-in mock IdP, 404 once any IdP is set up.

Each login's state, nonce and PKCE verifier are kept server-side under the state's digest
and bound to the browser by a random value in a short-lived HttpOnly cookie (RFC 6749
§10.12, RFC 9700 §4.7.1); the state is deleted when used, so it works once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta
from typing import Any

import structlog
from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from authbridge.audit.events import AuditEvent, Target
from authbridge.clock import utcnow
from authbridge.connectors import (
    CallbackConnector,
    ConnectorError,
    Connectors,
    Identity,
    LoginRequest,
    SignupPolicy,
)
from authbridge.connectors.oidc import IDP_ERRORS
from authbridge.connectors.redirects import (
    CALLBACK_PATH,
    DEX_CALLBACK_PATH,
    REDIRECT_PATH,
    SET_ISSUER,
    redirect_uri_elsewhere,
)
from authbridge.connectors.redirects import redirect_uri as derived_redirect_uri
from authbridge.directory.identities import IdentityLinker, SignInRefused
from authbridge.directory.totp import admin_sign_in_falls_short
from authbridge.storage.models import User
from authbridge.web.audit_actor import request_actor
from authbridge.web.dependencies import services_of as _services
from authbridge.web.errors import error_response
from authbridge.web.mfa_pages import administers, second_step
from authbridge.web.rendering import check_csrf, render
from authbridge.web.security import loopback_caller, safe_next
from authbridge.web.services import Services
from authbridge.web.sessions import sign_in

__all__ = ["complete_sign_in", "router"]

router = APIRouter()
log = structlog.get_logger("authbridge.oauth_client")

PENDING_PREFIX = "oauth-login:"
PENDING_TTL = timedelta(minutes=10)
MAX_FIELDS = 20
MAX_FIELD = 16 * 1024
RELAYED = "authbridge_relayed"


def _connectors(request: Request) -> Connectors:
    return _services(request).connectors


def _bind_cookie(services: Services) -> str:
    return "__Host-authbridge_oauth" if services.settings.server.https else "authbridge_oauth"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _pending_key(state: str) -> str:
    return PENDING_PREFIX + _digest(state)[:48]


def _error(
    request: Request,
    status: int,
    title: str,
    message: str,
    hint: str | None = None,
) -> Response:
    """An error page for the person signing in. `hint` is the operator's diagnostic
    (internal URLs, proxy variables, config keys): it goes to the log, under the request id
    the page shows as its reference, never onto the page."""
    services = _services(request)
    if hint:
        log.warning("sign_in_page_error", status=status, title=title, diagnostic=hint)
    return render(request, services, "error.html", status, title=title, message=message)


# Failures whose page says more than "did not work" in its title.
TITLES = {"mfa_not_confirmed": "Second factor not confirmed"}


def _failed(request: Request, provider: str, exc: ConnectorError) -> Response:
    services = _services(request)
    log.warning("idp_sign_in_failed", provider=provider, code=exc.code, detail=exc.hint)
    services.metrics.sign_ins.labels(provider, "failure").inc()
    ready = services.ready()
    ready.audit.record(
        AuditEvent(
            "signin.failed",
            request_actor(request, services),
            outcome="failure",
            details={"method": "idp", "connector": provider, "error": exc.code},
        )
    )
    title = TITLES.get(exc.code, "Sign-in did not work")
    return _error(request, exc.status, title, exc.message, exc.hint)


@router.get("/v1/oauth/start", include_in_schema=False)
@router.get("/v1/oauth/start/", include_in_schema=False)
def start(request: Request, provider: str = "", next: str = "") -> Response:
    services = _services(request)
    connector = _connectors(request).get(provider)
    if connector is None:
        return _error(
            request,
            404,
            "Unknown identity provider",
            f"No identity provider named {provider[:64]!r} is configured here.",
            "Check the provider= parameter (Okta tile: Initiate Login URI) against "
            "auth.openidConnect.<name>.",
        )
    ready = services.ready()
    cookie = _bind_cookie(services)
    binding = request.cookies.get(cookie)
    if not binding or not 32 <= len(binding) <= 128:
        binding = secrets.token_urlsafe(32)
    redirect_uri = _redirect_uri(services, connector)
    elsewhere = redirect_uri_elsewhere(services.settings, redirect_uri)
    if elsewhere is not None:
        log.warning("idp_redirect_uri_elsewhere", provider=connector.id, redirect_uri=redirect_uri)
        return _error(
            request,
            503,
            "This identity provider is not configured correctly",
            "Sign-in with this provider cannot work at this address.",
            f"Its {elsewhere}: {SET_ISSUER}.",
        )
    login = LoginRequest.fresh(redirect_uri)
    try:
        url = connector.authorization_url(login)
    except ConnectorError as exc:
        return _failed(request, connector.id, exc)
    record = {
        "provider": connector.id,
        "nonce": login.nonce,
        "verifier": login.code_verifier,
        "redirect_uri": login.redirect_uri,
        "next": safe_next(next, default="/account"),
        "binding": _digest(binding),
        "created": time.time(),
    }
    # Storage owns the expiry: past it the login reads as absent, and housekeeping deletes it.
    ready.storage.values.put(
        _pending_key(login.state), json.dumps(record), expires_at=utcnow() + PENDING_TTL
    )
    response = RedirectResponse(url, status_code=303)
    services.cookies.set(response, cookie, binding, max_age=int(PENDING_TTL.total_seconds()))
    response.headers["cache-control"] = "no-store"
    log.info("idp_sign_in_started", provider=connector.id)
    return response


def _redirect_uri(services: Services, connector: CallbackConnector) -> str:
    return derived_redirect_uri(services.settings, connector.id, connector.landing)


def _take_pending(request: Request, state: str) -> dict[str, Any] | None:
    """The login this state belongs to, if this browser started it; removed on use."""
    services = _services(request)
    values = services.ready().storage.values
    key = _pending_key(state)
    raw = values.get(key)
    if raw is None:
        return None
    record: dict[str, Any] = json.loads(raw)
    binding = request.cookies.get(_bind_cookie(services)) or ""
    if not hmac.compare_digest(_digest(binding), str(record.get("binding", ""))):
        return None
    # delete() is the single-use gate: of two requests racing with one state, one wins.
    if not values.delete(key):
        return None
    return record


def _complete(request: Request, params: dict[str, str], landing: str) -> Response:
    state = params.get("state", "")
    if not state or len(state) > 512:
        if "error" in params:
            code = params["error"][:64]
            message, hint = IDP_ERRORS.get(code, ("The identity provider refused the sign-in.", ""))
            log.warning("idp_error_without_state", code=code)
            return _error(
                request,
                400,
                "Sign-in did not work",
                message,
                f"{hint} The IdP answered {code!r} without a state.".strip(),
            )
        return _error(
            request,
            400,
            "Sign-in did not work",
            "This page needs a sign-in response from an identity provider.",
            "The request had no `state` parameter.",
        )
    pending = _take_pending(request, state)
    if pending is None:
        log.warning("idp_state_rejected", landing=landing)
        return _error(
            request,
            400,
            "Sign-in link expired",
            "This sign-in was already completed, has expired, or was started in another "
            "browser. Start again from the sign-in page.",
            "The `state` is unknown, used, older than 10 minutes, or not bound to this "
            "browser's cookie (cookies blocked?).",
        )
    connector = _connectors(request).get(str(pending["provider"]))
    if connector is None or not str(pending["redirect_uri"]).endswith(landing):
        return _error(
            request,
            400,
            "Sign-in did not work",
            "This sign-in cannot be completed here. Start again from the sign-in page.",
            "The provider was removed from the configuration or answered at the wrong URL.",
        )
    login = LoginRequest(
        state=state,
        nonce=str(pending["nonce"]),
        code_verifier=str(pending["verifier"]),
        redirect_uri=str(pending["redirect_uri"]),
    )
    return _finish(request, connector, login, params, str(pending["next"]))


def _finish(
    request: Request,
    connector: CallbackConnector,
    login: LoginRequest,
    params: dict[str, str],
    next_url: str,
) -> Response:
    try:
        identity = connector.handle_callback(login, params)
    except ConnectorError as exc:
        return _failed(request, connector.id, exc)
    return complete_sign_in(request, identity, connector.signup, next_url)


def complete_sign_in(
    request: Request,
    identity: Identity,
    signup: SignupPolicy,
    next_url: str,
    *,
    method: str = "idp",
) -> Response:
    """The account of an identity an upstream vouched for (an IdP's callback, an LDAP
    bind): found or created by the directory, signed in, audited as `method`."""
    services = _services(request)
    ready = services.ready()
    connector_id = identity.connector_id
    linker = IdentityLinker(
        ready.storage,
        services.settings.authorizer,
        services.settings.scim,
        ready.membership,
        ready.invitations,
    )
    try:
        user = linker.sign_in(identity, signup)
        if method != "ldap":
            _admin_mfa(services, user, identity)
    except SignInRefused as exc:
        log.warning("idp_sign_in_refused", provider=connector_id, detail=exc.hint)
        services.metrics.sign_ins.labels(connector_id, "refused").inc()
        ready.audit.record(
            AuditEvent(
                "signin.refused",
                request_actor(request, services, name=identity.subject[:255]),
                Target("user", exc.user_id) if exc.user_id is not None else None,
                "failure",
                {
                    "method": method,
                    "connector": connector_id,
                    "reason": exc.reason,
                    "source": exc.source,
                },
            )
        )
        if "text/html" not in request.headers.get("accept", ""):
            # A program (or a test client) gets the reason as JSON, not a page.
            return error_response(request, 403, exc.message, code="sign_in_refused")
        return _error(request, 403, "Sign-in refused", exc.message, exc.hint)
    if method == "ldap":
        # authbridge checked the directory's password itself: its administrators take the
        # local second step (mfaRequiredForAdmins), as local accounts do.
        second = second_step(request, services, user, next_url, connector=connector_id)
        if second is not None:
            return second
    response = RedirectResponse(safe_next(next_url), status_code=303)
    # The methods the upstream proved (none when it states none: RFC 8176 has no value
    # for "federated", and an invented one would claim what nobody said).
    sign_in(request, response, services, user, connector_id, amr=identity.amr)
    services.metrics.sign_ins.labels(connector_id, "success").inc()
    log.info("sign_in", method=connector_id, user_id=user.id)
    ready.audit.record(
        AuditEvent(
            "signin.succeeded",
            request_actor(request, services, "user", user.id, user.username),
            Target("user", user.id, user.username),
            details={"method": method, "connector": connector_id, "amr": list(identity.amr)},
        )
    )
    return response


def _admin_mfa(services: Services, user: User, identity: Identity) -> None:
    """`auth.local.mfaRequiredForAdmins` for an account an upstream vouched for
    (docs/mfa.md): an administrator's sign-in must show a second factor in what the
    upstream stated (`amr`: an OpenID Connect ID token's, with `requireMfa`'s acr proof
    recorded as `mfa`; a SAML assertion's AuthnContext). An upstream that states none
    (GitHub, an LDAP bind) cannot satisfy it: refused, never let in with one factor."""
    if not admin_sign_in_falls_short(services.settings, identity.amr):
        return
    if not administers(services, user):
        return
    raise SignInRefused(
        "Administrators must sign in with a second factor, and your identity provider did "
        "not confirm one. Sign in there with your second factor (or ask for MFA to be "
        "required for this app), then try again.",
        f"auth.local.mfaRequiredForAdmins: {identity.connector_id}'s sign-in stated amr "
        f"{list(identity.amr)!r}; an administrator needs a second factor (docs/mfa.md)",
        reason="admin_mfa_not_confirmed",
        user_id=user.id,
    )


def _fields(items: Any) -> dict[str, str] | None:
    fields: dict[str, str] = {}
    for name, value in items:
        if not isinstance(value, str) or len(fields) >= MAX_FIELDS or len(value) > MAX_FIELD:
            return None
        fields[str(name)[:64]] = value
    return fields


@router.get("/v1/oauth/callback/", include_in_schema=False)
@router.get("/v1/oauth/callback", include_in_schema=False)
def callback(request: Request) -> Response:
    """RFC 6749 §4.1.2: the authorization response in the query."""
    fields = _fields(request.query_params.multi_items())
    if fields is None:
        return _error(request, 400, "Sign-in did not work", "The response was too large.")
    return _complete(request, fields, CALLBACK_PATH)


@router.get(DEX_CALLBACK_PATH, include_in_schema=False)
def dex_callback(request: Request) -> Response:
    """RFC 6749 §4.1.2 at Dex's path: only a login started with a `redirectUri` ending in
    /dex/callback completes here (the redirect URI must match the one sent)."""
    fields = _fields(request.query_params.multi_items())
    if fields is None:
        return _error(request, 400, "Sign-in did not work", "The response was too large.")
    return _complete(request, fields, DEX_CALLBACK_PATH)


def _relay_page(
    request: Request, fields: dict[str, str], auto: bool, action: str = REDIRECT_PATH
) -> Response:
    response = render(
        request, _services(request), "oauth_redirect.html", fields=fields, auto=auto, action=action
    )
    response.headers["referrer-policy"] = "no-referrer"
    return response


@router.get("/v1/oauth/redirect/", include_in_schema=False)
@router.get("/v1/oauth/redirect", include_in_schema=False)
def redirect_get(request: Request) -> Response:
    """OAuth 2.0 Multiple Response Types §5: implicit responses arrive in the fragment,
    which only the browser sees; a static script posts it here. Errors may use the query."""
    fields = _fields(request.query_params.multi_items())
    if fields is None:
        return _error(request, 400, "Sign-in did not work", "The response was too large.")
    if "state" in fields or "error" in fields:
        return _complete(request, fields, REDIRECT_PATH)
    return _relay_page(request, {}, auto=False)


@router.post("/v1/oauth/redirect/", include_in_schema=False)
@router.post("/v1/oauth/redirect", include_in_schema=False)
async def redirect_post(request: Request) -> Response:
    """The fragment relayed by our script, or a `form_post` response from the IdP.

    A form_post from the IdP's site is a cross-site POST, so the SameSite=Lax binding
    cookie is not sent with it: the fields are then posted once more from our own page.
    """
    form = await request.form()
    fields = _fields(form.multi_items())
    if fields is None:
        return _error(request, 400, "Sign-in did not work", "The response was too large.")
    relayed = fields.pop(RELAYED, None) is not None
    services = _services(request)
    if request.cookies.get(_bind_cookie(services)) is None and not relayed:
        return _relay_page(request, fields, auto=True)
    return _complete(request, fields, REDIRECT_PATH)


def _mock_enabled(request: Request) -> bool:
    # The mock IdP signs in whoever is typed: only for this machine unless asked otherwise.
    settings = _services(request).settings
    local = settings.auth.mock.allow_remote or loopback_caller(
        request, settings.server.trusted_proxies
    )
    return local and _connectors(request).mock_enabled


@router.get("/v1/oauth/mock/authorize", include_in_schema=False)
def mock_authorize_page(request: Request, state: str = "") -> Response:
    if not _mock_enabled(request):
        return _error(request, 404, "Not found", "The mock identity provider is turned off.")
    return render(request, _services(request), "mock_idp.html", state=state[:512])


@router.post("/v1/oauth/mock/authorize", include_in_schema=False)
async def mock_authorize(request: Request) -> Response:
    """The mock IdP's answer goes straight to the same completion as a real callback."""
    if not _mock_enabled(request):
        return _error(request, 404, "Not found", "The mock identity provider is turned off.")
    form = await request.form()
    fields = _fields(form.multi_items())
    if fields is None:
        return _error(request, 400, "Sign-in did not work", "The form was too large.")
    check_csrf(request, _services(request), fields.pop("csrf_token", ""))
    return _complete(request, fields, CALLBACK_PATH)
