"""The authorization endpoint's request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, §3.2.2.1).

Validation runs in the order the RFC needs: first the client and the redirect URI, whose
errors are shown on our own page and never sent anywhere (RFC 6749 §4.1.2.1); then every
other parameter, whose errors go back to the validated redirect URI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from authbridge.middleware.authn import ACR_VALUES, acr_satisfies
from authbridge.provider.clients import Client, ClientRegistry, redirect_uri_registered
from authbridge.provider.errors import OAuthError
from authbridge.provider.pkce import check_challenge

__all__ = [
    "RESPONSE_TYPES",
    "SUPPORTED_SCOPES",
    "AuthorizationRequest",
    "AuthorizationResponse",
    "RedirectError",
    "ResponseTarget",
    "needs_login",
    "parse_request",
]

RESPONSE_TYPES = ("code", "id_token", "id_token token")
RESPONSE_MODES = ("query", "fragment", "form_post")
SUPPORTED_SCOPES = ("openid", "profile", "email", "groups", "offline_access")
# `consent` is accepted and satisfied without a screen: every client is registered by the
# platform's operators (first-party), so there is no third-party consent to collect.
PROMPTS = ("none", "login", "consent", "select_account")
UNSUPPORTED = {
    "request": "request_not_supported",
    "request_uri": "request_uri_not_supported",
    "registration": "registration_not_supported",
}
SINGLE = (
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "acr_values",
)
MAX_ACR_VALUES = 10


@dataclass(frozen=True)
class ResponseTarget:
    """Where and how a response goes: the validated redirect URI and the response mode."""

    redirect_uri: str
    mode: str
    state: str | None
    issuer: str

    def respond(self, params: Mapping[str, str]) -> AuthorizationResponse:
        """Add `state` and `iss` (RFC 9207 §2) and encode for the response mode."""
        full = dict(params)
        if self.state is not None:
            full["state"] = self.state
        full["iss"] = self.issuer
        if self.mode == "form_post":
            return AuthorizationResponse(self.redirect_uri, full, form_post=True)
        encoded = urlencode(full)
        if self.mode == "fragment":
            return AuthorizationResponse(f"{self.redirect_uri}#{encoded}", full)
        # A registered URI may carry a query; it is kept (RFC 6749 §3.1.2).
        joiner = "&" if "?" in self.redirect_uri else "?"
        return AuthorizationResponse(f"{self.redirect_uri}{joiner}{encoded}", full)


@dataclass(frozen=True)
class AuthorizationResponse:
    url: str
    params: dict[str, str]
    form_post: bool = False


class RedirectError(OAuthError):
    """An error to send to the client's validated redirect URI."""

    def __init__(self, target: ResponseTarget, error: str, description: str) -> None:
        super().__init__(error, description, redirectable=True)
        self.target = target

    def response(self) -> AuthorizationResponse:
        return self.target.respond(self.as_dict())


@dataclass(frozen=True)
class AuthorizationRequest:
    client: Client
    target: ResponseTarget
    response_type: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    prompt: frozenset[str]
    max_age: int | None
    login_hint: str | None
    id_token_hint: str | None
    # OIDC Core §3.1.2.1: requested acr values, in order of preference.
    acr_values: tuple[str, ...] = ()

    @property
    def redirect_uri(self) -> str:
        return self.target.redirect_uri

    def error(self, error: str, description: str) -> RedirectError:
        return RedirectError(self.target, error, description)


def _single(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = [v for v in params.get(name, ()) if v != ""]
    if len(values) > 1:
        raise OAuthError("invalid_request", f"{name} is given more than once (RFC 6749 §3.1)")
    return values[0] if values else None


def _client_and_redirect(
    registry: ClientRegistry, params: Mapping[str, Sequence[str]]
) -> tuple[Client, str]:
    """The part whose errors are never redirected (RFC 6749 §4.1.2.1)."""

    def fail(description: str) -> OAuthError:
        return OAuthError("invalid_request", description, redirectable=False)

    try:
        client_id = _single(params, "client_id")
        redirect_uri = _single(params, "redirect_uri")
    except OAuthError as exc:
        raise fail(exc.description) from None
    if client_id is None:
        raise fail("client_id is missing")
    client = registry.get(client_id)
    if client is None:
        raise OAuthError("invalid_client", "unknown client_id", redirectable=False)
    if redirect_uri is None:
        # OIDC Core §3.1.2.1 requires it; plain OAuth may omit it with one registration.
        if len(client.redirect_uris) == 1 and "openid" not in (_single(params, "scope") or ""):
            return client, client.redirect_uris[0]
        raise fail("redirect_uri is missing")
    if not redirect_uri_registered(client, redirect_uri):
        raise fail("redirect_uri is not registered for this client")
    return client, redirect_uri


def _first(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def _default_mode(response_type: str | None) -> str:
    # OAuth 2.0 Multiple Response Types §5: tokens never travel in a query string.
    return "query" if response_type in (None, "code") else "fragment"


def parse_request(
    registry: ClientRegistry, params: Mapping[str, Sequence[str]], issuer: str
) -> AuthorizationRequest:
    """Validate an authorization request. Unknown parameters are ignored (RFC 6749 §3.1)."""
    client, redirect_uri = _client_and_redirect(registry, params)
    raw_type = _first(params, "response_type")
    raw_type = " ".join(sorted(raw_type.split())) if raw_type else None
    raw_mode = _first(params, "response_mode")
    raw_state = _first(params, "state")
    mode = raw_mode if raw_mode in RESPONSE_MODES else _default_mode(raw_type)
    target = ResponseTarget(redirect_uri, mode, raw_state or None, issuer)

    def fail(error: str, description: str) -> RedirectError:
        return RedirectError(target, error, description)

    try:
        values = {name: _single(params, name) for name in SINGLE}
    except OAuthError as exc:
        raise fail(exc.error, exc.description) from None
    for name, error in UNSUPPORTED.items():
        if name in params:
            # OIDC Core §6.1, §6.2, §7.2.1: these named errors, not silent ignoring.
            raise fail(error, f"the {name} parameter is not supported")
    if raw_mode is not None and raw_mode not in RESPONSE_MODES:
        raise fail("invalid_request", f"response_mode {raw_mode!r} is not supported")
    if raw_type is None:
        raise fail("invalid_request", "response_type is missing")
    if raw_type not in RESPONSE_TYPES:
        raise fail("unsupported_response_type", f"response_type {raw_type!r} is not supported")
    if not client.allows_response_type(raw_type):
        raise fail("unauthorized_client", f"this client may not use response_type {raw_type!r}")
    if raw_type != "code" and mode == "query":
        raise fail("invalid_request", "tokens are never sent in a query: use fragment or form_post")
    requested = (values["scope"] or "").split()
    # Unknown scopes are ignored rather than refused (RFC 6749 §3.3 lets the server choose).
    scopes = [s for s in dict.fromkeys(requested) if s in SUPPORTED_SCOPES]
    if raw_type != "code" and "openid" not in scopes:
        raise fail("invalid_scope", "the implicit flow needs the openid scope")
    nonce = values["nonce"]
    if raw_type != "code" and not nonce:
        # OIDC Core §3.2.2.1: nonce is REQUIRED in the implicit flow.
        raise fail("invalid_request", "nonce is required for response_type " + raw_type)
    if nonce is not None and (len(nonce) > 512 or not nonce.isprintable()):
        raise fail("invalid_request", "nonce is too long or has control characters")
    challenge = None
    if raw_type == "code":
        try:
            challenge = check_challenge(
                values["code_challenge"],
                values["code_challenge_method"],
                required=client.public,
            )
        except OAuthError as exc:
            raise fail(exc.error, exc.description) from None
    prompt = frozenset((values["prompt"] or "").split())
    unknown = prompt - set(PROMPTS)
    if unknown:
        raise fail("invalid_request", f"prompt value {sorted(unknown)[0]!r} is not supported")
    if "none" in prompt and len(prompt) > 1:
        raise fail("invalid_request", "prompt=none cannot be combined with other values")
    max_age = None
    if values["max_age"] is not None:
        if (
            not (values["max_age"].isascii() and values["max_age"].isdigit())
            or len(values["max_age"]) > 9
        ):
            raise fail("invalid_request", "max_age must be a non-negative integer")
        max_age = int(values["max_age"])
    acr_values = tuple(dict.fromkeys((values["acr_values"] or "").split()))
    if len(acr_values) > MAX_ACR_VALUES or any(
        len(v) > 256 or not v.isprintable() for v in acr_values
    ):
        raise fail("invalid_request", "acr_values has too many or too long values")
    return AuthorizationRequest(
        client=client,
        target=target,
        response_type=raw_type,
        scope=" ".join(scopes),
        nonce=nonce,
        code_challenge=challenge,
        prompt=prompt,
        max_age=max_age,
        login_hint=(values["login_hint"] or None),
        id_token_hint=values["id_token_hint"],
        acr_values=acr_values,
    )


@dataclass(frozen=True)
class SignedInUser:
    user_id: str
    auth_time: int
    connector: str
    # How they signed in: RFC 8176 methods and authbridge's acr level (middleware/authn.py).
    amr: tuple[str, ...] = ()
    acr: str | None = None


def step_up_needed(request: AuthorizationRequest, session: SignedInUser) -> bool:
    """Whether the session's acr falls short of the request's `acr_values` (OIDC Core
    §3.1.2.1; RFC 9470 §4). Only authbridge's own values can be met by signing in again;
    others are voluntary (OIDC Core §5.5.1.1) and ignored, as the claims parameter that
    could make them essential is not supported."""
    ours = [value for value in request.acr_values if value in ACR_VALUES]
    return bool(ours) and not acr_satisfies(session.acr, ours)


def needs_login(
    request: AuthorizationRequest,
    session: SignedInUser | None,
    *,
    now: int,
    reauthenticated_after: int | None,
    hint_subject: str | None,
) -> str | None:
    """Why the user must (re)authenticate first, or None to go on (OIDC Core §3.1.2.3).

    With prompt=none the reason becomes a `login_required` error instead of a login page.
    """
    fresh = (
        session is not None
        and reauthenticated_after is not None
        and session.auth_time >= reauthenticated_after
    )
    reason = None
    if session is None:
        reason = "no session"
    elif request.client.allowed_connectors and (
        session.connector not in request.client.allowed_connectors
    ):
        reason = "this application needs a sign-in with another provider"
    elif hint_subject is not None and hint_subject != session.user_id:
        reason = "id_token_hint names another user"
    elif request.prompt & {"login", "select_account"} and not fresh:
        # select_account: signing in again is how a user picks another account here.
        reason = "prompt=" + sorted(request.prompt & {"login", "select_account"})[0]
    elif (
        request.max_age is not None
        and not fresh
        and (
            # max_age=0 asks for a sign-in now, as prompt=login does (OIDC Core §3.1.2.1).
            request.max_age == 0 or now - session.auth_time > request.max_age
        )
    ):
        reason = "max_age exceeded"
    elif not fresh and step_up_needed(request, session):
        # Once: back from the sign-in it demanded, the session is fresh and the tokens
        # carry the acr it reached, which the client judges (RFC 9470 §4).
        reason = "acr_values not met"
    if reason is not None and "none" in request.prompt:
        raise request.error("login_required", f"the user must sign in ({reason})")
    return reason


__all__ += ["SignedInUser"]
