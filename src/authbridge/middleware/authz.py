"""Role and permission checks on a verified token: ``require_role(role, scope=...)`` and
``require_permission(permission, scope=...)``, shared by the ASGI, FastAPI and WSGI
adapters (framework-free here); and how the person signed in, ``require_acr(...)`` /
``require_amr(...)`` with an optional ``max_age``, refused per RFC 9470 (see
:mod:`.stepup`).

What a token says (authbridge's access tokens, ``tokens/claims.py`` in authbridge):

* ``roles`` (RFC 9068 §2.2.3.1): the roles held at system scope; they hold at every scope.
* ``authbridge_scoped_roles``: ``{"workspace:ws1": ["editor"], ...}``, roles per platform
  scope.
* ``authbridge_roles_overflow: true``: the scoped roles did not fit the token's size bound
  and were left out. They are then read from authbridge's ``GET /api/v1/authz/roles`` with
  the same bearer token (``RolesEndpoint``), cached per token for ``ttl`` seconds (never
  past the token's expiry); without an endpoint configured the check fails closed.

A role is held at a scope when it is in ``roles`` or in that scope's entry. Roles are exact
names (``admin`` does not imply ``editor``): ``require_permission`` is the "at least"
check, through the role→permission map the service passes (``authbridge roles list``
prints authbridge's), or through the permissions the endpoint reports per scope.

Refusals (RFC 6750 §3.1): a role or permission not held is 403 with
``error="insufficient_scope"`` — the RFC's "requires higher privileges than provided by the
access token" — but *without* the ``scope`` attribute: roles are not OAuth scopes, and a
``scope="editor"`` would tell a client to ask the authorization server for a scope that
does not exist. The description says whether a role or a permission was missing. An
overflowed token whose roles cannot be read is 403 ``insufficient_scope`` when no endpoint
is configured, and 503 when the endpoint failed (a retry may succeed).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .claims import VerifiedToken
from .errors import ConfigError, InsufficientScope, Reason, TokenError
from .jwks import UrllibFetcher
from .stepup import check_authentication, check_requirement

__all__ = [
    "ROLES_OVERFLOW",
    "SCOPED_ROLES",
    "SYSTEM_SCOPE",
    "Authorizer",
    "Guard",
    "Requirement",
    "RolesEndpoint",
    "RolesUnavailable",
    "require_acr",
    "require_amr",
    "require_permission",
    "require_role",
]

SYSTEM_SCOPE = "system"
SCOPED_ROLES = "authbridge_scoped_roles"
ROLES_OVERFLOW = "authbridge_roles_overflow"

# The framework's request (Starlette Request, an ASGI scope, a WSGI environ) -> a scope.
ScopeOf = Callable[[Any], str]


class RolesUnavailable(TokenError):
    """The token's roles overflowed and the authorization endpoint could not be read: fail
    closed with 503 (a later retry may succeed), never allow."""

    status = 503
    error = None

    def __init__(self) -> None:
        super().__init__(Reason.ROLES_UNAVAILABLE)


@dataclass(frozen=True)
class Requirement:
    """A role or a permission the request needs, at a scope (fixed, or read from the
    request, e.g. ``lambda request: f"workspace:{request.path_params['ws']}"``)."""

    role: str | None = None
    permission: str | None = None
    scope: str | ScopeOf = SYSTEM_SCOPE
    # How the person must have signed in (RFC 9470): one of these acr values (or a higher
    # authbridge level), all of these amr methods, at most max_age seconds ago.
    acr: tuple[str, ...] = ()
    amr: tuple[str, ...] = ()
    max_age: int | None = None

    def scope_for(self, request: Any) -> str:
        return self.scope if isinstance(self.scope, str) else self.scope(request)

    @property
    def authenticates(self) -> bool:
        return bool(self.acr or self.amr) or self.max_age is not None


def require_role(role: str, scope: str | ScopeOf = SYSTEM_SCOPE) -> Requirement:
    """The request needs `role` at `scope` (or at system scope)."""
    return Requirement(role=role, scope=scope)


def require_permission(permission: str, scope: str | ScopeOf = SYSTEM_SCOPE) -> Requirement:
    """The request needs a role whose permissions include `permission` at `scope`."""
    return Requirement(permission=permission, scope=scope)


def require_acr(*values: str, max_age: int | None = None) -> Requirement:
    """The token's `acr` is one of `values` (authbridge's levels: or a higher one), and,
    with `max_age`, its `auth_time` at most that many seconds ago. Refused with 401
    ``insufficient_user_authentication`` and ``acr_values``/``max_age`` (RFC 9470 §3)."""
    return Requirement(acr=tuple(values), max_age=max_age)


def require_amr(*methods: str, max_age: int | None = None) -> Requirement:
    """The token's `amr` holds every one of `methods` (RFC 8176 values; ``"mfa"`` is also
    met by methods of two factor kinds), and, with `max_age`, a recent `auth_time`."""
    return Requirement(amr=tuple(methods), max_age=max_age)


@dataclass(frozen=True)
class _Roles:
    """Roles (and, from the endpoint, permissions) per scope."""

    system: frozenset[str]
    scoped: Mapping[str, frozenset[str]]
    permissions: Mapping[str, frozenset[str]] | None = None

    def at(self, scope: str) -> frozenset[str]:
        return self.system | self.scoped.get(scope, frozenset())


def _names(value: Any) -> frozenset[str]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    return frozenset()


def _scoped(value: Any) -> dict[str, frozenset[str]]:
    if not isinstance(value, dict):
        return {}
    return {k: _names(v) for k, v in value.items() if isinstance(k, str)}


def _fetch_json(url: str, bearer: str, timeout: float) -> Any:
    fetcher = UrllibFetcher(timeout)
    request = urllib.request.Request(  # noqa: S310 - the service configures an https URL
        url, headers={"Accept": "application/json", "Authorization": f"Bearer {bearer}"}
    )
    with fetcher.opener(url).open(request, timeout=timeout) as response:
        body = response.read(fetcher.max_bytes + 1)
    if len(body) > fetcher.max_bytes:
        raise OSError("authorization document too large")
    return json.loads(body)


class RolesEndpoint:
    """authbridge's ``GET /api/v1/authz/roles``, read for overflowed tokens and cached per
    token (by its SHA-256) for at most ``ttl`` seconds and never past its ``exp``."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 30.0,
        timeout: float = 5.0,
        max_entries: int = 4096,
        fetch: Callable[[str, str], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not url.startswith(("https://", "http://")):
            raise ConfigError("the roles endpoint must be an http(s) URL")
        self.url = url
        self.ttl = ttl
        self._fetch = fetch or (lambda u, b: _fetch_json(u, b, timeout))
        self._clock = clock
        self._max = max_entries
        self._cache: OrderedDict[str, tuple[float, _Roles]] = OrderedDict()
        self._lock = threading.Lock()

    def roles(self, raw: str, token: VerifiedToken) -> _Roles:
        key = hashlib.sha256(raw.encode()).hexdigest()
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        try:
            document = self._fetch(self.url, raw)
        except Exception:
            raise RolesUnavailable() from None
        if not isinstance(document, dict):
            raise RolesUnavailable()
        permissions = document.get("permissions")
        found = _Roles(
            _names(document.get("roles")),
            _scoped(document.get(SCOPED_ROLES)),
            _scoped(permissions) if isinstance(permissions, dict) else None,
        )
        until = min(now + self.ttl, float(token.expires_at))
        with self._lock:
            self._cache[key] = (until, found)
            self._cache.move_to_end(key)
            while len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return found


class Authorizer:
    """Decides a `Requirement` for a verified token. ``role_permissions`` maps role names
    to permissions (for ``require_permission``); ``endpoint`` reads overflowed tokens."""

    def __init__(
        self,
        *,
        role_permissions: Mapping[str, Iterable[str]] | None = None,
        endpoint: RolesEndpoint | None = None,
    ) -> None:
        self.role_permissions = (
            None
            if role_permissions is None
            else {role: frozenset(p) for role, p in role_permissions.items()}
        )
        self.endpoint = endpoint

    def check_config(self, requirement: Requirement) -> None:
        """Refuse at start-up a requirement this authorizer could never decide."""
        if requirement.authenticates:
            check_requirement(requirement)
            return
        if requirement.role is None and requirement.permission is None:
            raise ConfigError("a requirement names a role or a permission")
        if requirement.permission is not None and not (self.role_permissions or self.endpoint):
            raise ConfigError(
                "require_permission needs role_permissions (authbridge roles list) or the "
                "roles endpoint"
            )

    def _token_roles(self, token: VerifiedToken) -> _Roles:
        return _Roles(token.roles, _scoped(token.claims.get(SCOPED_ROLES)))

    def _decide(self, roles: _Roles, requirement: Requirement, scope: str) -> bool:
        held = roles.at(scope)
        if requirement.role is not None:
            return requirement.role in held
        permission = requirement.permission
        if self.role_permissions is not None:
            return any(permission in self.role_permissions.get(r, ()) for r in held)
        if roles.permissions is not None:
            # The endpoint's permissions of a scope include the system ones already.
            at = roles.permissions.get(scope) or roles.permissions.get(SYSTEM_SCOPE, frozenset())
            return permission in at
        return False

    def _refuse(self, requirement: Requirement) -> InsufficientScope:
        if requirement.role is not None:
            return InsufficientScope((), "role", Reason.INSUFFICIENT_ROLE)
        return InsufficientScope((), "permission", Reason.INSUFFICIENT_PERMISSION)

    def _needs_document(self, requirement: Requirement, token: VerifiedToken) -> bool:
        overflow = token.claims.get(ROLES_OVERFLOW) is True
        unmapped = requirement.permission is not None and self.role_permissions is None
        return overflow or unmapped

    def _from_token(self, token: VerifiedToken, requirement: Requirement, scope: str) -> bool:
        """True when the token's own claims allow; False when the endpoint must decide;
        the refusal when neither can allow."""
        if self._decide(self._token_roles(token), requirement, scope):
            return True
        if not self._needs_document(requirement, token):
            raise self._refuse(requirement)
        if self.endpoint is None:
            raise InsufficientScope((), "overflow", Reason.ROLES_OVERFLOW)
        return False

    def check(self, raw: str, token: VerifiedToken, requirement: Requirement, request: Any) -> None:
        """Allow, or raise InsufficientScope (403) / RolesUnavailable (503) /
        InsufficientUserAuthentication (401)."""
        if requirement.authenticates:
            check_authentication(token, requirement.acr, requirement.amr, requirement.max_age)
            return
        scope = requirement.scope_for(request)
        if self._from_token(token, requirement, scope):
            return
        assert self.endpoint is not None  # _from_token refused otherwise
        if not self._decide(self.endpoint.roles(raw, token), requirement, scope):
            raise self._refuse(requirement)

    async def acheck(
        self, raw: str, token: VerifiedToken, requirement: Requirement, request: Any
    ) -> None:
        """`check`, with the endpoint (when it is needed) read off the event loop."""
        if requirement.authenticates:
            check_authentication(token, requirement.acr, requirement.amr, requirement.max_age)
            return
        scope = requirement.scope_for(request)
        if self._from_token(token, requirement, scope):
            return
        assert self.endpoint is not None  # _from_token refused otherwise
        roles = await asyncio.to_thread(self.endpoint.roles, raw, token)
        if not self._decide(roles, requirement, scope):
            raise self._refuse(requirement)


class Guard:
    """What the ASGI and WSGI guards share: the app they wrap, the requirement, the
    authorizer (checked against the requirement at construction) and the realm."""

    def __init__(
        self,
        app: Any,
        requirement: Requirement,
        *,
        authorizer: Authorizer | None = None,
        realm: str = "authbridge",
    ) -> None:
        self.app = app
        self.requirement = requirement
        self.authorizer = authorizer or Authorizer()
        self.authorizer.check_config(requirement)
        self.realm = realm
