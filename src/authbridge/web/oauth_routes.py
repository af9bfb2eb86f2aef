"""HTTP glue of the OpenID Provider: authorize, token, userinfo, revocation, introspection,
device authorization, and RP-initiated logout (the device verification page is
`device_routes.py`).

Protocol decisions live in `authbridge.provider`; this module only moves parameters in and
responses out, and knows where each kind of error must go (RFC 6749 §4.1.2.1, §5.2).

Over 400 lines because it is every provider endpoint the discovery document lists, each
with the error routing its RFC prescribes.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import structlog
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from authbridge.clock import utcnow
from authbridge.middleware.authn import ACR_VALUES
from authbridge.provider.authorization import (
    RESPONSE_TYPES,
    SUPPORTED_SCOPES,
    AuthorizationResponse,
    RedirectError,
    SignedInUser,
    needs_login,
    parse_request,
)
from authbridge.provider.clients import GRANT_TYPES
from authbridge.provider.errors import OAuthError
from authbridge.web.dependencies import provider_for
from authbridge.web.dependencies import services_of as _services
from authbridge.web.rendering import brand_of, check_csrf, render, templates_for
from authbridge.web.security import client_address
from authbridge.web.services import Services
from authbridge.web.sessions import current, sign_out
from authbridge.web.token_endpoint import (
    NO_STORE,
    TokenEndpoint,
    error_headers,
    grant_body,
    parse_form,
)

__all__ = ["AUTHORIZE_PATH", "TOKEN_ROUTE", "provider_for", "provider_metadata", "router"]

router = APIRouter()
log = structlog.get_logger("authbridge.provider")

AUTHORIZE_PATH = "/oauth2/authorize"
REAUTH_PARAM = "_reauth"
REAUTH_PURPOSE = "oauth-reauth"
REAUTH_TTL = 300  # seconds to sign in again after prompt=login / max_age sent the user off
FORM_POST_JS = b'document.getElementById("form-post").submit();\n'


def provider_metadata(issuer: str) -> dict[str, object]:
    """The provider's part of the discovery document (OIDC Discovery §3, RFC 8414 §2):
    exactly what is implemented."""
    return {
        "authorization_endpoint": issuer + AUTHORIZE_PATH,
        "token_endpoint": issuer + "/oauth2/token",
        "userinfo_endpoint": issuer + "/oauth2/userinfo",
        "revocation_endpoint": issuer + "/oauth2/revoke",
        "introspection_endpoint": issuer + "/oauth2/introspect",
        "end_session_endpoint": issuer + "/oauth2/logout",
        "device_authorization_endpoint": issuer + "/oauth2/device_authorization",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": list(RESPONSE_TYPES),
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "prompt_values_supported": ["none", "login", "select_account"],
        # OIDC Discovery §3: the levels a client may ask for with acr_values (docs/mfa.md).
        "acr_values_supported": list(ACR_VALUES),
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
    }


def _json(body: Mapping[str, Any], status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(dict(body), status_code=status, headers={**NO_STORE, **headers})


def _oauth_error(exc: OAuthError, *, basic: bool = False) -> JSONResponse:
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in error_headers(exc, basic=basic)}
    return _json(exc.as_dict(), exc.status, **headers)


async def _form(request: Request) -> dict[str, str]:
    """A token-style request body (RFC 6749 §3.2): see `token_endpoint.parse_form`."""
    return parse_form(request.headers.get("content-type", ""), await request.body())


def _send(request: Request, services: Services, response: AuthorizationResponse) -> Response:
    if response.form_post:
        branding = services.settings.branding
        page = templates_for(branding.templates_dir).TemplateResponse(
            request,
            "oauth_form_post.html",
            {"action": response.url, "params": response.params, "brand": brand_of(branding)},
            headers=NO_STORE,
        )
        return page
    return RedirectResponse(response.url, status_code=302, headers=NO_STORE)


def _error_page(request: Request, services: Services, exc: OAuthError) -> Response:
    """Errors before the redirect URI is validated are shown here, never redirected."""
    log.info("authorize_refused", error=exc.error, reason=exc.description)
    return render(
        request,
        services,
        "error.html",
        400,
        title="This sign-in request is not valid",
        message=f"{exc.description} ({exc.error}).",
        hint="Tell the people who run the application that sent you here.",
    )


def _params(query: Any, form: FormData | None) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    source = form.multi_items() if form is not None else query.multi_items()
    for key, value in source:
        if isinstance(value, str):
            params.setdefault(key, []).append(value)
    return params


@router.api_route(AUTHORIZE_PATH, methods=["GET", "POST"], include_in_schema=False)
async def authorize(request: Request) -> Response:
    """OIDC Core §3.1.2.1: GET and POST (form) are both supported."""
    form = await request.form() if request.method == "POST" else None
    params = _params(request.query_params, form)
    return await run_in_threadpool(_authorize, request, params)


def _authorize(request: Request, params: dict[str, list[str]]) -> Response:
    services = _services(request)
    provider = provider_for(request)
    issuer = services.settings.server.issuer
    try:
        parsed = parse_request(provider.registry, params, issuer)
    except RedirectError as exc:
        return _send(request, services, exc.response())
    except OAuthError as exc:
        return _error_page(request, services, exc)
    signed_in = current(request, services)
    session = None
    if signed_in is not None:
        session = SignedInUser(
            user_id=signed_in.user.id,
            auth_time=int(signed_in.session.auth_time.timestamp()),
            connector=signed_in.session.auth_method,
            amr=signed_in.session.methods,
            acr=signed_in.session.acr,
        )
    ready = services.ready()
    now = int(utcnow().timestamp())
    try:
        reason = needs_login(
            parsed,
            session,
            now=now,
            reauthenticated_after=_redeem_marker(request, services, params, session, now),
            hint_subject=provider.hint_subject(parsed),
        )
    except RedirectError as exc:
        return _send(request, services, exc.response())
    if reason is not None:
        # Back here after sign-in, the marker says "a session this browser made after now is
        # fresh", so prompt=login and max_age are satisfied once, without a loop.
        back = {k: v for k, v in params.items() if k != REAUTH_PARAM}
        browser_secret = secrets.token_urlsafe(16)
        back[REAUTH_PARAM] = [
            ready.csrf.sign(_marker_purpose(back, browser_secret), f"{now}.{secrets.token_hex(8)}")
        ]
        next_url = AUTHORIZE_PATH + "?" + urlencode(back, doseq=True)
        query = {"next": next_url}
        if parsed.login_hint:
            query["login_hint"] = parsed.login_hint
        if reason == "acr_values not met":
            # The level asked for, so the sign-in page can ask for the second factor.
            query["acr_values"] = " ".join(parsed.acr_values)
        login = "/login?" + urlencode(query)
        response = RedirectResponse(login, status_code=303, headers=NO_STORE)
        services.cookies.set(response, services.cookies.reauth, browser_secret, max_age=REAUTH_TTL)
        if signed_in is not None:
            # Re-authentication: the login page would otherwise pass a signed-in user through.
            sign_out(request, response, services)
        log.info("authorize_login", client_id=parsed.client.client_id, reason=reason)
        return response
    assert signed_in is not None and session is not None
    result = provider.authorize(
        parsed, signed_in.user, session.auth_time, amr=session.amr, acr=session.acr
    )
    log.info(
        "authorized",
        client_id=parsed.client.client_id,
        user_id=signed_in.user.id,
        response_type=parsed.response_type,
    )
    return _send(request, services, result)


def _marker_purpose(params: Mapping[str, list[str]], browser_secret: str) -> str:
    """What a re-authentication marker is bound to: this exact authorization request (its
    client and every parameter) and the browser that was sent to sign in (a secret in its
    cookie, never in the URL)."""
    canonical = urlencode(
        sorted((k, v) for k, values in params.items() if k != REAUTH_PARAM for v in values)
    )
    bound = hashlib.sha256(f"{canonical}\x00{browser_secret}".encode()).hexdigest()
    return f"{REAUTH_PURPOSE}:{bound}"


def _redeem_marker(
    request: Request,
    services: Services,
    params: Mapping[str, list[str]],
    session: SignedInUser | None,
    now: int,
) -> int | None:
    """The time after which a session counts as a fresh sign-in, from a valid marker.

    A marker counts once (OIDC Core §3.1.2.1: prompt=login and max_age=0 demand a sign-in
    for this request, not a window in which any request skips it), for REAUTH_TTL seconds,
    in the browser it was issued to, for the request it was issued for, and only with a
    session made after it: one user's marker never spares another user's sign-in.
    """
    given = params.get(REAUTH_PARAM)
    browser_secret = request.cookies.get(services.cookies.reauth)
    if not given or not browser_secret or session is None:
        return None
    ready = services.ready()
    value = ready.csrf.unsign(_marker_purpose(params, browser_secret), given[0])
    issued_text, _, marker_id = (value or "").partition(".")
    if not (issued_text.isascii() and issued_text.isdigit()) or not marker_id:
        return None
    issued = int(issued_text)
    if not issued <= now <= issued + REAUTH_TTL or session.auth_time < issued:
        return None
    # The count must outlive the marker: the marker is judged in whole seconds and counted
    # from the instant of its first use, on whichever replica's clock; twice its lifetime
    # covers both (a counter that lapsed first would let the marker count twice).
    # A replay cache (Redis's SET NX PX when configured): one use on any replica.
    first = ready.counters.replay.first_use(
        "reauth:" + marker_id, timedelta(seconds=2 * REAUTH_TTL)
    )
    return issued if first else None


@router.get("/oauth2/form_post.js", include_in_schema=False)
def form_post_script() -> Response:
    # A file, not an inline script: the strict CSP (script-src 'self') stays as it is.
    return Response(
        FORM_POST_JS,
        media_type="text/javascript",
        headers={"cache-control": "public, max-age=86400"},
    )


async def _token_call(request: Request, name: str) -> Response:
    services = _services(request)
    provider = services.ready().provider
    authorization = request.headers.get("authorization")
    basic = bool(authorization and authorization.lower().startswith("basic "))
    address = client_address(request, services.settings.server.trusted_proxies)
    try:
        form = await _form(request)
        body = await grant_body(services, provider, name, authorization, form, address)
    except OAuthError as exc:
        return _oauth_error(exc, basic=basic)
    if body is None:
        return Response(status_code=200, headers=NO_STORE)
    return _json(body)


def _cors(response: Response) -> Response:
    # Browser apps (SPAs with PKCE) call these endpoints cross-origin without cookies.
    response.headers["access-control-allow-origin"] = "*"
    return response


# The token endpoint (every grant: the provider's hot path) is a plain ASGI app in a Starlette
# route that `create_app` puts before the routers: no FastAPI dependency solving nor route
# walk through the included routers, no Request nor JSONResponse (web/token_endpoint.py).
# The body limits, the security headers and the error handlers are the app's, as for any
# route; OPTIONS (the preflight below) and other methods still reach the routers.
TOKEN_ROUTE = Route("/oauth2/token", TokenEndpoint(), methods=["POST"], include_in_schema=False)


@router.post("/oauth2/revoke", include_in_schema=False)
async def revoke(request: Request) -> Response:
    """RFC 7009 §2.2: 200 whether or not the token was known."""
    return _cors(await _token_call(request, "revoke"))


@router.post("/oauth2/introspect", include_in_schema=False)
async def introspect(request: Request) -> Response:
    """RFC 7662 §2."""
    return await _token_call(request, "introspect")


@router.post("/oauth2/device_authorization", include_in_schema=False)
async def device_authorization(request: Request) -> Response:
    """RFC 8628 §3.1-3.2."""
    return await _token_call(request, "device_authorization")


@router.options("/oauth2/token", include_in_schema=False)
@router.options("/oauth2/revoke", include_in_schema=False)
@router.options("/oauth2/userinfo", include_in_schema=False)
def preflight() -> Response:
    return Response(
        status_code=204,
        headers={
            "access-control-allow-origin": "*",
            "access-control-allow-methods": "GET, POST",
            "access-control-allow-headers": "authorization, content-type",
            "access-control-max-age": "600",
        },
    )


def _bearer_error(error: str, description: str, status: int, scope: str | None = None) -> Response:
    """RFC 6750 §3: the error in WWW-Authenticate (with the scope needed, §3.1)."""
    header = f'Bearer error="{error}", error_description="{description}"'
    if scope:
        header += f', scope="{scope}"'
    response = _json({"error": error, "error_description": description}, status)
    response.headers["www-authenticate"] = header
    return _cors(response)


@router.api_route("/oauth2/userinfo", methods=["GET", "POST"], include_in_schema=False)
async def userinfo(request: Request) -> Response:
    """OIDC Core §5.3; the token in the header, or (POST) in the form body (RFC 6750 §2.2)."""
    provider = provider_for(request)
    header = request.headers.get("authorization")
    token = None
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return _bearer_error("invalid_request", "use the Bearer scheme", 400)
        token = value.strip()
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            form = await request.form()
            posted = form.getlist("access_token")
            if posted:
                if token is not None or len(posted) > 1:
                    # RFC 6750 §2: one method per request.
                    return _bearer_error("invalid_request", "send the token one way only", 400)
                token = str(posted[0])
    if not token:
        response = _json({"error": "invalid_token", "error_description": "no access token"}, 401)
        response.headers["www-authenticate"] = 'Bearer realm="authbridge"'
        return _cors(response)
    try:
        claims = await run_in_threadpool(provider.userinfo, token)
    except OAuthError as exc:
        needed = "openid" if exc.error == "insufficient_scope" else None
        return _bearer_error(exc.error, exc.description, exc.status, needed)
    return _cors(_json(claims))


@router.get("/oauth2/login_providers", include_in_schema=False)
def login_providers(request: Request) -> Response:
    """The sign-in choices the login page shows, for `authbridge login` to print."""
    services = _services(request)
    choices: list[dict[str, object]] = []
    if services.settings.auth.local.enabled:
        choices.append({"id": "local", "display_name": "email and password", "available": True})
    choices.extend(
        {"id": p.id, "display_name": p.display_name, "available": p.available}
        for p in services.login_providers()
    )
    return JSONResponse(choices, headers={"cache-control": "no-store"})


# RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) -------------------------

LOGOUT_PARAMS = ("id_token_hint", "post_logout_redirect_uri", "client_id", "state")


@router.api_route("/oauth2/logout", methods=["GET", "POST"], include_in_schema=False)
async def end_session(request: Request) -> Response:
    form = await request.form() if request.method == "POST" else None
    source = form if form is not None else request.query_params
    params = {
        k: str(source.get(k)) for k in (*LOGOUT_PARAMS, "confirm", "csrf_token") if source.get(k)
    }
    return await run_in_threadpool(_end_session, request, params)


def _end_session(request: Request, params: dict[str, str]) -> Response:
    services = _services(request)
    provider = provider_for(request)
    try:
        target, subject, hinted = provider.logout_target(params)
    except OAuthError as exc:
        return _error_page(request, services, exc)
    signed_in = current(request, services)
    confirmed = params.get("confirm") == "yes"
    if confirmed:
        check_csrf(request, services, params.get("csrf_token", ""))
    if signed_in is not None and not confirmed and not (hinted and subject == signed_in.user.id):
        # Without a matching id_token_hint any site could sign the user out: ask first (§2).
        carried = {k: v for k, v in params.items() if k in LOGOUT_PARAMS}
        client = provider.registry.get(provider.logout_client_id(params))
        app_name = (client.name or client.client_id) if client is not None else None
        return render(request, services, "logout_confirm.html", params=carried, app_name=app_name)
    if target:
        query = {"state": params["state"]} if params.get("state") else {}
        joiner = "&" if "?" in target else "?"
        url = target + (joiner + urlencode(query) if query else "")
        response: Response = RedirectResponse(url, status_code=303, headers=NO_STORE)
    else:
        response = RedirectResponse("/login", status_code=303, headers=NO_STORE)
    if signed_in is not None:
        sign_out(request, response, services)
        log.info("rp_logout", user_id=signed_in.user.id)
    return response
