"""Who may use the admin console, and what they may do there.

The console is a browser's: the session cookie authenticates, every write carries the CSRF
token of that session (and must come from this origin), and each page and each act checks
the permission the admin API's route for the same act checks (`RoleBindings.allows` at
system scope, read at the request, so a revoked binding takes effect at once). Entering
`/admin` at all needs at least one of the administration permissions; a section is listed
only to those who may read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote

from starlette.requests import Request

from authbridge.audit.events import Actor
from authbridge.config.roles import ADMINISTRATION
from authbridge.directory.roles import SYSTEM_SCOPE
from authbridge.directory.totp import admin_sign_in_falls_short
from authbridge.web.audit_actor import request_actor
from authbridge.web.rendering import check_csrf
from authbridge.web.services import Services
from authbridge.web.sessions import SignedIn, current

__all__ = [
    "ConsoleDenied",
    "ConsoleSecondFactorNeeded",
    "ConsoleSignInNeeded",
    "ConsoleUser",
    "console_user",
    "console_writer",
    "demand_roles",
]

# What a role beyond this one needs to be conferred (as in the admin API: web/api/auth.py).
BASE_ROLE = "viewer"


class ConsoleSignInNeeded(Exception):
    """No session: the browser is sent to sign in, and back here after."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class ConsoleDenied(Exception):
    """Signed in, without the permission the page or act needs (a 403 page)."""

    def __init__(self, permission: str, why: str | None = None) -> None:
        super().__init__(permission)
        self.permission = permission
        self.why = why


class ConsoleSecondFactorNeeded(Exception):
    """An administrator whose session proved one factor while administrators need two
    (`auth.local.mfaRequiredForAdmins`; the role or the key is newer than the sign-in)."""


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The signed-in operator: their session, the administration permissions they hold at
    system scope, and the `Actor` audit events name."""

    signed_in: SignedIn
    permissions: frozenset[str]
    actor: Actor

    @property
    def user_id(self) -> str:
        return self.signed_in.user.id

    def may(self, permission: str) -> bool:
        return permission in self.permissions

    def demand(self, permission: str, why: str | None = None) -> None:
        if permission not in self.permissions:
            raise ConsoleDenied(permission, why)


def _permissions(services: Services, user_id: str) -> frozenset[str]:
    """`RoleBindings.allows` at system scope for every administration permission, from one
    read of the user's roles (not one per permission: each is a few queries)."""
    bindings = services.ready().bindings
    held = bindings.resolver.permissions(bindings.effective_roles(user_id).at(SYSTEM_SCOPE))
    return frozenset(p for p in ADMINISTRATION if p in held)


def console_user(request: Request, services: Services, permission: str | None) -> ConsoleUser:
    """The operator of this request, holding `permission` (None: any administration
    permission); else `ConsoleSignInNeeded` or `ConsoleDenied`. Blocking: sync routes run
    in a thread."""
    signed_in = current(request, services)
    if signed_in is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise ConsoleSignInNeeded("/login?next=" + quote(target, safe=""))
    permissions = _permissions(services, signed_in.user.id)
    if not permissions or (permission is not None and permission not in permissions):
        raise ConsoleDenied(permission or "an administration permission")
    if admin_sign_in_falls_short(services.settings, signed_in.session.methods):
        raise ConsoleSecondFactorNeeded()
    user = signed_in.user
    actor = request_actor(request, services, kind="user", id=user.id, name=user.username)
    return ConsoleUser(signed_in=signed_in, permissions=permissions, actor=actor)


def console_writer(
    request: Request, services: Services, permission: str, csrf_token: str
) -> ConsoleUser:
    """`console_user` for a form that changes something: the CSRF check comes first, so a
    cross-site form learns nothing (not even whether its victim is an administrator)."""
    check_csrf(request, services, csrf_token)
    return console_user(request, services, permission)


def demand_roles(user: ConsoleUser, roles: Iterable[str], why: str) -> None:
    """Conferring a role beyond the base one (a binding, an invitation's, a new service
    account's) needs roles.write, as in the admin API: else users.write would be a way to
    make oneself an administrator."""
    if set(roles) - {BASE_ROLE}:
        user.demand("roles.write", why)
