"""What an operator command works on, wired once per command as the app wires itself.

A CLI command is a short-lived process: it opens storage, builds the OpenID Provider and the
one `Revocation` over both, and uses them like the app's routes do, so that disabling a user
from the command line ends the same credentials as a SCIM deactivation.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from authbridge.admin.service import Admin, build_admin
from authbridge.audit.events import Actor
from authbridge.audit.log import AuditLog
from authbridge.cli.options import cli_actor
from authbridge.config import Settings
from authbridge.connectors import build_connectors
from authbridge.directory.invitations import Invitations
from authbridge.directory.mail import Mailer, mailer_for
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.pending_logins import PendingLogins
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import RoleBindings
from authbridge.provider.service import OpenIDProvider
from authbridge.scim.auth import SOURCES as SCIM_SOURCES
from authbridge.scim.auth import credential_for
from authbridge.scim.credentials import ScimCredentials
from authbridge.storage import Storage
from authbridge.storage.counters import counters_for
from authbridge.storage.database import Database
from authbridge.storage.notify import change_bus
from authbridge.tokens.issuer import issuer_for
from authbridge.tokens.keyring import keyring_for
from authbridge.web.observability import configure_logging

__all__ = ["Operator", "open_operator", "open_storage"]


@dataclass(frozen=True)
class Operator:
    settings: Settings
    storage: Storage
    provider: OpenIDProvider
    revocation: Revocation
    bindings: RoleBindings
    membership: MembershipEngine
    admin: Admin
    # The audit log: closed (its queue stored) when the command exits.
    audit: AuditLog
    # Outgoing mail (invitations): a command flushes it before it exits.
    mailer: Mailer | None = None

    @property
    def actor(self) -> Actor:
        """Who acts in audit events: the operating-system user running the command."""
        return cli_actor()


def open_operator(config: Path | None) -> Operator:
    """Load the configuration (exit 2 on errors), open storage and wire the services."""
    from authbridge.cli.main import load_or_exit  # main imports the command modules

    settings = load_or_exit(config)
    # Log lines (audit events among them) on standard error: standard output is the
    # command's result, which scripts parse (`--output json`).
    configure_logging(settings.logging.level, settings.logging.format)
    storage = open_storage(settings)
    keyring = keyring_for(settings, storage.keys, storage.changes)
    keyring.ensure_key()
    counters = counters_for(storage.rate_limits, settings.redis)  # as the app chooses them
    provider = OpenIDProvider(
        storage, keyring, issuer_for(settings, keyring), settings, counters=counters.rate
    )
    revocation = Revocation(
        sessions=storage.sessions,
        tokens=provider,
        pending=PendingLogins(storage.values),
        changes=storage.changes,
    )
    bindings = RoleBindings(storage, provider.roles)
    membership = MembershipEngine(storage, settings.teams)
    # Each event stored as the act happens (no writer thread to outlive the command).
    audit = AuditLog(storage.audit if settings.audit.enabled else None, synchronous=True)
    # The environment's SCIM credentials as this process sees them (in the server's pod,
    # the server's); a command publishes its changes, every replica reloads.
    environ = settings.environ(os.environ)
    scim_credentials = ScimCredentials(
        storage.scim_credentials,
        {s: credential_for(s, settings.scim, environ) for s in SCIM_SOURCES},
        storage.changes,
    )
    mailer = mailer_for(settings.smtp, audit=audit)
    invitations = Invitations(
        storage,
        membership=membership,
        bindings=bindings,
        accounts=None,  # accepting happens in the browser, never here
        base_url=settings.server.issuer,
        mailer=mailer,
        audit=audit,
    )
    return Operator(
        settings=settings,
        storage=storage,
        provider=provider,
        revocation=revocation,
        bindings=bindings,
        membership=membership,
        admin=build_admin(
            settings=settings,
            storage=storage,
            provider=provider,
            revocation=revocation,
            bindings=bindings,
            membership=membership,
            audit=audit,
            scim_credentials=scim_credentials,
            # Built for listing: a command makes no IdP call, so every status is unknown.
            connectors=build_connectors(settings),
            invitations=invitations,
        ),
        audit=audit,
        mailer=mailer,
    )


def open_storage(settings: Settings) -> Storage:
    """Storage with the change bus the replicas listen on (publishing only: a command
    subscribes to nothing, so no listener starts), so a command's rotation, client change
    or revocation reaches every running replica at once."""
    db = Database(settings.database.url)
    db.upgrade()
    return Storage(
        db,
        change_bus(db, settings.redis.url),
        audit_retention=timedelta(days=settings.audit.retention_days),
    )
