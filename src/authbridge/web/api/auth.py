"""Who calls the admin API, and whether they may.

RFC 6750 §2.1: a platform access token in `Authorization: Bearer` — a user's, a service
account's (client_credentials, RFC 6749 §4.4) or a robot's — checked by the OpenID
Provider's own `access_claims` (signature, expiry, revocation feed, user active). The
subject's roles must hold the route's permission at system scope (`RoleBindings.allows`),
read at the request, so a revoked binding takes effect at once, not at the token's expiry.
Under `auth.local.mfaRequiredForAdmins` a user's token must come from a sign-in with a
second factor (its `amr`), whenever the role was granted.

Cookies are never read here: the console has its own CSRF-protected forms, and an API that
honoured the session cookie would let any site that a signed-in admin visits send writes.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from authbridge.admin.errors import InvalidRequest
from authbridge.audit.events import Actor, ActorKind
from authbridge.config.roles import ADMINISTRATION
from authbridge.directory.totp import admin_sign_in_falls_short
from authbridge.middleware.authn import clean_amr
from authbridge.web.api.problems import ApiProblem
from authbridge.web.dependencies import services_of
from authbridge.web.security import client_address

__all__ = ["Caller", "Permission", "authenticated", "demand", "demand_roles", "require"]

PRINCIPAL_KINDS: dict[str, ActorKind] = {"service": "service_account", "robot": "robot"}
MAX_TOKEN_CHARS = 16384
# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated caller: its token's claims and the `Actor` audit events name."""

    user_id: str
    claims: dict[str, Any]
    actor: Actor


def _unauthorized(detail: str, error: str | None) -> ApiProblem:
    return ApiProblem(401, "unauthorized", "Unauthorized", detail, challenge_error=error)


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization") or ""
    scheme, _, value = header.strip().partition(" ")
    # RFC 6750 §3.1: no credentials at all (or another scheme) gets the bare challenge.
    if not header or scheme.lower() != "bearer":
        raise _unauthorized("a bearer access token is required", None)
    value = value.strip()
    if len(value) > MAX_TOKEN_CHARS or not B64TOKEN.fullmatch(value):
        # §3.1 invalid_request: the request "is otherwise malformed" (not a b64token).
        raise ApiProblem(
            400,
            InvalidRequest.slug,
            InvalidRequest.title,
            "the bearer credentials are malformed",
            challenge_error="invalid_request",
        )
    return value


async def authenticated(request: Request) -> dict[str, Any]:
    """The claims of the request's valid bearer token; else a 400 (malformed credentials)
    or 401 (none, or invalid, expired, revoked) problem. No permission is checked."""
    token = _bearer(request)
    ready = services_of(request).ready()
    claims: dict[str, Any] | None = await run_in_threadpool(ready.provider.access_claims, token)
    if claims is None:
        raise _unauthorized("the access token is invalid, expired or revoked", "invalid_token")
    return claims


def require(permission: str) -> Callable[[Request], Awaitable[Caller]]:
    """A dependency: the caller, if their roles hold `permission` at system scope; else a 401
    (no, or a bad, token) or 403 (`insufficient_scope`) problem."""

    async def dependency(request: Request) -> Caller:
        claims = await authenticated(request)
        ready = services_of(request).ready()
        user_id = str(claims["sub"])
        if not await run_in_threadpool(ready.bindings.allows, user_id, permission):
            raise ApiProblem(
                403,
                "forbidden",
                "Forbidden",
                f"this needs the {permission} permission",
                challenge_error="insufficient_scope",
            )
        settings = services_of(request).settings
        kind = PRINCIPAL_KINDS.get(str(claims.get("principal_type", "")), "user")
        if (
            kind == "user"
            and permission in ADMINISTRATION
            and admin_sign_in_falls_short(settings, clean_amr(claims.get("amr")))
        ):
            # RFC 9470 §3: the token is fine, the sign-in behind it is not enough (a token
            # of a one-factor sign-in, refreshed or approved on a device before the role
            # or auth.local.mfaRequiredForAdmins came).
            raise ApiProblem(
                401,
                "unauthorized",
                "Unauthorized",
                "administrators must sign in with a second factor; this token's sign-in had none",
                challenge_error="insufficient_user_authentication",
            )
        actor = Actor(
            kind=kind,
            id=user_id,
            name=str(claims.get("preferred_username") or claims.get("email") or "") or None,
            address=client_address(request, settings.server.trusted_proxies),
            user_agent=(request.headers.get("user-agent") or "")[:256] or None,
            request_id=getattr(request.state, "request_id", None),
        )
        return Caller(user_id=user_id, claims=claims, actor=actor)

    dependency.__name__ = f"require_{permission.replace('.', '_')}"
    return dependency


def demand(request: Request, caller: Caller, permission: str, why: str) -> None:
    """A second permission an act needs beyond its route's: a 403 problem if the caller lacks
    it. Granting a role (directly, by an invitation, a new user's role or a team whose
    membership carries roles) needs roles.write, else users.write or teams.write would be
    a way to make oneself an administrator. Blocking: call it from a thread."""
    if not services_of(request).ready().bindings.allows(caller.user_id, permission):
        raise ApiProblem(
            403,
            "forbidden",
            "Forbidden",
            f"{why} needs the {permission} permission",
            challenge_error="insufficient_scope",
        )


# What every new user gets anyway (and the default of a new service account or robot).
BASE_ROLE = "viewer"


def demand_roles(request: Request, caller: Caller, roles: Iterable[str], why: str) -> None:
    """roles.write, if `roles` (given, or held by a principal whose credentials the act hands
    out) go beyond the base role."""
    if set(roles) - {BASE_ROLE}:
        demand(request, caller, "roles.write", why)


def Permission(permission: str) -> Any:  # noqa: N802 - reads as a type in signatures
    """`caller: Annotated[Caller, Permission("users.read")]`."""
    return Depends(require(permission))
