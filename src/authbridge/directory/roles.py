"""Roles, role bindings and effective roles; who is an admin from the configuration
(OpenMetadata's `initialAdmins`/`principalDomain`, Astronomer's scoped role bindings).

A role is a name, a description and a set of permissions: three built in (admin, editor,
viewer; `config/roles.py` lists their permissions) and those of `roles.<name>`. A binding
gives a role to a user or a team at a scope: `system`, or a platform scope such as
`workspace:ws1` (validated by pattern, otherwise opaque). A user's effective roles are
their own bindings, their teams' bindings, and what the `scim.teamRoles` templates give
their teams, whatever made each team (SCIM, IdP login claims, an admin).

Templates are evaluated here, when roles are computed, rather than written as bindings
when a team is made: a team from any source is covered without a hook in each source, a
changed template takes effect at the next token, and nothing is left behind when a team is
renamed or a rule removed. The cost is a pattern match per team and rule per token (500
teams and a handful of rules: well under a millisecond).

A role name is checked against the catalog whenever a binding is made, and is never
created on the fly. A binding whose role the configuration no longer defines grants
nothing (and `authbridge bindings list` marks it).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import structlog

from authbridge.config.model import AuthorizerSettings, ScimTeamRoleRule, Settings
from authbridge.config.roles import (
    BUILTIN_ROLES,
    SCOPE,
    SYSTEM_SCOPE,
    role_issues,
    scope_template_fields,
)
from authbridge.storage import Storage
from authbridge.storage.bindings import BindingRow, Grants, TeamRef
from authbridge.tokens.claims import SCOPED_ROLES

__all__ = [
    "ADMIN",
    "CONFIG_ADMINS_ORIGIN",
    "DEFAULT_ROLE",
    "EDITOR",
    "SYSTEM_ROLES",
    "SYSTEM_SCOPE",
    "VIEWER",
    "EffectiveRoles",
    "InvalidScope",
    "Role",
    "RoleBindings",
    "RoleCatalog",
    "RoleResolver",
    "TeamTemplate",
    "UnknownRole",
    "check_scope",
    "domain_allowed",
    "is_initial_admin",
]

log = structlog.get_logger("authbridge.roles")

ADMIN = "admin"
EDITOR = "editor"
VIEWER = "viewer"
SYSTEM_ROLES = (ADMIN, EDITOR, VIEWER)
DEFAULT_ROLE = VIEWER
# The origin of the admin bindings `initialAdmins` (and OpenMetadata's `adminPrincipals`,
# which the importer folds into it) makes at every start.
CONFIG_ADMINS_ORIGIN = "config:authorizer.initialAdmins"


class UnknownRole(ValueError):
    """A role name the catalog does not define."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        super().__init__(f"unknown role {name!r} (roles are {', '.join(known)}){hint}")
        self.name = name


class InvalidScope(ValueError):
    """A scope that is neither `system` nor `<kind>:<id>`."""


def check_scope(scope: str) -> str:
    """`scope` if it is `system` or a platform scope (`workspace:ws1`); InvalidScope if not."""
    if not SCOPE.fullmatch(scope):
        raise InvalidScope(
            f"{scope!r} is not a scope: use system or <kind>:<id> such as workspace:ws1 "
            "(kind: lower-case letters, digits, _ -; id: no spaces, quotes or backslashes)"
        )
    return scope


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    permissions: frozenset[str]
    builtin: bool = False


class RoleCatalog:
    """Every role that exists: the built-in ones and the configuration's."""

    def __init__(self, roles: Iterable[Role]) -> None:
        self._roles = {role.name: role for role in roles}

    @classmethod
    def builtin(cls) -> RoleCatalog:
        return cls(
            Role(r.name, r.description, r.permissions, builtin=True) for r in BUILTIN_ROLES.values()
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> RoleCatalog:
        configured = (
            Role(name, role.description, frozenset(role.permissions))
            for name, role in settings.roles.items()
        )
        return cls([*cls.builtin().all(), *configured])

    def get(self, name: str) -> Role:
        """The role named `name`; UnknownRole if there is none."""
        role = self._roles.get(name)
        if role is None:
            raise UnknownRole(name, self._roles)
        return role

    def __contains__(self, name: object) -> bool:
        return name in self._roles

    def all(self) -> list[Role]:
        """Built-in roles first, then the configuration's, by name."""
        return sorted(self._roles.values(), key=lambda r: (not r.builtin, r.name))


@dataclass(frozen=True)
class TeamTemplate:
    """One `scim.teamRoles` rule: teams named like `match` give `roles` at `scope`, a
    pattern filled from the team (`workspace:{displayName}`)."""

    match: re.Pattern[str]
    roles: tuple[str, ...]
    scope: str
    fields: tuple[str, ...]
    # Managing sources whose teams the rule applies to; None: every team.
    sources: frozenset[str] | None = None

    @classmethod
    def of(cls, rule: ScimTeamRoleRule) -> TeamTemplate:
        # fnmatch's translation, compiled once; names compare case-insensitively.
        pattern = re.compile(fnmatch.translate(rule.match.casefold()))
        fields = tuple(scope_template_fields(rule.scope))
        sources = None if rule.sources is None else frozenset(rule.sources)
        return cls(pattern, tuple(dict.fromkeys(rule.roles)), rule.scope, fields, sources)

    def bindings_for(self, team: TeamRef) -> list[tuple[str, str]]:
        """(role, scope) pairs this rule gives `team`'s members: none if the name does not
        match, if a field the scope names is missing (no externalId), or if the filled
        scope is not a valid scope (a display name with spaces)."""
        if not self.match.match(team.name.casefold()):
            return []
        if self.sources is not None and team.managed_by not in self.sources:
            return []
        scope = self.scope
        if self.fields:
            values = {"displayName": team.name, "externalId": team.external_id, "id": team.id}
            if any(not values[f] for f in self.fields):
                return []
            scope = scope.format(**{f: values[f] for f in self.fields})
            if not SCOPE.fullmatch(scope):
                return []
        return [(role, scope) for role in self.roles]


@dataclass(frozen=True)
class EffectiveRoles:
    """A user's roles: at system scope, and per platform scope (system roles hold at every
    scope, and are not repeated there)."""

    system: frozenset[str] = frozenset()
    scoped: Mapping[str, frozenset[str]] = field(default_factory=dict)
    teams: tuple[str, ...] = ()

    def at(self, scope: str) -> frozenset[str]:
        """The roles that hold at `scope`: the system ones and that scope's own."""
        return self.system | self.scoped.get(scope, frozenset())


class RoleResolver:
    """Effective roles from a user's `Grants`, with the catalog and the team templates of
    the configuration; built once at start-up."""

    def __init__(self, catalog: RoleCatalog, templates: Iterable[TeamTemplate] = ()) -> None:
        self.catalog = catalog
        self.templates = tuple(templates)

    @classmethod
    def from_settings(cls, settings: Settings) -> RoleResolver:
        """The configuration's roles and templates; ValueError naming each problem (the
        loader refuses the same, so this only fires for settings built in code)."""
        issues = role_issues(settings)
        if issues:
            raise ValueError("; ".join(str(issue) for issue in issues))
        templates = [TeamTemplate.of(rule) for rule in settings.scim.team_roles]
        return cls(RoleCatalog.from_settings(settings), templates)

    @classmethod
    def builtin(cls) -> RoleResolver:
        return cls(RoleCatalog.builtin())

    def effective(self, grants: Grants) -> EffectiveRoles:
        pairs: list[tuple[str, str]] = list(grants.bindings)
        for team in grants.teams:
            for template in self.templates:
                pairs.extend(template.bindings_for(team))
        system: set[str] = set()
        scoped: dict[str, set[str]] = {}
        for role, scope in pairs:
            if role not in self.catalog:
                continue  # a role the configuration no longer defines grants nothing
            if scope == SYSTEM_SCOPE:
                system.add(role)
            else:
                scoped.setdefault(scope, set()).add(role)
        return EffectiveRoles(
            system=frozenset(system),
            scoped={
                scope: frozenset(roles - system)
                for scope, roles in sorted(scoped.items())
                if roles - system
            },
            teams=tuple(team.name for team in grants.teams),
        )

    def permissions(self, roles: Iterable[str]) -> frozenset[str]:
        found: set[str] = set()
        for name in roles:
            if name in self.catalog:
                found |= self.catalog.get(name).permissions
        return frozenset(found)


class RoleBindings:
    """Granting, revoking and listing role bindings, and a user's effective roles: the one
    service the CLI uses now and the admin API next."""

    def __init__(self, storage: Storage, resolver: RoleResolver) -> None:
        self._storage = storage
        self.resolver = resolver

    @property
    def catalog(self) -> RoleCatalog:
        return self.resolver.catalog

    def grant(
        self,
        role: str,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        scope: str = SYSTEM_SCOPE,
        origin: str,
    ) -> bool:
        """Bind `role` at `scope`; False if it was bound already. UnknownRole, InvalidScope,
        or storage's Conflict for a user or team that does not exist."""
        self.catalog.get(role)
        check_scope(scope)
        return self._storage.bindings.add(
            role, user_id=user_id, team_id=team_id, scope=scope, origin=origin
        )

    def revoke(
        self,
        role: str,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        scope: str = SYSTEM_SCOPE,
    ) -> bool:
        """Remove one binding; False if there was none. Any role name may be revoked (also
        one the configuration no longer defines)."""
        check_scope(scope)
        return self._storage.bindings.remove(role, user_id=user_id, team_id=team_id, scope=scope)

    def find(self, **filters: str | None) -> list[BindingRow]:
        """Stored bindings (`user_id`, `team_id`, `role`, `scope`, `origin` filters)."""
        return self._storage.bindings.find(**filters)

    def effective_roles(self, user_id: str) -> EffectiveRoles:
        """The user's roles from their bindings, their teams' bindings and the templates."""
        return self.resolver.effective(self._storage.bindings.grants(user_id))

    def held_roles(self, user_id: str) -> set[str]:
        """Every role the user holds, at any scope: what a credential of theirs (a password
        reset link, an email change) would hand to whoever gets it."""
        held = self.effective_roles(user_id)
        return set(held.system).union(*held.scoped.values())

    def planned_roles(
        self, user_id: str | None, teams: Iterable[tuple[str | None, str, str]]
    ) -> EffectiveRoles:
        """The roles the user would hold in `teams` ((id or None for a team a change would
        create, name, managing source) triples), for a dry run: the user's own bindings,
        the existing teams' bindings and the templates on every team. A template filled
        from `{externalId}` is left out for a team not created yet (it has none)."""
        pairs: list[tuple[str, str]] = []
        if user_id is not None:
            pairs.extend((b.role, b.scope) for b in self._storage.bindings.find(user_id=user_id))
        refs: list[TeamRef] = []
        for team_id, name, managed_by in teams:
            if team_id is not None:
                found = self._storage.bindings.find(team_id=team_id)
                pairs.extend((b.role, b.scope) for b in found)
            refs.append(TeamRef(team_id or "", name, managed_by=managed_by))
        return self.resolver.effective(Grants(tuple(dict.fromkeys(pairs)), tuple(refs)))

    def team_confers_roles(self, team_id: str | None, name: str, managed_by: str) -> bool:
        """Whether membership of the team gives any role (its bindings or a template): adding
        someone to it is then a role grant, not only a membership change."""
        planned = self.planned_roles(None, [(team_id, name, managed_by)])
        return bool(planned.system or any(planned.scoped.values()))

    def allows(self, user_id: str, permission: str, scope: str = SYSTEM_SCOPE) -> bool:
        """Whether the user holds a role with `permission` at `scope` (or at system scope)."""
        held = self.effective_roles(user_id).at(scope)
        return permission in self.resolver.permissions(held)

    def document(self, user_id: str) -> dict[str, object]:
        """Everything a service needs to authorize the user, whole (never bounded like a
        token's claims): what `GET /api/v1/authz/roles` answers. Claim names as in the
        token (`roles`, `authbridge_scoped_roles`, `groups`), plus the permissions each
        scope gives (system ones hold at every scope)."""
        roles = self.effective_roles(user_id)
        permissions = {SYSTEM_SCOPE: sorted(self.resolver.permissions(roles.system))}
        for scope in roles.scoped:
            permissions[scope] = sorted(self.resolver.permissions(roles.at(scope)))
        return {
            "sub": user_id,
            "roles": sorted(roles.system),
            SCOPED_ROLES: {scope: sorted(names) for scope, names in roles.scoped.items()},
            "groups": list(roles.teams),
            "permissions": permissions,
        }

    def sync_config_admins(self, authorizer: AuthorizerSettings) -> tuple[int, int]:
        """Make the `initialAdmins` bindings follow the configuration (at start-up): every
        existing user whose *verified* email is named gets a system admin binding with
        origin `config:authorizer.initialAdmins`; such bindings of users no longer named
        are removed. An unverified address never matches (a local sign-up could claim an
        admin's address first). Returns (added, removed)."""
        wanted = [
            (user_id, ADMIN, SYSTEM_SCOPE)
            for user_id, email in self._storage.users.verified_emails(_entry_emails(authorizer))
            # The verified email stands for the username too: a username is any string.
            if is_initial_admin(email, email, authorizer)
        ]
        added, removed = self._storage.bindings.replace_origin(CONFIG_ADMINS_ORIGIN, wanted)
        if added or removed:
            log.info("config_admins_synced", added=added, removed=removed)
        return added, removed


def _entry_emails(authorizer: AuthorizerSettings) -> list[str]:
    """Email patterns (`x@y` exactly, or `local@%`) an `initialAdmins` entry can match."""
    patterns = []
    for entry in authorizer.initial_admins:
        entry = entry.strip().casefold()
        if entry:
            patterns.append(entry if "@" in entry else f"{entry}@%")
    return patterns


def _domain(email: str) -> str:
    return email.rpartition("@")[2].casefold()


def domain_allowed(email: str | None, authorizer: AuthorizerSettings) -> bool:
    """`principalDomain`: only emails of that domain may have accounts (when it is set)."""
    if not authorizer.principal_domain:
        return True
    return email is not None and _domain(email) == authorizer.principal_domain.casefold()


def is_initial_admin(username: str, email: str | None, authorizer: AuthorizerSettings) -> bool:
    """Whether an account is named in `initialAdmins`.

    An entry with `@` names a full email. An entry without names the local part, as in
    OpenMetadata ("john.doe from john.doe@example.com"), and only within `principalDomain`
    when that is set. Callers must only ask this of verified emails.
    """
    candidates = {username.casefold()}
    if email:
        candidates.add(email.casefold())
    for entry in authorizer.initial_admins:
        entry = entry.strip().casefold()
        if "@" in entry:
            if entry in candidates:
                return True
            continue
        for candidate in candidates:
            local, at, _ = candidate.partition("@")
            if at and local == entry and domain_allowed(candidate, authorizer):
                return True
            if not at and candidate == entry:
                return True
    return False
