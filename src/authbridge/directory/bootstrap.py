"""The first administrator: from the environment at start (`BootstrapAdmin`, as Keycloak's
KC_BOOTSTRAP_ADMIN_* and authentik's AUTHENTIK_BOOTSTRAP_*), else a one-time setup link
printed at start while no admin exists (`SetupLinks`)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from authbridge.clock import utcnow
from authbridge.directory.accounts import AccountError, LocalAccounts, normalize_email
from authbridge.directory.passwords import PasswordRejected, check_policy
from authbridge.directory.roles import ADMIN
from authbridge.storage import Storage

__all__ = ["BootstrapAdmin", "BootstrapError", "IssuedLink", "SetupLinks"]

BOOTSTRAP_ENV = "AUTHBRIDGE_BOOTSTRAP_ADMIN_"


class BootstrapError(ValueError):
    """The bootstrap admin's variables are incomplete or refused (the message names no secret)."""


@dataclass(frozen=True)
class BootstrapAdmin:
    """The first admin named by the environment: `AUTHBRIDGE_BOOTSTRAP_ADMIN_EMAIL` and a
    password, best from a mounted secret (`..._PASSWORD_FILE`), else `..._PASSWORD`."""

    email: str
    password: str = field(repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> BootstrapAdmin | None:
        """None when no bootstrap admin is asked for; BootstrapError when one half is missing,
        the file cannot be read, or the password fails the policy every password meets."""
        email = environ.get(f"{BOOTSTRAP_ENV}EMAIL", "").strip()
        password_file = environ.get(f"{BOOTSTRAP_ENV}PASSWORD_FILE", "").strip()
        password = environ.get(f"{BOOTSTRAP_ENV}PASSWORD", "")
        if not (email or password_file or password):
            return None
        if password_file:
            try:
                # A mounted Secret file usually ends with a newline no one meant as part of it.
                password = Path(password_file).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise BootstrapError(
                    f"{BOOTSTRAP_ENV}PASSWORD_FILE cannot be read: {exc.strerror}"
                ) from None
        if not email or not password:
            raise BootstrapError(
                f"{BOOTSTRAP_ENV}EMAIL and {BOOTSTRAP_ENV}PASSWORD_FILE (or _PASSWORD) "
                "go together: set both or neither."
            )
        try:
            email = normalize_email(email)
            check_policy(password, username=email)
        except (AccountError, PasswordRejected) as exc:
            raise BootstrapError(f"bootstrap admin refused: {exc}") from None
        return cls(email=email, password=password)

    def create(self, accounts: LocalAccounts) -> bool:
        """Create this admin unless an admin exists; True if this call created it.

        Idempotent across replicas and restarts: replicas starting together all try, and
        the unique username decides, so exactly one account is made.
        """
        if accounts.storage.bindings.any_user_with(ADMIN):
            return False
        try:
            accounts.sign_up(
                email=self.email,
                password=self.password,
                admin=True,
                self_service=False,
                origin="bootstrap",
            )
        except AccountError:
            if accounts.storage.bindings.any_user_with(ADMIN):
                return False  # another replica made it a moment ago
            raise
        return True


SETUP_TOKEN = "setup_token_sha256"
# How long a setup link stays valid: one per database, not per process, so replicas (and
# restarts) keep the link the first one printed instead of voiding it.
SETUP_LINK_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class IssuedLink:
    """The pending setup link: its token when this process issued it, else None (only the
    token's digest is stored, so another replica's link cannot be printed here)."""

    token: str | None
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SetupLinks:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def admin_exists(self) -> bool:
        return self._storage.bindings.any_user_with(ADMIN)

    def issue(self, now: datetime | None = None) -> IssuedLink | None:
        """The setup link while no admin exists, else None.

        One link per database: the first start (of any replica) issues it and keeps it for
        SETUP_LINK_LIFETIME; later starts find it live and leave it alone (IssuedLink with
        no token), so a replica starting does not void the link another one printed.
        """
        if self.admin_exists():
            self._storage.values.delete(SETUP_TOKEN)
            return None
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        expires_at = now + SETUP_LINK_LIFETIME
        values = self._storage.values
        if values.put_unless_live(SETUP_TOKEN, _digest(token), expires_at=expires_at, now=now):
            return IssuedLink(token, expires_at)
        return IssuedLink(None, values.expires_at(SETUP_TOKEN) or expires_at)

    def renew(self) -> str | None:
        """A fresh setup token replacing any other (`authbridge setup-link`: the printed one
        was lost), or None when an admin exists."""
        if self.admin_exists():
            return None
        token = secrets.token_urlsafe(32)
        expires_at = utcnow() + SETUP_LINK_LIFETIME
        self._storage.values.put(SETUP_TOKEN, _digest(token), expires_at=expires_at)
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
