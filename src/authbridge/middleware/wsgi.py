"""WSGI middleware for Flask-based services (Airflow's webserver, Superset, plain Flask).

On success the verified token is at ``environ["authbridge.token"]`` and the principal in
``environ["REMOTE_USER"]`` (RFC 3875 §4.1.11), which Flask-AppBuilder's ``AUTH_REMOTE_USER``
mode (Airflow's webserver) consumes as the logged-in user. Failures are answered per
RFC 6750 §3.1 without calling the application.

JWKS fetches block only the thread that needs them, and concurrent threads share a single
fetch (see :mod:`.jwks`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from .authz import Guard
from .bearer import error_body, parse_authorization, www_authenticate
from .errors import MissingToken, TokenError
from .verifier import TokenVerifier

if TYPE_CHECKING:
    from collections.abc import Iterable as _Iterable

    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["ENVIRON_KEY", "JwtWsgiMiddleware", "RequireWsgiMiddleware", "refuse"]

ENVIRON_KEY = "authbridge.token"
log = logging.getLogger("authbridge.middleware")


class JwtWsgiMiddleware:
    """Wraps a WSGI app: ``app.wsgi_app = JwtWsgiMiddleware(app.wsgi_app, verifier)``."""

    def __init__(
        self,
        app: WSGIApplication,
        verifier: TokenVerifier,
        *,
        realm: str = "authbridge",
        exempt_paths: Iterable[str] = (),
        exempt_methods: Iterable[str] = ("OPTIONS",),
        optional: bool = False,
        scopes: Iterable[str] = (),
        roles: Iterable[str] = (),
        set_remote_user: bool = True,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.realm = realm
        self.exempt_paths = frozenset(exempt_paths)
        self.exempt_methods = frozenset(m.upper() for m in exempt_methods)
        self.optional = optional
        self.scopes = tuple(scopes)
        self.roles = tuple(roles)
        self.set_remote_user = set_remote_user

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> _Iterable[bytes]:
        if (
            environ.get("PATH_INFO") in self.exempt_paths
            or environ.get("REQUEST_METHOD") in self.exempt_methods
        ):
            return self.app(environ, start_response)
        header = environ.get("HTTP_AUTHORIZATION")
        try:
            raw = parse_authorization([header] if header is not None else [])
            if raw is None:
                if self.optional:
                    return self.app(environ, start_response)
                raise MissingToken()
            token = self.verifier.verify(raw, scopes=self.scopes, roles=self.roles)
        except TokenError as exc:
            log.info("bearer token refused: %s", exc.reason.value)
            return refuse(start_response, exc, self.realm)
        environ[ENVIRON_KEY] = token
        if self.set_remote_user:
            environ["REMOTE_USER"] = token.principal or token.subject
        return self.app(environ, start_response)


def refuse(start_response: StartResponse, exc: TokenError, realm: str) -> list[bytes]:
    """Answer a refusal per RFC 6750 §3.1."""
    body = error_body(exc)
    start_response(
        f"{exc.status} {HTTPStatus(exc.status).phrase}",
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("WWW-Authenticate", www_authenticate(exc, realm)),
        ],
    )
    return [body]


class RequireWsgiMiddleware(Guard):
    """Role or permission check for the WSGI app it wraps, inside
    :class:`JwtWsgiMiddleware` (which puts the token at ``environ["authbridge.token"]``):
    ``JwtWsgiMiddleware(RequireWsgiMiddleware(app, require_role("admin")), verifier)``.
    A scope callable receives the environ. Refusals as :mod:`.authz` describes."""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> _Iterable[bytes]:
        token = environ.get(ENVIRON_KEY)
        try:
            if token is None:
                raise MissingToken()
            header = environ.get("HTTP_AUTHORIZATION")
            raw = parse_authorization([header] if header is not None else []) or ""
            self.authorizer.check(raw, token, self.requirement, environ)
        except TokenError as exc:
            log.info("request refused: %s", exc.reason.value)
            return refuse(start_response, exc, self.realm)
        app: WSGIApplication = self.app
        return app(environ, start_response)
