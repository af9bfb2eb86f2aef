"""Token validation for the platform's services (OpenMetadata's ``JwtFilter``, for Python).

Standalone: imports nothing from the rest of authbridge, only ``cryptography`` (and the web
framework of the adapter you pick). Core API here; adapters live in their own modules so
that a Flask service never imports Starlette and vice versa:

* :mod:`authbridge.middleware.asgi` — ``JwtAuthMiddleware`` (Starlette/FastAPI, sets
  ``scope["user"]``/``scope["auth"]``)
* :mod:`authbridge.middleware.dependency` — ``BearerAuth`` (FastAPI dependency)
* :mod:`authbridge.middleware.wsgi` — ``JwtWsgiMiddleware`` (Flask, Airflow webserver)

Role checks (:mod:`authbridge.middleware.authz`): ``require_role(role, scope=...)`` and
``require_permission(...)``, applied by ``RequireMiddleware`` (ASGI),
``BearerAuth.require_role`` (FastAPI) and ``RequireWsgiMiddleware`` (WSGI). How the person
signed in (RFC 9470 step-up): ``require_acr(...)`` / ``require_amr(...)`` with ``max_age``,
through the same adapters (``BearerAuth.require_acr``), refused with 401
``insufficient_user_authentication``.
"""

from .authz import (
    Authorizer,
    Requirement,
    RolesEndpoint,
    require_acr,
    require_amr,
    require_permission,
    require_role,
)
from .claims import VerifiedToken
from .config import (
    AUTHBRIDGE_JWKS_PATH,
    AUTHBRIDGE_REVOCATIONS_PATH,
    SUPPORTED_ALGORITHMS,
    IssuerTrust,
    JwksPolicy,
    RevocationPolicy,
    TokenKind,
    TokenTypeRule,
    VerifierConfig,
)
from .errors import (
    ConfigError,
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidRequest,
    InvalidToken,
    KeySetUnavailable,
    MissingToken,
    Reason,
    RevocationsUnavailable,
    TokenError,
)
from .jwks import Fetcher, FetchResult, UrllibFetcher
from .revocation import RevocationFeed
from .verifier import TokenVerifier

__all__ = [
    "AUTHBRIDGE_JWKS_PATH",
    "AUTHBRIDGE_REVOCATIONS_PATH",
    "SUPPORTED_ALGORITHMS",
    "Authorizer",
    "ConfigError",
    "FetchResult",
    "Fetcher",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidRequest",
    "InvalidToken",
    "IssuerTrust",
    "JwksPolicy",
    "KeySetUnavailable",
    "MissingToken",
    "Reason",
    "Requirement",
    "RevocationFeed",
    "RevocationPolicy",
    "RevocationsUnavailable",
    "RolesEndpoint",
    "TokenError",
    "TokenKind",
    "TokenTypeRule",
    "TokenVerifier",
    "UrllibFetcher",
    "VerifiedToken",
    "VerifierConfig",
    "require_acr",
    "require_amr",
    "require_permission",
    "require_role",
]
