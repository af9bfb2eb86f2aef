"""`Admin`: every administrative service, built once by `build_admin` from the services the
app (`web/services.py`) and the CLI (`cli/wiring.py`) already hold, so that both run the
same code for each act."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from authbridge.admin.audit import AuditAdmin
from authbridge.admin.bindings import BindingAdmin
from authbridge.admin.clients import ClientAdmin
from authbridge.admin.connectors import ConnectorAdmin
from authbridge.admin.invitations import InvitationAdmin
from authbridge.admin.keys import KeyAdmin
from authbridge.admin.mfa import MfaAdmin
from authbridge.admin.robots import RobotAdmin
from authbridge.admin.roles import RoleAdmin
from authbridge.admin.scim_credentials import ScimCredentialAdmin
from authbridge.admin.service_accounts import ServiceAccountAdmin
from authbridge.admin.teams import TeamAdmin
from authbridge.admin.users import UserAdmin
from authbridge.audit.events import AuditSink
from authbridge.config import Settings
from authbridge.connectors import Connectors
from authbridge.directory.accounts import LocalAccounts
from authbridge.directory.email_links import PasswordResets
from authbridge.directory.invitations import Invitations
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import RoleBindings
from authbridge.provider.service import OpenIDProvider
from authbridge.scim.credentials import ScimCredentials
from authbridge.storage import Storage

__all__ = ["Admin", "build_admin"]


@dataclass(frozen=True)
class Admin:
    # Where events are written (`audit_events` reads them).
    audit: AuditSink
    audit_events: AuditAdmin
    roles: RoleAdmin
    users: UserAdmin
    teams: TeamAdmin
    bindings: BindingAdmin
    clients: ClientAdmin
    service_accounts: ServiceAccountAdmin
    robots: RobotAdmin
    keys: KeyAdmin
    scim_credentials: ScimCredentialAdmin
    connectors: ConnectorAdmin
    invitations: InvitationAdmin
    mfa: MfaAdmin


def build_admin(
    *,
    settings: Settings,
    storage: Storage,
    provider: OpenIDProvider,
    revocation: Revocation,
    bindings: RoleBindings,
    membership: MembershipEngine,
    audit: AuditSink,
    scim_credentials: ScimCredentials,
    connectors: Connectors,
    invitations: Invitations,
    accounts: LocalAccounts | None = None,
    resets: PasswordResets | None = None,
) -> Admin:
    """Wire the admin services over the given ones (nothing is built twice; `accounts`,
    the app's local accounts, is built from the settings when a CLI command has none;
    `resets`, the app's password-reset links, None where there are none: a command's)."""
    return Admin(
        audit=audit,
        audit_events=AuditAdmin(storage.audit),
        roles=RoleAdmin(bindings.catalog),
        users=UserAdmin(
            storage=storage,
            accounts=accounts or LocalAccounts.of(storage, settings),
            revocation=revocation,
            provider=provider,
            catalog=bindings.catalog,
            audit=audit,
            resets=resets,
        ),
        teams=TeamAdmin(storage, membership, audit),
        bindings=BindingAdmin(storage, bindings, audit),
        clients=ClientAdmin(provider, audit),
        service_accounts=ServiceAccountAdmin(provider, bindings, revocation, audit),
        robots=RobotAdmin(provider, revocation, audit),
        keys=KeyAdmin(
            storage.keys,
            provider.keyring,
            audit,
            rotation_interval=(
                timedelta(seconds=settings.tokens.key_rotation_interval)
                if settings.tokens.key_rotation_interval is not None
                else None
            ),
        ),
        scim_credentials=ScimCredentialAdmin(scim_credentials, audit),
        connectors=ConnectorAdmin(settings, connectors),
        invitations=InvitationAdmin(invitations, audit),
        mfa=MfaAdmin(storage, audit),
    )
