"""`Admin`: every administrative service, built once by `build_admin` from the services the
app (`web/services.py`) and the CLI (`cli/wiring.py`) already hold, so that both run the
same code for each act."""

from __future__ import annotations

from dataclasses import dataclass

from authbridge.admin.invitations import InvitationAdmin
from authbridge.admin.roles import RoleAdmin
from authbridge.audit.events import AuditSink
from authbridge.config import Settings
from authbridge.directory.invitations import Invitations
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
    invitations: InvitationAdmin


def build_admin(
    *,
    settings: Settings,
    storage: Storage,
    provider: OpenIDProvider,
    revocation: Revocation,
    bindings: RoleBindings,
    membership: MembershipEngine,
    audit: AuditSink,
    invitations: Invitations,
) -> Admin:
    """Wire the admin services over the given ones (nothing is built twice)."""
    del settings, storage, provider, revocation, membership  # used as resources arrive
    return Admin(
        audit=audit,
        roles=RoleAdmin(bindings.catalog),
        invitations=InvitationAdmin(invitations, audit),
    )
