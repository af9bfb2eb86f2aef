"""The membership engine: a user's teams from every source, one rule for all of them.

Sources (`managedBy` values):
- `scim:<source>`: a SCIM group of that provisioning source (RFC 7643 §4.2 members);
- `idp:<connector>`: a group named in that connector's login claims (Okta `groups`, Entra
  `groups` or, on group overage, Microsoft Graph `getMemberObjects`), set again at every
  login;
- `local`: an administrator's.

Each source says which teams a user is in, and only for the teams it feeds; what it says
replaces what it said before (a SCIM PATCH for its group, a login for its connector).
A team belongs to one source (`managedBy`, which owns its name and its deletion) unless
configured otherwise: `teams.<name>.sources: [scim:okta, idp:okta]` makes the SCIM group
and the login group of that name one team (one id), owned by `managedBy` (the first source
unless given) and holding the union of what its sources say. Unconfigured, a SCIM group
and a login group of one name are two teams with two ids: neither source can put people in
a team it does not feed, and neither can block the other (no permanent 409).

Since a user's teams are the union of per-source sets and each source's set is replaced
only by that source, the result never depends on how changes of different sources
interleave, only on each source's own order (`tests/directory/test_membership.py` checks
this property). `plan_login` computes a login's effect without writing (the CLI's dry run).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from authbridge.config.model import TeamSettings
from authbridge.connectors.identity import Identity
from authbridge.storage import Storage
from authbridge.storage.errors import Conflict
from authbridge.storage.teams import LOCAL, TeamRef, TeamRow
from authbridge.storage.users import username_key

__all__ = [
    "LOCAL",
    "MAX_GROUPS",
    "MembershipEngine",
    "MembershipPlan",
    "PlannedTeam",
    "idp_source",
    "scim_source",
]

log = structlog.get_logger("authbridge.directory")
MAX_GROUPS = 500  # a login's groups kept (Entra caps its groups claim at 200, Okta at 100)
MAX_TEAM_NAME = 256


def idp_source(connector_id: str) -> str:
    return f"idp:{connector_id}"


def scim_source(source: str) -> str:
    return f"scim:{source}"


@dataclass(frozen=True)
class PlannedTeam:
    """A team in a plan: `id` None when the change would create it."""

    name: str
    managed_by: str
    id: str | None = None


@dataclass(frozen=True)
class MembershipPlan:
    """What a change would do to one user's teams."""

    before: list[PlannedTeam]
    after: list[PlannedTeam]
    sources: dict[str, list[str]] = field(default_factory=dict)

    @property
    def added(self) -> list[PlannedTeam]:
        had = {(t.managed_by, username_key(t.name)) for t in self.before}
        return [t for t in self.after if (t.managed_by, username_key(t.name)) not in had]

    @property
    def removed(self) -> list[PlannedTeam]:
        has = {(t.managed_by, username_key(t.name)) for t in self.after}
        return [t for t in self.before if (t.managed_by, username_key(t.name)) not in has]


def _planned(row: TeamRow) -> PlannedTeam:
    return PlannedTeam(row.name, row.managed_by, row.id)


class MembershipEngine:
    """Computes and records users' teams from SCIM, IdP logins and admins (one per app)."""

    def __init__(self, storage: Storage, teams: Mapping[str, TeamSettings] | None = None) -> None:
        self.storage = storage
        # Team names compare case-insensitively (as SCIM's displayName uniqueness does).
        self._teams = {username_key(name): team for name, team in (teams or {}).items()}

    def ref(self, source: str, name: str) -> TeamRef:
        """The team `source` means by `name`: the configured shared team when the
        configuration lists `source` for it, otherwise `source`'s own team of that name."""
        team = self._teams.get(username_key(name))
        if team is None or source not in team.sources:
            return TeamRef.own(source, name)
        owner = team.owner
        return TeamRef(name, owner, (owner, *(s for s in team.sources if s != owner)))

    @staticmethod
    def login_groups(identity: Identity) -> list[str]:
        return list(dict.fromkeys(g[:MAX_TEAM_NAME] for g in identity.groups if g))[:MAX_GROUPS]

    def _login_refs(self, identity: Identity) -> tuple[str, list[TeamRef]]:
        source = idp_source(identity.connector_id)
        return source, [self.ref(source, name) for name in self.login_groups(identity)]

    def apply_login(self, user_id: str, identity: Identity) -> list[str]:
        """Record what this login's groups say (they replace the connector's last word)."""
        source, refs = self._login_refs(identity)
        try:
            return self.storage.teams.set_user_teams(user_id, source, refs)
        except Conflict:
            # Another login created one of these teams at the same moment: it exists now.
            return self.storage.teams.set_user_teams(user_id, source, refs)

    def plan_login(self, user_id: str | None, identity: Identity) -> MembershipPlan:
        """What `apply_login` would do to the user's teams, writing nothing (a new user
        when `user_id` is None)."""
        source, refs = self._login_refs(identity)
        before = [] if user_id is None else self.storage.teams.teams_of(user_id)
        words = {} if user_id is None else self.storage.teams.words_of(user_id)
        others = {tid for s, ids in words.items() if s != source for tid in ids}
        after: dict[str, PlannedTeam] = {}
        for row in before:
            if row.id in others:
                after[row.id] = _planned(row)
        for ref in refs:
            found = self.storage.teams.find(ref)
            planned = (
                _planned(found) if found is not None else PlannedTeam(ref.name, ref.owner, None)
            )
            after[planned.id or f"new:{ref.owner}/{username_key(ref.name)}"] = planned
        ordered = sorted(after.values(), key=lambda t: (username_key(t.name), t.managed_by))
        return MembershipPlan(
            [_planned(r) for r in before], ordered, {source: [r.name for r in refs]}
        )

    def add_local(self, name: str, user_id: str) -> str:
        """An administrator puts the user in team `name` (created, owned `local`, if none)."""
        ref = self.ref(LOCAL, name)
        try:
            return self.storage.teams.add_member(ref, user_id, LOCAL)
        except Conflict:
            return self.storage.teams.add_member(ref, user_id, LOCAL)

    def configured(self, name: str) -> bool:
        """Whether `teams.<name>` configures a team of this name (its sources find it by
        name, so renaming it would split it from them)."""
        return username_key(name) in self._teams

    def feeds(self, source: str, team_id: str) -> bool:
        """Whether `source`'s word counts for this team: the team is the one `source` means
        by its name (its own, or a configured shared team listing `source`)."""
        row = self.storage.teams.get(team_id)
        if row is None:
            return False
        found = self.storage.teams.find(self.ref(source, row.name))
        return found is not None and found.id == team_id

    def add_local_to(self, team_id: str, user_id: str) -> bool:
        """An administrator puts the user in this team; False if the team is not one an
        administrator's word counts for (a SCIM group or login team not shared with
        `local`), which is left unchanged."""
        row = self.storage.teams.get(team_id)
        if row is None or not self.feeds(LOCAL, team_id):
            return False
        return self.storage.teams.add_member(self.ref(LOCAL, row.name), user_id, LOCAL) == team_id

    def remove_local(self, team_id: str, user_id: str) -> None:
        """An administrator's word is withdrawn; other sources' words stay."""
        self.storage.teams.remove_member(team_id, user_id, LOCAL)

    def teams_of(self, user_id: str) -> list[TeamRow]:
        return self.storage.teams.teams_of(user_id)
