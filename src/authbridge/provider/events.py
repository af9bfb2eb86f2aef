"""What the token endpoint tells the metrics (RFC 6749 §5; RFC 9700 §4.14.2 reuse).

The provider knows which client authenticated and how a grant ended; the web layer owns the
Prometheus registry. This protocol is the seam: `web/observability.Metrics` implements it and
`web/services.py` passes it in, so the provider imports no metrics library.
"""

from __future__ import annotations

from typing import Protocol

from authbridge.provider.clients import DEVICE_GRANT

__all__ = ["GRANT_TYPES", "GrantEvents", "NoEvents", "grant_label"]

# The grant types the token endpoint serves; any other value a caller sends is "other", so
# a label never carries what a client made up.
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials", DEVICE_GRANT})


def grant_label(grant_type: str | None) -> str:
    return grant_type if grant_type in GRANT_TYPES else "other"


class GrantEvents(Protocol):
    def grant(self, grant_type: str, client_id: str | None, outcome: str) -> None:
        """A token request ended: `outcome` is "success" or the RFC 6749 §5.2 error code
        (or "server_error"); `client_id` is None when no client authenticated."""

    def refresh_reuse_detected(self, client_id: str) -> None:
        """A used refresh token came back and its family was revoked (RFC 9700 §4.14.2)."""


class NoEvents:
    """Events nobody listens to (the CLI, tests that do not count)."""

    def grant(self, grant_type: str, client_id: str | None, outcome: str) -> None:
        return None

    def refresh_reuse_detected(self, client_id: str) -> None:
        return None
