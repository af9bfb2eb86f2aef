"""The role vocabulary the settings are checked against: built-in roles, and the patterns of
role names, permissions and scopes.

A role is a name, a description and a set of permissions (Astronomer's System/Workspace/
Deployment roles, OpenMetadata's roles). Three roles are built in; `roles.<name>` in the
configuration adds more. A role is bound to a user or a team at a scope: `system`, or a
scope string the platform owns (`workspace:<id>`, `deployment:<id>`), which authbridge
validates by pattern and otherwise treats as opaque. The directory builds its catalog from
these (`directory/roles.py`); they live here so that `config check` refuses an unknown role
named in `scim.teamRoles` or `scim.defaultRoles` before anything starts.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from authbridge.config.errors import ConfigIssue
from authbridge.config.model import Settings

__all__ = [
    "BUILTIN_ROLES",
    "PERMISSION",
    "ROLE_NAME",
    "SCOPE",
    "SYSTEM_SCOPE",
    "TEMPLATE_FIELDS",
    "BuiltinRole",
    "role_issues",
    "scope_template_fields",
]

SYSTEM_SCOPE = "system"
# A role name: a letter, then letters, digits, `_`, `-`, `.` (64 at most: the column).
ROLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
# A permission: `<resource>.<action>` by convention (`resources.write`, `deployments.create`);
# any dotted name the platform's services check with `require_permission`.
PERMISSION = re.compile(r"[A-Za-z][A-Za-z0-9_.:*-]{0,127}")
# A platform scope: `<kind>:<id>`, the kind lower-case (`workspace`, `deployment`), the id
# printable without spaces, quotes or backslashes (it travels in tokens and in the
# `scope` attribute of an RFC 6750 challenge, whose grammar excludes `"` and `\`).
SCOPE = re.compile(r"system|[a-z][a-z0-9_-]{0,31}:[A-Za-z0-9._~:@/+=!$&'()*,;-]{1,200}")
# What a `scim.teamRoles` scope pattern may be filled from: the team's attributes.
TEMPLATE_FIELDS = ("displayName", "externalId", "id")

READ = "resources.read"
WRITE = "resources.write"
ADMINISTRATION = (
    "users.read",
    "users.write",
    "teams.read",
    "teams.write",
    "roles.read",
    "roles.write",
    "clients.read",
    "clients.write",
    "keys.read",
    "keys.write",
    "audit.read",
    "scim.read",
    "scim.write",
    "connectors.read",
)


@dataclass(frozen=True)
class BuiltinRole:
    name: str
    description: str
    permissions: frozenset[str]


BUILTIN_ROLES: dict[str, BuiltinRole] = {
    role.name: role
    for role in (
        BuiltinRole(
            "admin",
            "Administers authbridge and the platform: users, teams, role bindings, clients, "
            "audit, and every platform resource.",
            frozenset((READ, WRITE, *ADMINISTRATION)),
        ),
        BuiltinRole("editor", "Reads and changes platform resources.", frozenset((READ, WRITE))),
        BuiltinRole("viewer", "Reads platform resources.", frozenset((READ,))),
    )
}


def scope_template_fields(pattern: str) -> list[str]:
    """The team attributes a scope pattern names (`workspace:{displayName}`); ValueError for
    a malformed pattern or an unknown field."""
    try:
        parts = list(string.Formatter().parse(pattern))
    except ValueError as exc:
        raise ValueError(f"malformed pattern: {exc}") from None
    fields = []
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            raise ValueError(
                f"{{{name}}} is not a team attribute; use one of "
                + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
            )
        fields.append(name)
    return fields


def _closest(name: str, known: list[str]) -> str | None:
    import difflib

    match = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return match[0] if match else None


def role_issues(settings: Settings) -> list[ConfigIssue]:
    """Every problem of the role settings, each naming its path: a bad role name or
    permission, a redefined built-in role, an unknown role in `scim.teamRoles` or
    `scim.defaultRoles` (never created on the fly), a bad scope pattern."""
    issues: list[ConfigIssue] = []
    for name, role in settings.roles.items():
        where = f"roles.{name}"
        if name in BUILTIN_ROLES:
            issues.append(ConfigIssue(where, "is a built-in role; give your role another name"))
        elif not ROLE_NAME.fullmatch(name):
            issues.append(
                ConfigIssue(
                    where, "a role name is a letter, then letters, digits, _ - . (64 at most)"
                )
            )
        for i, permission in enumerate(role.permissions):
            if not PERMISSION.fullmatch(permission):
                issues.append(
                    ConfigIssue(
                        f"{where}.permissions.{i}",
                        f"{permission!r} is not a permission name such as resources.write",
                    )
                )
    known = sorted({*BUILTIN_ROLES, *settings.roles})

    def check(role: str, where: str) -> None:
        if role not in known:
            issues.append(
                ConfigIssue(
                    where,
                    f"unknown role {role!r} (roles are {', '.join(known)}; define others "
                    "under roles.<name>)",
                    _closest(role, known),
                )
            )

    for i, default in enumerate(settings.scim.default_roles):
        check(default, f"scim.defaultRoles.{i}")
    for i, rule in enumerate(settings.scim.team_roles):
        for j, named in enumerate(rule.roles):
            check(named, f"scim.teamRoles.{i}.roles.{j}")
        where = f"scim.teamRoles.{i}.scope"
        try:
            fields = scope_template_fields(rule.scope)
        except ValueError as exc:
            issues.append(ConfigIssue(where, str(exc)))
            continue
        # A pattern is checked with sample values: what is written around the fields must
        # make a valid scope (`workspace:{displayName}`, never `{displayName}` alone).
        sample = rule.scope.format(**dict.fromkeys(fields, "x"))
        if not SCOPE.fullmatch(sample):
            issues.append(
                ConfigIssue(
                    where,
                    f"{rule.scope!r} is not a scope: use system or <kind>:<id> such as "
                    "workspace:{displayName}",
                )
            )
    return issues
