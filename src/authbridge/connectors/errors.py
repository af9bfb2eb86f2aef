"""One exception tree for every connector failure, each with a message for the person
signing in and a hint for the operator."""

from __future__ import annotations

__all__ = [
    "AccessTokenInvalid",
    "ConnectorError",
    "IdTokenInvalid",
    "LoginFailed",
    "ProviderUnavailable",
]


class ConnectorError(Exception):
    """A sign-in through an upstream IdP did not succeed.

    `message` is safe to show in the browser; `hint` tells the operator what to check.
    """

    status = 400

    def __init__(
        self, message: str, hint: str | None = None, *, code: str = "login_failed"
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.code = code


class ProviderUnavailable(ConnectorError):
    """The IdP could not be reached or answered nonsense (discovery, JWKS, token endpoint)."""

    status = 502


class LoginFailed(ConnectorError):
    """The IdP answered, but the answer does not sign anyone in (error response, bad code)."""


class IdTokenInvalid(ConnectorError):
    """An ID token failed a check of OIDC Core §3.1.3.7; never accepted."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The identity provider's ID token was not accepted.",
            f"ID token rejected: {reason}.",
            code="invalid_id_token",
        )
        self.reason = reason


class AccessTokenInvalid(ConnectorError):
    """A front-channel access token that was to identify someone failed a check (RFC 6819
    §4.4.2.6: it may have been issued to another client); never accepted."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            "The identity provider's access token was not accepted.",
            f"Access token rejected: {reason}.",
            code="invalid_access_token",
        )
        self.reason = reason
