"""What an upstream identity provider says about the person who signed in (after Dex's
`connector.Identity`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Identity"]


@dataclass(frozen=True)
class Identity:
    """One person as seen by one connector.

    `(connector_id, subject)` is the only key an account is found by: an email address is
    an attribute the IdP may let users change, never a key (OIDC Core §5.7).
    """

    connector_id: str
    subject: str
    username: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    groups: tuple[str, ...] = ()
    claims: Mapping[str, Any] = field(default_factory=dict)
    # How the person signed in, as the IdP's ID token proved it (RFC 8176 values; empty:
    # unknown). connectors/authn.py decides what counts.
    amr: tuple[str, ...] = ()
