"""Who a token speaks for, and the role and group claims of a token with their size bound.

RFC 9068 §2.2.3.1 carries a user's roles and groups in the `roles` and `groups` claims
(their meaning from RFC 7643 §4.1.2: SCIM's `roles` and `groups`). `roles` holds the roles
held at system scope, `groups` the team names. Roles at a platform scope go in a private
claim (RFC 7519 §4.3), one compact object from scope to role names:

    "authbridge_scoped_roles": {"workspace:ws1": ["editor"], "deployment:d7": ["viewer"]}

Size bound: a token must stay small enough for every proxy's header limit (8 KiB is common)
however many teams its user is in. `authbridge_scoped_roles` holds at most
`MAX_SCOPED_SCOPES` scopes in at most `MAX_SCOPED_BYTES` bytes of compact JSON, and
`groups` at most `MAX_GROUPS` names in at most `MAX_GROUPS_BYTES` bytes. Beyond either
bound the claim is left out entirely (never cut: a partial set would look complete) and
the token says so: `authbridge_roles_overflow: true` or `authbridge_groups_overflow: true`
(as Entra ID leaves out `groups` beyond its overage limit). A service then reads the full
set from `GET /api/v1/authz/roles` with the same bearer token, or from userinfo.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GROUPS_OVERFLOW",
    "MAX_GROUPS",
    "MAX_GROUPS_BYTES",
    "MAX_SCOPED_BYTES",
    "MAX_SCOPED_SCOPES",
    "ROLES_OVERFLOW",
    "SCOPED_ROLES",
    "Principal",
    "bounded_claims",
]

SCOPED_ROLES = "authbridge_scoped_roles"
ROLES_OVERFLOW = "authbridge_roles_overflow"
GROUPS_OVERFLOW = "authbridge_groups_overflow"
MAX_SCOPED_SCOPES = 50
MAX_SCOPED_BYTES = 2048
MAX_GROUPS = 100
MAX_GROUPS_BYTES = 2048


@dataclass(frozen=True)
class Principal:
    """The subject of a token: a person or a service account. `roles` are the roles held
    at system scope; `scoped_roles` the others, as (scope, roles) pairs sorted by scope."""

    subject: str
    username: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    groups: tuple[str, ...] = field(default_factory=tuple)
    roles: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "person"
    scoped_roles: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)

    def scoped_roles_claim(self) -> dict[str, list[str]]:
        """The full scoped roles as a claim value (userinfo, the authorization endpoint)."""
        return {scope: list(roles) for scope, roles in self.scoped_roles}


def _compact_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def bounded_claims(principal: Principal) -> dict[str, Any]:
    """`roles`, `groups` and `authbridge_scoped_roles` within their bounds, or the overflow
    indicators in place of what does not fit (see the module's docstring)."""
    claims: dict[str, Any] = {"roles": list(principal.roles)}
    groups = list(principal.groups)
    if len(groups) <= MAX_GROUPS and _compact_size(groups) <= MAX_GROUPS_BYTES:
        claims["groups"] = groups
    else:
        claims[GROUPS_OVERFLOW] = True
    if principal.scoped_roles:
        scoped = principal.scoped_roles_claim()
        if len(scoped) <= MAX_SCOPED_SCOPES and _compact_size(scoped) <= MAX_SCOPED_BYTES:
            claims[SCOPED_ROLES] = scoped
        else:
            claims[ROLES_OVERFLOW] = True
    return claims
