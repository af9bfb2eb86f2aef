"""The one exception of the provider: an OAuth error code (RFC 6749 §4.1.2.1, §5.2) and
where it may be sent."""

from __future__ import annotations

__all__ = ["OAuthError"]


class OAuthError(Exception):
    """An error response: `error` is the RFC's code, `description` is safe to show.

    `status` is the HTTP status of a direct response (400, or 401 for invalid_client);
    `redirectable` says whether the redirect URI was validated, so the error may go back
    to the client there (RFC 6749 §4.1.2.1) instead of being shown on our own page.
    """

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        redirectable: bool = True,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.redirectable = redirectable
        self.retry_after = retry_after  # seconds, for a 429 (RFC 6585 §4)

    def as_dict(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}
