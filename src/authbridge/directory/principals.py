"""Who a platform token speaks for: the one builder of a `Principal` from a directory user.

Every issuer of a token (the signed-in page, the OpenID Provider's grants, robot tokens)
builds it here, so a claim added to `Principal` is filled the same way everywhere. Roles
(direct, through teams, and from the team templates; `directory/roles.py`) and teams are
read at every issue, so a change of role shows
in the next token, refreshed ones included.
"""

from __future__ import annotations

from typing import Protocol

from authbridge.directory.roles import EffectiveRoles, RoleBindings
from authbridge.tokens.claims import Principal

__all__ = ["DirectoryUser", "principal", "principal_of"]


class DirectoryUser(Protocol):
    """What a principal is made of: a stored user, or the provider's grant-time snapshot."""

    @property
    def id(self) -> str: ...
    @property
    def username(self) -> str: ...
    @property
    def email(self) -> str | None: ...
    @property
    def email_verified(self) -> bool: ...
    @property
    def name(self) -> str | None: ...
    @property
    def kind(self) -> str: ...


def principal(user: DirectoryUser, roles: EffectiveRoles) -> Principal:
    """The principal of `user` with `roles` (and their teams), as computed by the caller."""
    return Principal(
        subject=user.id,
        username=user.username,
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        groups=roles.teams,
        roles=tuple(sorted(roles.system)),
        kind=user.kind,
        scoped_roles=tuple((scope, tuple(sorted(r))) for scope, r in roles.scoped.items()),
    )


def principal_of(bindings: RoleBindings, user: DirectoryUser) -> Principal:
    """The principal of `user` with the roles and teams stored now."""
    return principal(user, bindings.effective_roles(user.id))
