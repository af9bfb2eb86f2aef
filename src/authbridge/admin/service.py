"""`Admin`: every administrative service, built once by `build_admin` from the services the
app (`web/services.py`) and the CLI (`cli/wiring.py`) already hold, so that both run the
same code for each act."""

from __future__ import annotations

from dataclasses import dataclass

from authbridge.admin.clients import ClientAdmin
from authbridge.admin.keys import KeyAdmin
from authbridge.admin.robots import RobotAdmin
from authbridge.admin.roles import RoleAdmin
from authbridge.admin.service_accounts import ServiceAccountAdmin
from authbridge.audit.events import AuditSink
from authbridge.config import Settings
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import RoleBindings
from authbridge.provider.service import OpenIDProvider
from authbridge.storage import Storage

__all__ = ["Admin", "build_admin"]


@dataclass(frozen=True)
class Admin:
    audit: AuditSink
    roles: RoleAdmin
    clients: ClientAdmin
    service_accounts: ServiceAccountAdmin
    robots: RobotAdmin
    keys: KeyAdmin


def build_admin(
    *,
    settings: Settings,
    storage: Storage,
    provider: OpenIDProvider,
    revocation: Revocation,
    bindings: RoleBindings,
    membership: MembershipEngine,
    audit: AuditSink,
) -> Admin:
    """Wire the admin services over the given ones (nothing is built twice)."""
    del settings, membership  # used as resources arrive
    return Admin(
        audit=audit,
        roles=RoleAdmin(bindings.catalog),
        clients=ClientAdmin(provider, audit),
        service_accounts=ServiceAccountAdmin(provider, bindings, revocation, audit),
        robots=RobotAdmin(provider, revocation, audit),
        keys=KeyAdmin(storage.keys, provider.keyring, audit),
    )
