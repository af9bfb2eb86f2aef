"""Token validation for the platform's services (OpenMetadata's ``JwtFilter``, for Python).

Standalone: imports nothing from the rest of authbridge, only ``cryptography`` (and the web
framework of the adapter you pick). Core API here; adapters live in their own modules so
that a Flask service never imports Starlette and vice versa:

* :mod:`authbridge.middleware.asgi` — ``JwtAuthMiddleware`` (Starlette/FastAPI, sets
  ``scope["user"]``/``scope["auth"]``)
* :mod:`authbridge.middleware.dependency` — ``BearerAuth`` (FastAPI dependency)
* :mod:`authbridge.middleware.wsgi` — ``JwtWsgiMiddleware`` (Flask, Airflow webserver)
"""

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
    "ConfigError",
    "FetchResult",
    "Fetcher",
    "InsufficientScope",
    "InvalidRequest",
    "InvalidToken",
    "IssuerTrust",
    "JwksPolicy",
    "KeySetUnavailable",
    "MissingToken",
    "Reason",
    "RevocationFeed",
    "RevocationPolicy",
    "RevocationsUnavailable",
    "TokenError",
    "TokenKind",
    "TokenTypeRule",
    "TokenVerifier",
    "UrllibFetcher",
    "VerifiedToken",
    "VerifierConfig",
]
