"""Who a platform token speaks for, read from the directory."""

from __future__ import annotations

from authbridge.directory.principals import principal
from authbridge.directory.roles import RoleResolver
from authbridge.storage.provider_store import Subject
from authbridge.tokens.claims import SCOPED_ROLES, Principal

__all__ = ["subject_principal", "userinfo_claims"]


def subject_principal(subject: Subject, roles: RoleResolver) -> Principal:
    """The principal of a user read in a grant's own transaction (roles and teams included)."""
    return principal(subject, roles.effective(subject.grants))


def userinfo_claims(principal: Principal, scope: str) -> dict[str, object]:
    """Claims released by scope (OIDC Core §5.4): `sub` always, the rest as asked. Groups
    and roles come whole here, never bounded as in a token (a token that overflowed sends
    services here or to `GET /api/v1/authz/roles`)."""
    scopes = set(scope.split())
    claims: dict[str, object] = {"sub": principal.subject}
    if "profile" in scopes:
        claims["preferred_username"] = principal.username
        if principal.name:
            claims["name"] = principal.name
    if "email" in scopes and principal.email is not None:
        claims["email"] = principal.email
        claims["email_verified"] = principal.email_verified
    if "groups" in scopes:
        claims["groups"] = list(principal.groups)
        claims["roles"] = list(principal.roles)
        claims[SCOPED_ROLES] = principal.scoped_roles_claim()
    if principal.kind != "person":
        claims["principal_type"] = principal.kind
    return claims
