"""ASGI middleware for Starlette and FastAPI: validate the bearer token on every request.

Sets ``scope["user"]`` and ``scope["auth"]`` exactly as
``starlette.middleware.authentication.AuthenticationMiddleware`` does, so ``request.user``,
``request.auth.scopes`` and ``starlette.authentication.requires`` work unchanged. Failures
are answered per RFC 6750 §3.1: 401 ``invalid_token`` (or a bare challenge when no token
was sent), 403 ``insufficient_scope``, 400 ``invalid_request``; WebSockets are closed with
1008 (policy violation, RFC 6455 §7.4.1).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.types import ASGIApp, Receive, Scope, Send

from .authz import Guard
from .bearer import error_body, parse_authorization, www_authenticate
from .claims import VerifiedToken
from .errors import MissingToken, TokenError
from .verifier import TokenVerifier

__all__ = ["JwtAuthMiddleware", "RequireMiddleware", "TokenUser", "refuse"]

log = logging.getLogger("authbridge.middleware")


class TokenUser(BaseUser):
    """The Starlette user of a verified token; ``token`` holds every claim."""

    def __init__(self, token: VerifiedToken) -> None:
        self.token = token

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.token.name or self.token.principal or self.token.subject

    @property
    def identity(self) -> str:
        return self.token.subject

    @property
    def principal(self) -> str | None:
        return self.token.principal


class JwtAuthMiddleware:
    """Pure ASGI middleware over a :class:`TokenVerifier`.

    ``exempt_paths`` (exact paths, e.g. health checks) and ``exempt_methods`` (CORS
    preflights carry no credentials) pass through anonymously. With ``optional=True`` a
    request without a token passes as ``UnauthenticatedUser`` while a bad token is still
    refused. ``scopes``/``roles`` are required of every request.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        realm: str = "authbridge",
        exempt_paths: Iterable[str] = (),
        exempt_methods: Iterable[str] = ("OPTIONS",),
        optional: bool = False,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.realm = realm
        self.exempt_paths = frozenset(exempt_paths)
        self.exempt_methods = frozenset(m.upper() for m in exempt_methods)
        self.optional = optional
        self.scopes = tuple(scopes)
        self.roles = tuple(roles)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope.get("path") in self.exempt_paths or scope.get("method") in self.exempt_methods:
            scope["user"], scope["auth"] = UnauthenticatedUser(), AuthCredentials()
            await self.app(scope, receive, send)
            return
        try:
            raw = parse_authorization(
                [v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"]
            )
            if raw is None:
                if not self.optional:
                    raise MissingToken()
                scope["user"], scope["auth"] = UnauthenticatedUser(), AuthCredentials()
            else:
                token = await self.verifier.averify(raw, scopes=self.scopes, roles=self.roles)
                scope["user"] = TokenUser(token)
                scope["auth"] = AuthCredentials(["authenticated", *sorted(token.scopes)])
        except TokenError as exc:
            # The reason is ours, never the token or any of its content.
            log.info("bearer token refused: %s", exc.reason.value)
            await self._refuse(scope, send, exc)
            return
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, send: Send, exc: TokenError) -> None:
        await refuse(scope, send, exc, self.realm)


async def refuse(scope: Scope, send: Send, exc: TokenError, realm: str) -> None:
    """Answer a refusal per RFC 6750 §3.1 (a WebSocket is closed with 1008)."""
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008})
        return
    body = error_body(exc)
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"www-authenticate", www_authenticate(exc, realm).encode("latin-1")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequireMiddleware(Guard):
    """Role or permission check for the app it wraps, behind :class:`JwtAuthMiddleware`:
    ``Mount("/admin", app=RequireMiddleware(admin, require_role("admin")))``. A scope
    callable receives the ASGI scope. Refusals: 403 ``insufficient_scope`` (see
    :mod:`.authz`), 503 when an overflowed token's roles cannot be read; a request the
    outer middleware let through anonymously is 401."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        user = scope.get("user")
        try:
            if not isinstance(user, TokenUser):
                raise MissingToken()
            raw = parse_authorization(
                [v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"]
            )
            await self.authorizer.acheck(raw or "", user.token, self.requirement, scope)
        except TokenError as exc:
            log.info("request refused: %s", exc.reason.value)
            await refuse(scope, send, exc, self.realm)
            return
        await self.app(scope, receive, send)
