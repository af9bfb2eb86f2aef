"""Persistence: one store per aggregate over SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from authbridge.storage import (
    invitation_models,  # noqa: F401  (the invitations table)
    mfa_models,  # noqa: F401  (the second-factor tables)
    passkey_models,  # noqa: F401  (the passkey table)
    provider_models,  # noqa: F401  (the provider's tables)
    scim_models,  # noqa: F401  (SCIM provisioning's tables)
)
from authbridge.storage.audit import DEFAULT_RETENTION, AuditStore
from authbridge.storage.bindings import RoleBindingStore
from authbridge.storage.database import Database
from authbridge.storage.directory_watch import DirectoryWatch
from authbridge.storage.errors import Conflict, StorageError, Unavailable
from authbridge.storage.expiry import GarbageCollected
from authbridge.storage.invitations import InvitationStore
from authbridge.storage.keys import KeyStore
from authbridge.storage.keyvalues import KeyValueStore
from authbridge.storage.mfa import MfaStore
from authbridge.storage.notify import ChangeBus, LocalBus
from authbridge.storage.passkeys import PasskeyStore
from authbridge.storage.provider_store import ProviderStore
from authbridge.storage.ratelimits import RateLimitStore
from authbridge.storage.revocation_feed import RevocationFeedStore
from authbridge.storage.scim_credentials import ScimCredentialStore
from authbridge.storage.sessions import SessionStore
from authbridge.storage.team_admin import TeamAdminStore
from authbridge.storage.teams import TeamStore
from authbridge.storage.user_admin import UserAdminStore
from authbridge.storage.users import UserStore

__all__ = [
    "AuditStore",
    "ChangeBus",
    "Conflict",
    "Database",
    "GarbageCollected",
    "InvitationStore",
    "KeyStore",
    "KeyValueStore",
    "MfaStore",
    "ProviderStore",
    "RateLimitStore",
    "RevocationFeedStore",
    "RoleBindingStore",
    "ScimCredentialStore",
    "SessionStore",
    "Storage",
    "StorageError",
    "TeamStore",
    "Unavailable",
    "UserAdminStore",
    "UserStore",
]


class Storage:
    """Every store over one database, and the bus that tells other replicas of changes
    (in-process only unless the wiring passes LISTEN/NOTIFY or Redis)."""

    def __init__(
        self,
        db: Database,
        changes: ChangeBus | None = None,
        *,
        audit_retention: timedelta = DEFAULT_RETENTION,
    ) -> None:
        self.db = db
        self.changes: ChangeBus = changes if changes is not None else LocalBus()
        # Writes of users, bindings and teams, seen on every connection (directory_watch.py).
        self.directory = DirectoryWatch(db, self.changes)
        self.users = UserStore(db)
        # The admin API's searches and guarded writes over users (admin/users.py).
        self.user_admin = UserAdminStore(db)
        self.bindings = RoleBindingStore(db)
        self.teams = TeamStore(db)
        self.team_admin = TeamAdminStore(db)
        self.sessions = SessionStore(db)
        self.keys = KeyStore(db)
        self.rate_limits = RateLimitStore(db)
        self.values = KeyValueStore(db)
        # The OpenID Provider's codes, refresh families, devices, clients: one per database,
        # since it holds the SQLite writer's connection and lock.
        self.provider = ProviderStore(db, self.directory)
        self.revocation_feed = RevocationFeedStore(db)
        # The audit log's events, deleted once older than audit.retentionDays.
        self.audit = AuditStore(db, audit_retention)
        self.scim_credentials = ScimCredentialStore(db)
        self.invitations = InvitationStore(db)
        # Second factors: TOTP credentials and recovery codes (directory/totp.py).
        self.mfa = MfaStore(db)
        # Passkeys: WebAuthn credentials, several per user (directory/passkeys.py).
        self.passkeys = PasskeyStore(db)

    def expiring(self) -> dict[str, GarbageCollected]:
        """Every store whose rows expire, by name, for housekeeping's garbage collection."""
        return {
            "sessions": self.sessions,
            "rate_limits": self.rate_limits,
            "values": self.values,
            "provider": self.provider,
            "revocation_feed": self.revocation_feed,
            "audit": self.audit,
            "scim_credentials": self.scim_credentials,
            "invitations": self.invitations,
            "mfa": self.mfa,
        }

    @classmethod
    def open(cls, url: str, *, pool_size: int = 10, migrate: bool = True) -> Storage:
        db = Database(url, pool_size=pool_size)
        if migrate:
            db.upgrade()
        return cls(db)
