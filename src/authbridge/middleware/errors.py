"""One exception tree for token validation, shaped by RFC 6750 §3.1.

Every failure carries a machine ``reason`` (stable, for metrics and logs) and a fixed, safe
``description`` (for the ``error_description`` of RFC 6750 §3): neither ever contains text
taken from the token, so attacker input is never echoed back or logged.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ConfigError",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidRequest",
    "InvalidToken",
    "KeySetUnavailable",
    "MissingToken",
    "Reason",
    "RevocationsUnavailable",
    "TokenError",
]


class Reason(StrEnum):
    """Machine-readable failure reasons; the values are a stable contract."""

    MISSING_TOKEN = "missing_token"
    INVALID_REQUEST = "invalid_request"
    TOKEN_TOO_LARGE = "token_too_large"
    HEADER_TOO_LARGE = "header_too_large"
    MALFORMED = "malformed"
    UNSUPPORTED_ALG = "unsupported_alg"
    ALG_NOT_ALLOWED = "alg_not_allowed"
    FORBIDDEN_HEADER = "forbidden_header"
    UNKNOWN_CRIT = "unknown_crit"
    UNKNOWN_ISSUER = "unknown_issuer"
    UNKNOWN_KID = "unknown_kid"
    BAD_SIGNATURE = "bad_signature"
    JWKS_UNAVAILABLE = "jwks_unavailable"
    WRONG_TOKEN_TYPE = "wrong_token_type"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    ISSUED_IN_FUTURE = "issued_in_future"
    WRONG_AUDIENCE = "wrong_audience"
    WRONG_AZP = "wrong_azp"
    PRINCIPAL_DOMAIN = "principal_domain"
    EMAIL_UNVERIFIED = "email_unverified"
    INSUFFICIENT_SCOPE = "insufficient_scope"
    INSUFFICIENT_ROLE = "insufficient_role"
    INSUFFICIENT_PERMISSION = "insufficient_permission"
    ROLES_OVERFLOW = "roles_overflow"
    ROLES_UNAVAILABLE = "roles_unavailable"
    REVOKED = "revoked"
    REVOCATIONS_UNAVAILABLE = "revocations_unavailable"
    INSUFFICIENT_USER_AUTHENTICATION = "insufficient_user_authentication"
    AUTHENTICATION_TOO_OLD = "authentication_too_old"


_DESCRIPTIONS: dict[Reason, str] = {
    Reason.MISSING_TOKEN: "A bearer token is required",
    Reason.INVALID_REQUEST: "The Authorization header is malformed",
    Reason.TOKEN_TOO_LARGE: "The token is too large",
    Reason.HEADER_TOO_LARGE: "The token header is too large",
    Reason.MALFORMED: "The token is malformed",
    Reason.UNSUPPORTED_ALG: "The token algorithm is not supported",
    Reason.ALG_NOT_ALLOWED: "The token algorithm is not allowed for this issuer",
    Reason.FORBIDDEN_HEADER: "The token carries a header parameter that is refused",
    Reason.UNKNOWN_CRIT: "The token requires an unsupported critical extension",
    Reason.UNKNOWN_ISSUER: "The token issuer is not trusted",
    Reason.UNKNOWN_KID: "The token signing key is unknown",
    Reason.BAD_SIGNATURE: "The token signature is invalid",
    Reason.JWKS_UNAVAILABLE: "The issuer signing keys are unavailable",
    Reason.WRONG_TOKEN_TYPE: "The token is not of the expected type",
    Reason.MISSING_CLAIM: "The token lacks a required claim",
    Reason.INVALID_CLAIM: "The token has an invalid claim",
    Reason.EXPIRED: "The token has expired",
    Reason.NOT_YET_VALID: "The token is not yet valid",
    Reason.ISSUED_IN_FUTURE: "The token was issued in the future",
    Reason.WRONG_AUDIENCE: "The token audience is not accepted",
    Reason.WRONG_AZP: "The token authorized party is not accepted",
    Reason.PRINCIPAL_DOMAIN: "The token principal is outside the allowed domain",
    Reason.EMAIL_UNVERIFIED: "The token email is not verified",
    Reason.INSUFFICIENT_SCOPE: "The token lacks a required scope or role",
    Reason.INSUFFICIENT_ROLE: "The token holds no role required here at this scope",
    Reason.INSUFFICIENT_PERMISSION: "The token holds no role with the permission required here",
    Reason.ROLES_OVERFLOW: "The token roles overflowed and this service cannot read the rest",
    Reason.ROLES_UNAVAILABLE: "The roles of the token could not be read; try again",
    Reason.REVOKED: "The token has been revoked",
    Reason.REVOCATIONS_UNAVAILABLE: "The issuer revocation feed is unavailable",
    # RFC 9470 §3's own example descriptions.
    Reason.INSUFFICIENT_USER_AUTHENTICATION: "A different authentication level is required",
    Reason.AUTHENTICATION_TOO_OLD: "More recent authentication is required",
}


class ConfigError(ValueError):
    """The verifier configuration is unsound (raised at construction, never per request)."""


class TokenError(Exception):
    """Base of every per-request failure.

    ``status`` and ``error`` follow RFC 6750 §3.1; ``error`` is ``None`` when the request
    carried no authentication at all (RFC 6750 §3.1: "SHOULD NOT include an error code").
    ``detail`` names which fixed item failed (a claim name from our own vocabulary), never
    attacker-supplied text.
    """

    status: int = 401
    error: str | None = "invalid_token"

    def __init__(self, reason: Reason, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.description = _DESCRIPTIONS[reason]
        super().__init__(f"{reason.value}: {self.description}")


class MissingToken(TokenError):
    """No bearer credentials were presented (RFC 6750 §3.1, 401 without an error code)."""

    error = None

    def __init__(self) -> None:
        super().__init__(Reason.MISSING_TOKEN)


class InvalidRequest(TokenError):
    """The request itself is malformed (RFC 6750 §3.1 ``invalid_request``, HTTP 400)."""

    status = 400
    error = "invalid_request"

    def __init__(self) -> None:
        super().__init__(Reason.INVALID_REQUEST)


class InvalidToken(TokenError):
    """The token is malformed, forged, expired or not for us (RFC 6750 §3.1, HTTP 401)."""


class KeySetUnavailable(InvalidToken):
    """The issuer's JWKS could not be obtained and the stale window is over: fail closed."""

    def __init__(self) -> None:
        super().__init__(Reason.JWKS_UNAVAILABLE)


class RevocationsUnavailable(InvalidToken):
    """The revocation feed has not answered within its bound and the feed is configured
    to fail closed (``revocationFailClosed``)."""

    def __init__(self) -> None:
        super().__init__(Reason.REVOCATIONS_UNAVAILABLE)


class InsufficientScope(TokenError):
    """A valid token lacks a required scope or role (RFC 6750 §3.1, HTTP 403).

    ``scopes`` lists what the resource requires, for the ``scope`` attribute of RFC 6750 §3.
    """

    status = 403
    error = "insufficient_scope"

    def __init__(
        self,
        scopes: tuple[str, ...] = (),
        detail: str | None = None,
        reason: Reason = Reason.INSUFFICIENT_SCOPE,
    ) -> None:
        super().__init__(reason, detail)
        self.scopes = scopes


class InsufficientUserAuthentication(TokenError):
    """The token is valid but its user authentication is not enough for this resource
    (RFC 9470 §3): a different `acr`/`amr`, or a more recent `auth_time`. HTTP 401 with
    error ``insufficient_user_authentication`` and the ``acr_values``/``max_age`` the client
    passes on to the authorization server to get a token that is (RFC 9470 §4)."""

    status = 401
    error = "insufficient_user_authentication"

    def __init__(
        self,
        reason: Reason = Reason.INSUFFICIENT_USER_AUTHENTICATION,
        *,
        acr_values: tuple[str, ...] = (),
        max_age: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.acr_values = acr_values
        self.max_age = max_age
