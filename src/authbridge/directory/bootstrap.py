"""The first administrator: a one-time setup link printed at start while no admin exists."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from authbridge.directory.roles import ADMIN
from authbridge.storage import Storage

__all__ = ["SetupLinks"]

SETUP_TOKEN = "setup_token_sha256"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SetupLinks:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def admin_exists(self) -> bool:
        return self._storage.users.any_with_role(ADMIN)

    def issue(self) -> str | None:
        """A fresh setup token while no admin exists (each start replaces the last), else None."""
        if self.admin_exists():
            self._storage.values.delete(SETUP_TOKEN)
            return None
        token = secrets.token_urlsafe(32)
        self._storage.values.put(SETUP_TOKEN, _digest(token))
        return token

    def _matches(self, token: str) -> bool:
        stored = self._storage.values.get(SETUP_TOKEN)
        if stored is None or not token:
            return False
        return hmac.compare_digest(stored.encode(), _digest(token).encode())

    def valid(self, token: str) -> bool:
        """The link works only while no admin exists, by any path (setup, IdP initialAdmins,
        the CLI): the printed link may sit in a log pipeline long after it was needed."""
        if not self._matches(token):
            return False
        if self.admin_exists():
            self._storage.values.delete(SETUP_TOKEN)
            return False
        return True

    def consume(self, token: str) -> bool:
        """Use the token once: True for exactly one caller holding the right token (called
        right after that caller created the first admin, so no admin check here)."""
        if not self._matches(token):
            return False
        return self._storage.values.delete(SETUP_TOKEN)
