"""Who a token speaks for: the identity fields every platform token carries."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Principal"]


@dataclass(frozen=True)
class Principal:
    """The subject of a token: a person or a service account."""

    subject: str
    username: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    groups: tuple[str, ...] = field(default_factory=tuple)
    roles: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "person"
