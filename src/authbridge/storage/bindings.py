"""Role bindings: a role given to a user or a team at a scope (`role_bindings`).

The one table of who holds which role where. `directory/roles.py` (`RoleBindings`) is the
service over it: it checks role names against the catalog before anything is written,
and computes effective roles from `Grants`, the rows one user's roles are made of (direct
bindings, bindings of the user's teams, and the teams themselves for the configured
team→role templates), read in one statement (`grant_rows_sql`), which the OpenID Provider's
hot path extends with the user's own row (`provider_store.Q_SUBJECT`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authbridge.clock import utcnow
from authbridge.storage.database import Database
from authbridge.storage.errors import Conflict, StorageError
from authbridge.storage.hot import HotStatement
from authbridge.storage.models import RoleBinding, Team, TeamMember, User
from authbridge.storage.upsert import insert_for

__all__ = [
    "BindingRow",
    "Grants",
    "LastHolder",
    "RoleBindingStore",
    "TeamRef",
    "binding_rows",
    "grant_rows_sql",
    "grants_of_rows",
    "load_grants",
    "principal_key",
]

SYSTEM = "system"


def grant_rows_sql(user: str) -> str:
    """A user's bindings (direct and through teams) and teams (with the SCIM externalId a
    scope template may read) as rows (k, a, b, c, d, e, f) of one statement; `user` is the
    SQL expression of the user's id (a `:parameter`, or a sub-select of a larger statement:
    `provider_store` puts the user's own row before these, in one round trip, and the
    refresh rotation reads them in the same statement that rotates the token).
    `UNION ALL`: duplicates are harmless (the caller builds sets) and cheaper than the sort
    a UNION costs. `e` and `f` are the user row's (NULL here)."""
    return (
        # Composed only of constants of this package (`user` is never a request's value).
        f"SELECT 'b' AS k, rb.role AS a, rb.scope AS b, NULL AS c, NULL AS d, NULL AS e,"  # noqa: S608
        f" NULL AS f FROM role_bindings rb WHERE rb.user_id = {user}"
        f" UNION ALL SELECT 'b', rb.role, rb.scope, rb.team_id, NULL, NULL, NULL"
        f" FROM role_bindings rb JOIN team_members tm ON tm.team_id = rb.team_id"
        f" WHERE tm.user_id = {user}"
        f" UNION ALL SELECT 't', t.id, t.name, sg.external_id, t.managed_by, NULL, NULL"
        f" FROM teams t JOIN team_members tm ON tm.team_id = t.id"
        f" LEFT JOIN scim_groups sg ON sg.team_id = t.id WHERE tm.user_id = {user}"
    )


Q_GRANTS = HotStatement(grant_rows_sql(":u"))  # (on the hot path of every grant)


def grants_of_rows(rows: Iterable[Sequence[Any]]) -> Grants:
    """`Grants` from the rows of `grant_rows_sql` (rows of another kind are skipped)."""
    bindings: list[tuple[str, str]] = []
    teams: list[TeamRef] = []
    for kind, a, b, c, d, *_ in rows:
        if kind == "b":
            bindings.append((a, b))
        elif kind == "t":
            teams.append(TeamRef(a, b, c, d))
    teams.sort(key=lambda team: team.name.casefold())
    return Grants(tuple(dict.fromkeys(bindings)), tuple(teams))


def principal_key(*, user_id: str | None = None, team_id: str | None = None) -> str:
    """`user:<id>` or `team:<id>`: the principal a binding's uniqueness is keyed on."""
    if (user_id is None) == (team_id is None):
        raise ValueError("a binding is given to exactly one user or one team")
    return f"user:{user_id}" if user_id is not None else f"team:{team_id}"


@dataclass(frozen=True)
class TeamRef:
    """A team as a scope template sees it."""

    id: str
    name: str
    external_id: str | None = None
    # The membership source that manages the team (`scim:okta`, `idp:okta`, `local`).
    managed_by: str | None = None


@dataclass(frozen=True)
class Grants:
    """What one user's roles are computed from: (role, scope) pairs bound to the user or to
    one of the user's teams, and the teams."""

    bindings: tuple[tuple[str, str], ...] = ()
    teams: tuple[TeamRef, ...] = ()


def load_grants(conn: Connection, user_id: str) -> Grants:
    """A user's `Grants`, in one statement on the caller's connection (and transaction)."""
    return grants_of_rows(Q_GRANTS.rows(conn, {"u": user_id}))


class LastHolder(StorageError):
    """Removing the binding would leave no active user holding its role at its scope."""


@dataclass(frozen=True)
class BindingRow:
    """A stored binding, with the name of its user or team for listings."""

    id: int
    role: str
    scope: str
    user_id: str | None
    team_id: str | None
    origin: str
    created_at: datetime
    username: str | None = None
    team_name: str | None = None


class RoleBindingStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(
        self,
        role: str,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        scope: str = SYSTEM,
        origin: str,
    ) -> bool:
        """Bind `role` at `scope` to the user or the team; False if that binding existed
        (its origin is kept). Conflict if the user or team does not exist."""
        row = _row(role, scope, origin, user_id=user_id, team_id=team_id)
        try:
            with self._db.session() as session:
                # RETURNING, not rowcount: psycopg reports -1 for ON CONFLICT DO NOTHING.
                inserted = session.scalars(
                    insert_for(session, RoleBinding)
                    .values(**row)
                    .on_conflict_do_nothing()
                    .returning(RoleBinding.id)
                ).all()
                return bool(inserted)
        except IntegrityError as exc:
            raise Conflict("no such user or team") from exc

    def remove(
        self,
        role: str,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        scope: str = SYSTEM,
    ) -> bool:
        """Remove one binding; False if there was none."""
        key = principal_key(user_id=user_id, team_id=team_id)
        with self._db.session() as session:
            result = session.execute(
                delete(RoleBinding).where(
                    RoleBinding.principal == key,
                    RoleBinding.role == role,
                    RoleBinding.scope == scope,
                )
            )
            return bool(getattr(result, "rowcount", 0))

    def find(
        self,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        role: str | None = None,
        scope: str | None = None,
        origin: str | None = None,
    ) -> list[BindingRow]:
        """Bindings matching every filter given, by scope, role, then principal."""
        query = _filtered(user_id, team_id, role, scope, origin).order_by(
            RoleBinding.scope, RoleBinding.role, RoleBinding.principal
        )
        with self._db.session() as session:
            return [_binding(*row) for row in session.execute(query)]

    def page(
        self,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        role: str | None = None,
        scope: str | None = None,
        origin: str | None = None,
        after: int | None = None,
        limit: int = 50,
    ) -> list[BindingRow]:
        """Up to `limit` bindings matching the filters with an id above `after`, by id (a
        keyset: stable while others are granted or revoked)."""
        query = _filtered(user_id, team_id, role, scope, origin)
        if after is not None:
            query = query.where(RoleBinding.id > after)
        query = query.order_by(RoleBinding.id).limit(limit)
        with self._db.session() as session:
            return [_binding(*row) for row in session.execute(query)]

    def get(self, binding_id: int) -> BindingRow | None:
        with self._db.session() as session:
            return _fetch(session, binding_id)

    def remove_id(self, binding_id: int, *, keep_holder: bool = False) -> BindingRow | None:
        """Remove the binding; None if there was none. With `keep_holder`, raise LastHolder
        instead when it is the last way any active user holds its role at its scope
        (directly or through a team). The role's bindings are locked first (PostgreSQL), so
        two concurrent removals cannot each leave the other's as the last one and both
        succeed; the remaining holder's user row is locked, so a concurrent disable of
        that user cannot either."""
        with self._db.session() as session:
            found = _fetch(session, binding_id)
            if found is None:
                return None
            if keep_holder:
                same = (RoleBinding.role == found.role, RoleBinding.scope == found.scope)
                session.execute(
                    select(RoleBinding.id).where(*same).order_by(RoleBinding.id).with_for_update()
                )
                others = RoleBinding.id != binding_id
                direct = select(RoleBinding.user_id).where(*same, others)
                teams = (
                    select(TeamMember.user_id)
                    .join(RoleBinding, RoleBinding.team_id == TeamMember.team_id)
                    .where(*same, others)
                )
                # The holder relied on is locked too: a concurrent disable of that user
                # (which locks the user rows, not the bindings) waits, and this read then
                # sees it inactive (PostgreSQL re-checks a locked row's WHERE), rather than
                # both writes succeeding and leaving no active holder.
                holder = session.scalar(
                    select(User.id)
                    .where(User.active.is_(True), or_(User.id.in_(direct), User.id.in_(teams)))
                    .order_by(User.id)
                    .limit(1)
                    .with_for_update()
                )
                if holder is None:
                    raise LastHolder(f"no active user would hold {found.role} at {found.scope}")
            session.execute(delete(RoleBinding).where(RoleBinding.id == binding_id))
            return found

    def grants(self, user_id: str) -> Grants:
        """The rows `user_id`'s roles are computed from, in one read."""
        with self._db.engine.connect() as conn:
            return load_grants(conn, user_id)

    def any_user_with(self, role: str, scope: str = SYSTEM) -> bool:
        """Whether some user holds `role` at `scope` by a binding of their own (the
        first-admin check: a team binding needs a team, which needs an admin first)."""
        with self._db.session() as session:
            found = session.scalar(
                select(RoleBinding.id)
                .where(
                    RoleBinding.role == role,
                    RoleBinding.scope == scope,
                    RoleBinding.user_id.is_not(None),
                )
                .limit(1)
            )
            return found is not None

    def replace_origin(
        self, origin: str, wanted: Iterable[tuple[str, str, str]]
    ) -> tuple[int, int]:
        """Make the user bindings of `origin` exactly `wanted` ((user_id, role, scope)), in
        one transaction: the configuration's bindings (`config:authorizer.initialAdmins`)
        follow the configuration at every start. A wanted binding that exists with another
        origin is left as it is. Returns (added, removed)."""
        wanted = set(wanted)
        with self._db.session() as session:
            current = {
                (user_id, role, scope)
                for user_id, role, scope in session.execute(
                    select(RoleBinding.user_id, RoleBinding.role, RoleBinding.scope).where(
                        RoleBinding.origin == origin, RoleBinding.user_id.is_not(None)
                    )
                )
            }
            stale = [(u, r, s) for u, r, s in current - wanted if u is not None]
            removed = 0
            if stale:
                result = session.execute(
                    delete(RoleBinding).where(
                        RoleBinding.origin == origin,
                        tuple_(RoleBinding.user_id, RoleBinding.role, RoleBinding.scope).in_(stale),
                    )
                )
                removed = int(getattr(result, "rowcount", 0) or 0)
            added = 0
            for user_id, role, scope in sorted(wanted - current):
                added += len(
                    session.scalars(
                        insert_for(session, RoleBinding)
                        .values(**_row(role, scope, origin, user_id=user_id))
                        .on_conflict_do_nothing()
                        .returning(RoleBinding.id)
                    ).all()
                )
            return added, removed

    def teams_named(self, name_or_id: str) -> list[TeamRef]:
        """The team with this id, or the teams with this name (case-insensitively; more than
        one when sources keep same-named teams apart)."""
        with self._db.session() as session:
            rows = session.execute(
                select(Team.id, Team.name).where(
                    or_(Team.id == name_or_id, func.lower(Team.name) == name_or_id.casefold())
                )
            )
            return [TeamRef(team_id, name) for team_id, name in rows]

    def count(self) -> int:
        with self._db.session() as session:
            return session.scalar(select(func.count()).select_from(RoleBinding)) or 0


def _filtered(
    user_id: str | None,
    team_id: str | None,
    role: str | None,
    scope: str | None,
    origin: str | None,
) -> Select[RoleBinding, str, str]:
    query = (
        select(RoleBinding, User.username, Team.name)
        .outerjoin(User, User.id == RoleBinding.user_id)
        .outerjoin(Team, Team.id == RoleBinding.team_id)
    )
    for column, value in (
        (RoleBinding.user_id, user_id),
        (RoleBinding.team_id, team_id),
        (RoleBinding.role, role),
        (RoleBinding.scope, scope),
        (RoleBinding.origin, origin),
    ):
        if value is not None:
            query = query.where(column == value)
    return query


def _binding(b: RoleBinding, username: str | None, team_name: str | None) -> BindingRow:
    return BindingRow(
        id=b.id,
        role=b.role,
        scope=b.scope,
        user_id=b.user_id,
        team_id=b.team_id,
        origin=b.origin,
        created_at=b.created_at,
        username=username,
        team_name=team_name,
    )


def _fetch(session: Session, binding_id: int) -> BindingRow | None:
    row = session.execute(
        _filtered(None, None, None, None, None).where(RoleBinding.id == binding_id)
    ).first()
    return None if row is None else _binding(*row)


def _row(
    role: str,
    scope: str,
    origin: str,
    *,
    user_id: str | None = None,
    team_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, object]:
    return {
        "role": role,
        "scope": scope,
        "principal": principal_key(user_id=user_id, team_id=team_id),
        "user_id": user_id,
        "team_id": team_id,
        "origin": origin[:128],
        "created_at": now or utcnow(),
    }


def binding_rows(
    user_id: str, roles: Iterable[str], origin: str, now: datetime
) -> list[dict[str, object]]:
    """Rows of system-scope bindings for a new user (written in the user's own insert
    transaction by `UserStore.create` and SCIM's user create)."""
    return [_row(role, SYSTEM, origin, user_id=user_id, now=now) for role in dict.fromkeys(roles)]
