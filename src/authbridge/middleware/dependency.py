"""FastAPI dependency: ``Depends(BearerAuth(verifier, scopes=...))`` → :class:`VerifiedToken`.

It is a FastAPI ``SecurityBase``, so OpenAPI documents an HTTP bearer scheme (JWT) and the
docs UI offers an Authorize button. Behind :class:`~.asgi.JwtAuthMiddleware` it reuses the
token the middleware already verified instead of checking the signature twice. Failures
raise ``HTTPException`` with the RFC 6750 §3 challenge in ``WWW-Authenticate``.

(No ``from __future__ import annotations`` here: FastAPI reads ``__call__``'s annotations at
runtime to know that ``request`` is the ``Request``.)
"""

from collections.abc import Iterable

from fastapi import HTTPException, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase

from .asgi import TokenUser
from .authz import (
    Authorizer,
    Requirement,
    ScopeOf,
    require_acr,
    require_amr,
    require_permission,
    require_role,
)
from .bearer import parse_authorization, www_authenticate
from .claims import VerifiedToken, require
from .errors import MissingToken, TokenError
from .verifier import TokenVerifier

__all__ = ["BearerAuth", "RequireAuth"]


class BearerAuth(SecurityBase):
    """Callable dependency that returns the verified token or answers 401/403/400."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        realm: str = "authbridge",
        scheme_name: str = "bearerAuth",
    ) -> None:
        self.verifier = verifier
        self.scopes = tuple(scopes)
        self.roles = tuple(roles)
        self.realm = realm
        self.model = HTTPBearerModel(bearerFormat="JWT")
        self.scheme_name = scheme_name

    def require(self, *, scopes: Iterable[str] = (), roles: Iterable[str] = ()) -> "BearerAuth":
        """The same verifier, with further per-route scopes/roles (RFC 6750 §3.1)."""
        return BearerAuth(
            self.verifier,
            scopes=(*self.scopes, *scopes),
            roles=(*self.roles, *roles),
            realm=self.realm,
            scheme_name=self.scheme_name,
        )

    def require_role(
        self, role: str, scope: "str | ScopeOf" = "system", authorizer: Authorizer | None = None
    ) -> "RequireAuth":
        """A dependency that needs `role` at `scope` (a callable receives the Request)."""
        return RequireAuth(self, require_role(role, scope), authorizer or Authorizer())

    def require_permission(
        self,
        permission: str,
        scope: "str | ScopeOf" = "system",
        authorizer: Authorizer | None = None,
    ) -> "RequireAuth":
        """A dependency that needs a role with `permission` at `scope`."""
        return RequireAuth(self, require_permission(permission, scope), authorizer or Authorizer())

    def require_acr(self, *values: str, max_age: "int | None" = None) -> "RequireAuth":
        """A dependency that needs one of these `acr` values (RFC 9470 401 otherwise)."""
        return RequireAuth(self, require_acr(*values, max_age=max_age), Authorizer())

    def require_amr(self, *methods: str, max_age: "int | None" = None) -> "RequireAuth":
        """A dependency that needs these `amr` methods (RFC 9470 401 otherwise)."""
        return RequireAuth(self, require_amr(*methods, max_age=max_age), Authorizer())

    async def __call__(self, request: Request) -> VerifiedToken:
        try:
            user = request.scope.get("user")
            if isinstance(user, TokenUser):
                require(user.token, self.scopes, self.roles)
                return user.token
            raw = parse_authorization(request.headers.getlist("authorization"))
            if raw is None:
                raise MissingToken()
            return await self.verifier.averify(raw, scopes=self.scopes, roles=self.roles)
        except TokenError as exc:
            raise HTTPException(
                status_code=exc.status,
                detail=exc.description,
                headers={
                    "WWW-Authenticate": www_authenticate(exc, self.realm),
                    "Cache-Control": "no-store",
                },
            ) from None


class RequireAuth(SecurityBase):
    """``Depends(auth.require_role("editor", scope=lambda r: f"workspace:{r.path_params['ws']}"))``:
    the verified token, once its role or permission is checked (403 ``insufficient_scope``,
    503 when an overflowed token's roles cannot be read; see :mod:`.authz`)."""

    def __init__(
        self, bearer: BearerAuth, requirement: Requirement, authorizer: Authorizer
    ) -> None:
        authorizer.check_config(requirement)
        self.bearer = bearer
        self.requirement = requirement
        self.authorizer = authorizer
        self.model = bearer.model
        self.scheme_name = bearer.scheme_name

    async def __call__(self, request: Request) -> VerifiedToken:
        token = await self.bearer(request)
        try:
            raw = parse_authorization(request.headers.getlist("authorization")) or ""
            await self.authorizer.acheck(raw, token, self.requirement, request)
        except TokenError as exc:
            raise HTTPException(
                status_code=exc.status,
                detail=exc.description,
                headers={
                    "WWW-Authenticate": www_authenticate(exc, self.bearer.realm),
                    "Cache-Control": "no-store",
                },
            ) from None
        return token
