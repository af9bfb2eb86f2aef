"""Teams as administrators see them: listed, read, created, renamed, described, deleted, and
their members with the sources that hold each membership (`team_member_sources`).

Lists are keyset-paginated (never OFFSET): teams by (case-insensitive name, id), members by
(username key, user id). A team's version (its ETag) is a digest of what an administrator
can change and what decides whether they may (name, description, managing source), so a
SCIM rename also invalidates an administrator's `If-Match`; it is compared inside the
write's transaction, with the row locked on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authbridge.storage.database import Database
from authbridge.storage.errors import Conflict, StorageError
from authbridge.storage.models import Team, TeamMember, TeamMemberSource, User
from authbridge.storage.scim_models import ScimGroup
from authbridge.storage.teams import TeamRef, find_team, new_team, team_key
from authbridge.storage.users import username_key

__all__ = ["MemberRow", "StaleVersion", "TeamAdminStore", "TeamInfo"]


class StaleVersion(StorageError):
    """The team changed since the version the writer read (RFC 9110 §13.1.1)."""


@dataclass(frozen=True)
class TeamInfo:
    id: str
    name: str
    description: str | None
    managed_by: str
    external_id: str | None
    member_count: int
    created_at: datetime

    @property
    def version(self) -> str:
        raw = "\x1f".join((self.name, self.description or "", self.managed_by))
        return hashlib.sha256(raw.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class MemberRow:
    """A member and the sources whose word holds the membership (`scim:okta`, `local`...)."""

    user_id: str
    username: str
    sources: tuple[str, ...]


def _counts() -> Select[str, int]:
    return select(TeamMember.team_id, func.count().label("n")).group_by(TeamMember.team_id)


def _info_query() -> Select[Team, str, int]:
    counts = _counts().subquery()
    return (
        select(Team, ScimGroup.external_id, counts.c.n)
        .outerjoin(ScimGroup, ScimGroup.team_id == Team.id)
        .outerjoin(counts, counts.c.team_id == Team.id)
    )


def _info(team: Team, external_id: str | None, count: int | None) -> TeamInfo:
    return TeamInfo(
        id=team.id,
        name=team.name,
        description=team.description,
        managed_by=team.managed_by,
        external_id=external_id,
        member_count=int(count or 0),
        created_at=team.created_at,
    )


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class TeamAdminStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def page(
        self,
        *,
        q: str | None = None,
        managed_by: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> list[TeamInfo]:
        """Up to `limit` teams after the key `after` (name_fold, id), by that key; `q`
        matches a part of the name, case-insensitively."""
        query = _info_query()
        if q:
            query = query.where(Team.name_fold.like(_like(username_key(q)), escape="\\"))
        if managed_by is not None:
            query = query.where(Team.managed_by == managed_by)
        if after is not None:
            fold, team_id = after
            query = query.where(
                or_(Team.name_fold > fold, and_(Team.name_fold == fold, Team.id > team_id))
            )
        query = query.order_by(Team.name_fold, Team.id).limit(limit)
        with self._db.session() as session:
            return [_info(*row) for row in session.execute(query)]

    def get(self, team_id: str) -> TeamInfo | None:
        with self._db.session() as session:
            return self._get(session, team_id)

    @staticmethod
    def _get(session: Session, team_id: str) -> TeamInfo | None:
        row = session.execute(_info_query().where(Team.id == team_id)).first()
        return None if row is None else _info(*row)

    def create(self, ref: TeamRef, description: str | None = None) -> TeamInfo:
        """A new team `ref` names; Conflict if it exists (also when created concurrently)."""
        try:
            with self._db.session() as session:
                if find_team(session, ref) is not None:
                    raise Conflict(f"team {ref.name!r} exists")
                team = new_team(session, ref)
                team.description = description
                session.flush()
                return _info(team, None, 0)
        except IntegrityError as exc:
            raise Conflict(f"team {ref.name!r} exists") from exc

    def update(
        self,
        team_id: str,
        *,
        expected: str | None,
        name: str | None = None,
        description: str | None = None,
        clear_description: bool = False,
    ) -> tuple[TeamInfo, TeamInfo] | None:
        """Rename and/or describe the team if its version is still `expected` (`*` or None:
        any); (before, after), None if there is no such team. StaleVersion on a mismatch,
        Conflict if the new name is its managing source's name of another team."""
        try:
            with self._db.session() as session:
                team = session.scalars(
                    select(Team).where(Team.id == team_id).with_for_update()
                ).first()
                if team is None:
                    return None
                before = self._get(session, team_id)
                assert before is not None
                if expected not in (None, "*") and expected != before.version:
                    raise StaleVersion("the team changed since it was read")
                if name is not None and name != team.name:
                    team.name = name
                    team.name_key = team_key(team.managed_by, name)
                    team.name_fold = username_key(name)[:256]
                if description is not None or clear_description:
                    team.description = description
                session.flush()
                after = self._get(session, team_id)
                assert after is not None
                return before, after
        except IntegrityError as exc:
            raise Conflict(f"another team is named {name!r}") from exc

    def delete(self, team_id: str) -> TeamInfo | None:
        """Delete the team (its memberships and bindings go with it: foreign key cascades)."""
        with self._db.session() as session:
            info = self._get(session, team_id)
            team = session.get(Team, team_id)
            if team is None:
                return None
            session.delete(team)
            return info

    def members(
        self, team_id: str, *, after: tuple[str, str] | None = None, limit: int = 50
    ) -> list[MemberRow]:
        """Up to `limit` members after the key `after` (username key, user id), by that key."""
        query = (
            select(User.id, User.username)
            .join(TeamMember, TeamMember.user_id == User.id)
            .where(TeamMember.team_id == team_id)
        )
        if after is not None:
            key, user_id = after
            query = query.where(
                or_(User.username_key > key, and_(User.username_key == key, User.id > user_id))
            )
        query = query.order_by(User.username_key, User.id).limit(limit)
        with self._db.session() as session:
            users = list(session.execute(query))
            sources = self._sources(session, team_id, [u for u, _ in users])
        return [MemberRow(u, name, tuple(sorted(sources.get(u, ())))) for u, name in users]

    def member(self, team_id: str, user_id: str) -> MemberRow | None:
        """The membership with its sources; None if no source holds it."""
        with self._db.session() as session:
            user = session.get(User, user_id)
            sources = self._sources(session, team_id, [user_id]).get(user_id)
            if user is None or not sources:
                return None
            return MemberRow(user_id, user.username, tuple(sorted(sources)))

    @staticmethod
    def _sources(session: Session, team_id: str, user_ids: Sequence[str]) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        if not user_ids:
            return found
        rows = session.execute(
            select(TeamMemberSource.user_id, TeamMemberSource.source).where(
                TeamMemberSource.team_id == team_id,
                TeamMemberSource.user_id.in_(list(user_ids)),
            )
        )
        for user_id, source in rows:
            found.setdefault(user_id, set()).add(source)
        return found
