"""Teams and their membership, per source (the persistence of `directory/membership.py`).

A team is owned by one membership source, `managed_by`: `scim:<source>` (a SCIM group),
`idp:<connector>` (a group in that IdP's login claims) or `local` (an admin's). Its key is
`team_key(managed_by, name)`, so two sources can each have a team called "Engineering" with
distinct ids, and neither blocks the other. A team configured with several sources
(`teams.<name>.sources`) is one team: every listed source finds it by name (`TeamRef`).

Each source's word is a row of `team_member_sources` (team, user, source); `team_members`,
which every reader uses, is materialized from them in the same transaction: a user is in a
team while at least one source says so. Writers lock the team rows they change (PostgreSQL
`FOR UPDATE`, in id order; SQLite's write lock already serialises) so that a login and a
SCIM PATCH of the same team cannot leave the two tables disagreeing.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authbridge.storage.database import Database
from authbridge.storage.errors import Conflict
from authbridge.storage.models import Team, TeamMember, TeamMemberSource
from authbridge.storage.upsert import insert_for
from authbridge.storage.users import username_key

__all__ = ["TeamRef", "TeamRow", "TeamStore", "lock_teams", "materialize", "team_key"]

LOCAL = "local"


def team_key(managed_by: str, name: str) -> str:
    """The unique key of a team: its owner and its case-insensitive name."""
    return f"{managed_by}/{username_key(name)}"


@dataclass(frozen=True)
class TeamRef:
    """A team as a source names it: `name`, the source that owns it when it has to be
    created (`owner`), and every source whose team of that name is this team, in order of
    precedence (`accepted`, the owner first)."""

    name: str
    owner: str
    accepted: tuple[str, ...]

    @classmethod
    def own(cls, source: str, name: str) -> TeamRef:
        """A team only `source` feeds (no `teams.<name>` configuration)."""
        return cls(name, source, (source,))


@dataclass(frozen=True)
class TeamRow:
    id: str
    name: str
    managed_by: str


def find_team(session: Session, ref: TeamRef) -> Team | None:
    """The team `ref` names: the first accepted source's team of that name."""
    keys = [team_key(source, ref.name) for source in ref.accepted]
    found = {t.name_key: t for t in session.scalars(select(Team).where(Team.name_key.in_(keys)))}
    return next((found[k] for k in keys if k in found), None)


def new_team(session: Session, ref: TeamRef) -> Team:
    """Insert the team `ref` names, owned by `ref.owner` (IntegrityError if a concurrent
    writer created it first)."""
    team = Team(
        id=str(uuid.uuid4()),
        name=ref.name,
        name_key=team_key(ref.owner, ref.name),
        name_fold=username_key(ref.name)[:256],
        source=ref.owner,
        managed_by=ref.owner,
    )
    session.add(team)
    session.flush()
    return team


def lock_teams(session: Session, team_ids: Iterable[str]) -> None:
    """Row-lock teams before changing their membership, in id order (no deadlock between
    two writers); SQLite has one writer at a time already."""
    ids = sorted(set(team_ids))
    if ids and session.get_bind().dialect.name == "postgresql":
        session.execute(select(Team.id).where(Team.id.in_(ids)).order_by(Team.id).with_for_update())


def materialize(
    session: Session, *, team_id: str | None = None, user_id: str | None = None
) -> None:
    """Make `team_members` the union of the sources' rows for one team or one user, with
    two set statements whatever the size (a SCIM group can hold 10,000 members)."""
    words = select(TeamMemberSource.team_id, TeamMemberSource.user_id).distinct()
    members = delete(TeamMember)
    if team_id is not None:
        words = words.where(TeamMemberSource.team_id == team_id)
        members = members.where(TeamMember.team_id == team_id)
    if user_id is not None:
        words = words.where(TeamMemberSource.user_id == user_id)
        members = members.where(TeamMember.user_id == user_id)
    session.execute(
        insert_for(session, TeamMember)
        .from_select(["team_id", "user_id"], words)
        .on_conflict_do_nothing()
    )
    unsupported = ~exists().where(
        TeamMemberSource.team_id == TeamMember.team_id,
        TeamMemberSource.user_id == TeamMember.user_id,
    )
    session.execute(members.where(unsupported))


class TeamStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def set_user_teams(self, user_id: str, source: str, refs: Sequence[TeamRef]) -> list[str]:
        """Make `source`'s word about the user exactly the teams `refs` name, creating the
        missing ones; return their ids. Conflict if a concurrent writer created one of them
        at the same moment (the caller tries again: it will find it)."""
        try:
            with self._db.session() as session:
                wanted: list[str] = []
                for ref in refs:
                    team = find_team(session, ref) or new_team(session, ref)
                    wanted.append(team.id)
                mine = (TeamMemberSource.user_id == user_id, TeamMemberSource.source == source)
                current = set(session.scalars(select(TeamMemberSource.team_id).where(*mine)))
                target = set(wanted)
                lock_teams(session, current | target)
                if current - target:
                    session.execute(
                        delete(TeamMemberSource).where(
                            *mine, TeamMemberSource.team_id.in_(current - target)
                        )
                    )
                for team_id in sorted(target - current):
                    session.add(TeamMemberSource(team_id=team_id, user_id=user_id, source=source))
                session.flush()
                materialize(session, user_id=user_id)
        except IntegrityError as exc:
            raise Conflict("a team was created concurrently") from exc
        return list(dict.fromkeys(wanted))

    def add_member(self, ref: TeamRef, user_id: str, source: str = LOCAL) -> str:
        """`source` (an admin: `local`) puts the user in the team, created if missing."""
        try:
            with self._db.session() as session:
                team = find_team(session, ref) or new_team(session, ref)
                lock_teams(session, [team.id])
                session.execute(
                    insert_for(session, TeamMemberSource)
                    .values(team_id=team.id, user_id=user_id, source=source)
                    .on_conflict_do_nothing()
                )
                materialize(session, team_id=team.id, user_id=user_id)
                return team.id
        except IntegrityError as exc:
            raise Conflict("a team was created concurrently") from exc

    def remove_member(self, team_id: str, user_id: str, source: str = LOCAL) -> None:
        """`source` no longer puts the user in the team (others may still)."""
        with self._db.session() as session:
            lock_teams(session, [team_id])
            session.execute(
                delete(TeamMemberSource).where(
                    TeamMemberSource.team_id == team_id,
                    TeamMemberSource.user_id == user_id,
                    TeamMemberSource.source == source,
                )
            )
            materialize(session, team_id=team_id, user_id=user_id)

    def find(self, ref: TeamRef) -> TeamRow | None:
        """The team `ref` names, if it exists (a dry run creates nothing)."""
        with self._db.session() as session:
            team = find_team(session, ref)
            return None if team is None else TeamRow(team.id, team.name, team.managed_by)

    def teams_of(self, user_id: str) -> list[TeamRow]:
        """The user's teams (materialized membership), by name."""
        with self._db.session() as session:
            rows = session.execute(
                select(Team.id, Team.name, Team.managed_by)
                .join(TeamMember, TeamMember.team_id == Team.id)
                .where(TeamMember.user_id == user_id)
                .order_by(Team.name_fold, Team.managed_by)
            )
            return [TeamRow(*row) for row in rows]

    def words_of(self, user_id: str, sources: Collection[str] | None = None) -> dict[str, set[str]]:
        """Each source's team ids for the user (what the materialized membership is made of)."""
        found: dict[str, set[str]] = {}
        with self._db.session() as session:
            query = select(TeamMemberSource.source, TeamMemberSource.team_id).where(
                TeamMemberSource.user_id == user_id
            )
            if sources is not None:
                query = query.where(TeamMemberSource.source.in_(list(sources)))
            for source, team_id in session.execute(query):
                found.setdefault(source, set()).add(team_id)
        return found

    def get(self, team_id: str) -> TeamRow | None:
        with self._db.session() as session:
            team = session.get(Team, team_id)
            return None if team is None else TeamRow(team.id, team.name, team.managed_by)
