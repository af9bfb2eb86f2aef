"""`Admin`: every administrative service, built once by `build_admin` from the services the
app (`web/services.py`) and the CLI (`cli/wiring.py`) already hold, so that both run the
same code for each act."""

from __future__ import annotations

from dataclasses import dataclass

<<<<<<< HEAD
<<<<<<< HEAD
<<<<<<< HEAD
from authbridge.admin.audit import AuditAdmin
from authbridge.admin.roles import RoleAdmin
from authbridge.admin.users import UserAdmin
=======
from authbridge.admin.bindings import BindingAdmin
from authbridge.admin.roles import RoleAdmin
from authbridge.admin.teams import TeamAdmin
>>>>>>> teams
=======
from authbridge.admin.clients import ClientAdmin
from authbridge.admin.keys import KeyAdmin
from authbridge.admin.robots import RobotAdmin
from authbridge.admin.roles import RoleAdmin
from authbridge.admin.service_accounts import ServiceAccountAdmin
>>>>>>> clients
from authbridge.audit.events import AuditSink
from authbridge.config import Settings
from authbridge.directory.accounts import LocalAccounts
=======
from authbridge.admin.connectors import ConnectorAdmin
from authbridge.admin.roles import RoleAdmin
from authbridge.admin.scim_credentials import ScimCredentialAdmin
from authbridge.audit.events import AuditSink
from authbridge.config import Settings
from authbridge.connectors import Connectors
>>>>>>> scimcreds
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import RoleBindings
from authbridge.provider.service import OpenIDProvider
from authbridge.scim.credentials import ScimCredentials
from authbridge.storage import Storage

__all__ = ["Admin", "build_admin"]


@dataclass(frozen=True)
class Admin:
    audit: AuditSink
    roles: RoleAdmin
<<<<<<< HEAD
<<<<<<< HEAD
<<<<<<< HEAD
    # Reading the audit log (`audit` above is where events are written).
    audit_events: AuditAdmin
    users: UserAdmin
=======
    teams: TeamAdmin
    bindings: BindingAdmin
>>>>>>> teams
=======
    clients: ClientAdmin
    service_accounts: ServiceAccountAdmin
    robots: RobotAdmin
    keys: KeyAdmin
>>>>>>> clients
=======
    scim_credentials: ScimCredentialAdmin
    connectors: ConnectorAdmin
>>>>>>> scimcreds


def build_admin(
    *,
    settings: Settings,
    storage: Storage,
    provider: OpenIDProvider,
    revocation: Revocation,
    bindings: RoleBindings,
    membership: MembershipEngine,
    audit: AuditSink,
<<<<<<< HEAD
    accounts: LocalAccounts | None = None,
=======
    scim_credentials: ScimCredentials,
    connectors: Connectors,
>>>>>>> scimcreds
) -> Admin:
<<<<<<< HEAD
    """Wire the admin services over the given ones (nothing is built twice; `accounts`,
    the app's local accounts, is built from the settings when a CLI command has none)."""
    del membership  # used as resources arrive
    users = UserAdmin(
        storage=storage,
        accounts=accounts or LocalAccounts.of(storage, settings),
        revocation=revocation,
        provider=provider,
        catalog=bindings.catalog,
        audit=audit,
    )
    return Admin(
        audit=audit,
        roles=RoleAdmin(bindings.catalog),
        audit_events=AuditAdmin(storage.audit),
        users=users,
=======
    """Wire the admin services over the given ones (nothing is built twice)."""
<<<<<<< HEAD
<<<<<<< HEAD
    del settings, provider, revocation  # used as resources arrive
    return Admin(
        audit=audit,
        roles=RoleAdmin(bindings.catalog),
        teams=TeamAdmin(storage, membership, audit),
        bindings=BindingAdmin(storage, bindings, audit),
>>>>>>> teams
=======
    del settings, membership  # used as resources arrive
    return Admin(
        audit=audit,
        roles=RoleAdmin(bindings.catalog),
        clients=ClientAdmin(provider, audit),
        service_accounts=ServiceAccountAdmin(provider, bindings, revocation, audit),
        robots=RobotAdmin(provider, revocation, audit),
        keys=KeyAdmin(storage.keys, provider.keyring, audit),
>>>>>>> clients
=======
    del storage, provider, revocation, membership  # used as resources arrive
    return Admin(
        audit=audit,
        roles=RoleAdmin(bindings.catalog),
        scim_credentials=ScimCredentialAdmin(scim_credentials, audit),
        connectors=ConnectorAdmin(settings, connectors),
>>>>>>> scimcreds
    )
