"""The one clock: timezone-aware UTC now, for every layer (storage, domain, web)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["utcnow"]


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (every stored time is UTC; naive times are refused)."""
    return datetime.now(UTC)
