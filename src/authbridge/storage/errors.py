"""Storage errors, independent of the backend's own exception types."""

from __future__ import annotations

__all__ = ["Conflict", "StorageError", "Unavailable"]


class StorageError(Exception):
    """Base of storage errors."""


class Conflict(StorageError):
    """A unique key (username, connector+subject, team name) is already taken."""


class Unavailable(StorageError):
    """The database cannot be reached right now; callers answer 503 and retry later."""
