"""The SCIM Groups of one provisioning source (RFC 7643 §4.2): the directory's Teams. (The
team→role templates are not written here: `directory/roles.py` applies them to every team,
however it was made, when it computes a user's roles.)

Membership changes run as set operations in SQL, whatever their size (a Team can hold 10,000
members): PostgreSQL takes the ids as one array parameter (`= ANY`, `INSERT ... SELECT
unnest`), SQLite as one statement over many parameter sets. A member id that is not a User
of this source is skipped and recorded, not refused (`_add_members`).

Members are this source's word (`team_member_sources`, source `scim:<source>`); the team's
materialized `team_members` follow in the same transaction (`storage/teams.py`). A group's
team is the one `team_ref` names: this source's own team of that displayName, or a team
shared with a login connector (`teams.<name>.sources`), which this source attaches to
rather than refusing with a 409 (`create`), and detaches from on DELETE unless it owns it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from scim2_models.path import FilterNode
from sqlalchemy import String, bindparam, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authbridge.clock import utcnow
from authbridge.storage.models import Team, TeamMember, TeamMemberSource
from authbridge.storage.scim.columns import group_columns
from authbridge.storage.scim.errors import StoreConflict
from authbridge.storage.scim.filter_sql import Column, FilterToSql
from authbridge.storage.scim.portable_sql import one_of
from authbridge.storage.scim.store import ResourceStore, Versions, chunks, dialect_name, iso
from authbridge.storage.scim.values import casefold_key
from authbridge.storage.scim_models import ScimGroup, ScimUser
from authbridge.storage.teams import TeamRef, find_team, lock_teams, materialize, team_key
from authbridge.storage.upsert import insert_for

__all__ = ["GROUP_COLUMN_ATTRS", "GroupFields", "GroupStore", "MemberChange", "group_audit"]

log = structlog.get_logger("authbridge.scim")
GROUP_COLUMN_ATTRS = ("id", "meta", "schemas", "displayName", "externalId", "members")


@dataclass
class MemberChange:
    """One membership operation: `add`/`remove` ids, `replace` the set, or `remove` by filter."""

    op: Literal["add", "remove", "replace"]
    values: list[str] = field(default_factory=list)
    filter: FilterNode | None = None
    everyone: bool = False  # `remove` of "members" with no value: empty the group


@dataclass(frozen=True)
class GroupFields:
    """A group as a write stores it: its name, externalId, and the resource as scim2-models
    dumps it (members aside: they change through `MemberChange`s)."""

    name: str
    external_id: str | None
    dumped: dict[str, Any]


class _DryRun(Exception):
    """Raised inside a dry run's transaction so that it rolls back, carrying its result."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("dry run")
        self.result = result


# A write's change: the group as it is (without meta and members) -> the group as it will be.
GroupChange = Callable[[dict[str, Any]], GroupFields]


def group_audit(group: dict[str, Any]) -> dict[str, Any]:
    """A group's audit snapshot: attributes and member ids (not their display names)."""
    snapshot = {k: v for k, v in group.items() if k not in ("members", "meta")}
    snapshot["version"] = group["meta"]["version"]
    if "members" in group:
        snapshot["members"] = [m["value"] for m in group["members"]]
    return snapshot


class GroupStore(ResourceStore):
    """Groups (Teams) of one provisioning source."""

    resource_type = "Group"
    row = Team
    scim_row = ScimGroup
    row_id = Team.id
    scim_key = ScimGroup.team_id

    def __init__(
        self,
        *args: Any,
        team_ref: Callable[[str, str], TeamRef] = TeamRef.own,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.schema = str(self.model.__schema__)
        self.columns = group_columns(self.source, self.base_url)
        self.sort_columns = self.columns
        # The membership source this store writes as, and the team a displayName means.
        self.key = f"scim:{self.source}"
        self.team_ref = team_ref

    def _mine(self, team_id: str) -> Any:
        """This source's membership rows of one team."""
        return (TeamMemberSource.team_id == team_id, TeamMemberSource.source == self.key)

    def _snapshot(self, resource: dict[str, Any]) -> dict[str, Any]:
        return group_audit(resource)

    def _represent(self, team: Team, scim: ScimGroup, members: list[str] | None) -> dict[str, Any]:
        data = dict(scim.attributes)
        data.update(schemas=[self.schema], id=team.id, displayName=team.name)
        if scim.external_id is not None:
            data["externalId"] = scim.external_id
        if members:
            data["members"] = [
                {"value": uid, "$ref": f"{self.base_url}/Users/{uid}", "type": "User"}
                for uid in members
            ]
        data["meta"] = {
            "resourceType": "Group",
            "created": iso(scim.created_at),
            "lastModified": iso(scim.modified_at),
            "location": f"{self.base_url}/Groups/{team.id}",
            "version": f'W/"{scim.version}"',
        }
        return data

    def _related(self, session: Session, team_ids: Sequence[str]) -> dict[str, list[str]]:
        """Member ids per team. No display: a member's display is not kept (it would have to
        be the client's own string to round-trip), so none is invented either."""
        found: dict[str, list[str]] = {tid: [] for tid in team_ids}
        for chunk in chunks(list(team_ids)):
            rows = session.execute(
                select(TeamMemberSource.team_id, TeamMemberSource.user_id)
                .where(
                    TeamMemberSource.source == self.key,
                    one_of(TeamMemberSource.team_id, chunk, dialect_name(session)),
                )
                .order_by(TeamMemberSource.team_id, TeamMemberSource.user_id)
            )
            for tid, uid in rows:
                found[tid].append(uid)
        return found

    def _skipped(self, team_id: str, skipped: list[str]) -> dict[str, Any]:
        """The audit row's warning (and a log line) for member ids skipped as unknown."""
        if not skipped:
            return {}
        warning = f"{len(skipped)} member id(s) skipped: not Users provisioned by {self.source}"
        log.warning(
            "scim_members_skipped",
            source=self.source,
            group=team_id,
            count=len(skipped),
            sample=skipped[:5],
        )
        return {"membersSkipped": skipped, "warnings": [warning]}

    def _unknown_members(self, session: Session, ids: Sequence[str]) -> list[str]:
        """The ids that are not Users this source provisioned (it sees no other)."""
        wanted = set(ids)
        known: set[str] = set()
        for chunk in chunks(sorted(wanted)):
            known.update(
                session.scalars(
                    select(ScimUser.user_id).where(
                        ScimUser.source == self.source,
                        one_of(ScimUser.user_id, chunk, dialect_name(session)),
                    )
                )
            )
        return sorted(wanted - known)

    def _add_members(self, session: Session, team_id: str, ids: Sequence[str]) -> list[str]:
        """Add the known Users among `ids`; return the unknown ids, which are skipped.

        Skipped, not refused: an IdP retries a 400 and, after a few, quarantines the whole
        provisioning job (Entra, Okta), so one member it has not pushed yet (or deleted
        meanwhile) would stop every other change. The caller records the skipped ids."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return []
        unknown = self._unknown_members(session, unique)
        if unknown:
            skip = set(unknown)
            unique = [uid for uid in unique if uid not in skip]
            if not unique:
                return unknown
        add = insert_for(session, TeamMemberSource)
        if dialect_name(session) == "postgresql":
            # One statement, one array parameter, one round trip, whatever the count.
            members = bindparam(None, unique, type_=ARRAY(String))
            rows = select(literal(team_id, String), func.unnest(members), literal(self.key, String))
            statement = add.from_select(["team_id", "user_id", "source"], rows)
            session.connection().execute(statement.on_conflict_do_nothing())
            return unknown
        # One statement over many parameter sets: it compiles once, where a 10,000-row VALUES
        # list compiled anew each time cost two thirds of a large PATCH.
        session.connection().execute(
            add.on_conflict_do_nothing(),
            [{"team_id": team_id, "user_id": uid, "source": self.key} for uid in unique],
        )
        return unknown

    def _team_for(self, session: Session, name: str, team_id: str | None) -> Team | None:
        """The existing team `name` means for this source, if another group may not take
        it (StoreConflict: this source has a group of that name already); None when the
        name is free. A team shared with a login connector and not yet a group is returned
        for the group to attach to."""
        found = find_team(session, self.team_ref(self.key, name))
        if found is None or found.id == team_id:
            return None
        grouped = session.scalar(select(ScimGroup.team_id).where(ScimGroup.team_id == found.id))
        if grouped is not None or team_id is not None:
            raise StoreConflict(f"displayName {name!r} is already in use", "displayName")
        return found

    def _check_unique(
        self, session: Session, name: str, external_id: str | None, team_id: str | None
    ) -> Team | None:
        shared = self._team_for(session, name, team_id)
        if external_id is not None:
            other = session.scalar(
                select(ScimGroup.team_id).where(
                    ScimGroup.source == self.source, ScimGroup.external_id == external_id
                )
            )
            if other is not None and other != team_id:
                raise StoreConflict(f"externalId {external_id!r} is already in use", "externalId")
        return shared

    def create(self, group: GroupFields, member_ids: list[str], *, actor: str) -> dict[str, Any]:
        """RFC 7644 §3.3: store a new Group (a Team) with its members; StoreConflict on a
        taken name or externalId."""
        team_id = str(uuid.uuid4())
        now = utcnow()
        try:
            with self.storage.db.session() as session:
                shared = self._check_unique(session, group.name, group.external_id, None)
                if shared is None:
                    ref = self.team_ref(self.key, group.name)
                    team = Team(
                        id=team_id,
                        name=group.name,
                        name_key=team_key(ref.owner, group.name),
                        name_fold=casefold_key(group.name)[:256],
                        source=ref.owner,
                        managed_by=ref.owner,
                        created_at=now,
                    )
                    session.add(team)
                    session.flush()
                else:
                    # Configured as one team with a login connector: join it (its members
                    # from logins stay; this group's are added beside them).
                    team, team_id = shared, shared.id
                    lock_teams(session, [team_id])
                scim = ScimGroup(
                    team_id=team_id,
                    source=self.source,
                    external_id=group.external_id,
                    attributes=self._stored(group.dumped, GROUP_COLUMN_ATTRS),
                    version=1,
                    created_at=now,
                    modified_at=now,
                )
                session.add(scim)
                skipped = self._add_members(session, team_id, member_ids)
                materialize(session, team_id=team_id)
                members = self._related(session, [team_id])[team_id]
                result = self._represent(team, scim, members)
                audit_after = group_audit(result)
                audit_after.update(self._skipped(team_id, skipped))
                self._record(session, actor, "create", team_id, None, audit_after)
        except IntegrityError:
            raise StoreConflict("displayName or externalId is already in use") from None
        return result

    def get(self, team_id: str, *, with_members: bool = True) -> dict[str, Any]:
        """RFC 7644 §3.4.1: one Group of this source; ResourceMissing if there is none."""
        with self.storage.db.session() as session:
            team, scim = self._load(session, team_id)
            members = self._related(session, [team_id])[team_id] if with_members else None
            return self._represent(team, scim, members)

    def update(
        self,
        team_id: str,
        change: GroupChange,
        member_changes: list[MemberChange],
        *,
        actor: str,
        action: str,
        expected: Versions = None,
        with_members: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """RFC 7644 §3.5: apply `change` and the membership changes to the Group under its
        version lock, if its version is one of `expected` (VersionMismatch otherwise).

        `dry_run`: do it all, then roll back; the result also says whose membership of the
        team would change (`teamMembersAdded`/`teamMembersRemoved`, after every source)."""
        try:
            with self.storage.db.session() as session:
                team, scim, _, before = self._locked(session, team_id, expected, related=False)
                lock_teams(session, [team_id])
                in_team = select(TeamMember.user_id).where(TeamMember.team_id == team_id)
                had = set(session.scalars(in_team)) if dry_run else set()
                current = {k: v for k, v in before.items() if k not in ("meta", "members")}
                group = change(current)
                # Only the owner renames a team (a shared team keeps its configured name).
                owner = team.managed_by == self.key
                self._check_unique(
                    session, group.name if owner else team.name, group.external_id, team_id
                )
                added, removed, skipped = self._change_members(session, team_id, member_changes)
                materialize(session, team_id=team_id)
                now = utcnow()
                if owner and group.name != team.name:
                    session.execute(
                        update(Team)
                        .where(Team.id == team_id)
                        .values(
                            name=group.name,
                            name_key=team_key(self.key, group.name),
                            name_fold=casefold_key(group.name)[:256],
                        )
                    )
                session.execute(
                    update(ScimGroup)
                    .where(ScimGroup.team_id == team_id)
                    .values(
                        external_id=group.external_id,
                        attributes=self._stored(group.dumped, GROUP_COLUMN_ATTRS),
                        modified_at=now,
                    )
                )
                team, scim = self._load(session, team_id)
                members = self._related(session, [team_id])[team_id] if with_members else None
                after = self._represent(team, scim, members)
                audit_after = group_audit(after)
                audit_after.update(membersAdded=added, membersRemoved=removed)
                audit_after.update(self._skipped(team_id, skipped))
                self._record(session, actor, action, team_id, group_audit(before), audit_after)
                if dry_run:
                    has = set(session.scalars(in_team))
                    after["teamMembersAdded"] = sorted(has - had)
                    after["teamMembersRemoved"] = sorted(had - has)
                    raise _DryRun(after)
        except IntegrityError:
            raise StoreConflict("displayName or externalId is already in use") from None
        except _DryRun as done:
            return done.result
        return after

    def _change_members(
        self, session: Session, team_id: str, changes: list[MemberChange]
    ) -> tuple[list[str], list[str], list[str]]:
        """Apply membership operations in order; return the ids added, removed, and skipped
        (asked to be added but not Users of this source)."""
        added: list[str] = []
        removed: list[str] = []
        skipped: list[str] = []
        in_team = self._mine(team_id)
        for change in changes:
            if change.op == "add":
                unknown = set(self._add_members(session, team_id, change.values))
                skipped.extend(sorted(unknown))
                added.extend(uid for uid in change.values if uid not in unknown)
            elif change.op == "replace":
                wanted = list(dict.fromkeys(change.values))
                current = set(session.scalars(select(TeamMemberSource.user_id).where(*in_team)))
                gone = sorted(current - set(wanted))
                self._remove_members(session, in_team, gone)
                new = [uid for uid in wanted if uid not in current]
                unknown = set(self._add_members(session, team_id, new))
                skipped.extend(sorted(unknown))
                added.extend(uid for uid in new if uid not in unknown)
                removed.extend(gone)
            elif change.everyone:
                removed.extend(session.scalars(select(TeamMemberSource.user_id).where(*in_team)))
                session.execute(delete(TeamMemberSource).where(*in_team))
            elif change.filter is not None:
                # `members[value eq "..."]` (§3.5.2.2): UnsupportedFilter if it names more.
                condition = FilterToSql({"value": Column(TeamMemberSource.user_id)}).visit(
                    change.filter
                )
                gone = list(
                    session.scalars(select(TeamMemberSource.user_id).where(*in_team, condition))
                )
                session.execute(delete(TeamMemberSource).where(*in_team, condition))
                removed.extend(gone)
            else:
                self._remove_members(session, in_team, list(dict.fromkeys(change.values)))
                removed.extend(change.values)
        return added, removed, list(dict.fromkeys(skipped))

    @staticmethod
    def _remove_members(session: Session, in_team: Any, ids: Sequence[str]) -> None:
        for chunk in chunks(ids):
            session.execute(
                delete(TeamMemberSource).where(
                    *in_team, one_of(TeamMemberSource.user_id, chunk, dialect_name(session))
                )
            )

    def delete(self, resource_id: str, *, actor: str, expected: Versions = None) -> None:
        """RFC 7644 §3.6: delete the Group. The team goes with it when this source owns it;
        a team it only feeds (shared with a login connector) stays, without this source's
        members."""
        with self.storage.db.session() as session:
            team, _, _, before = self._locked(session, resource_id, expected, related=True)
            lock_teams(session, [resource_id])
            if team.managed_by == self.key:
                session.execute(delete(Team).where(Team.id == resource_id))
            else:
                session.execute(delete(ScimGroup).where(ScimGroup.team_id == resource_id))
                session.execute(delete(TeamMemberSource).where(*self._mine(resource_id)))
                materialize(session, team_id=resource_id)
            self._record(session, actor, "delete", resource_id, self._snapshot(before), None)
