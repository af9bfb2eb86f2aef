"""Users, their upstream identities and their roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from authbridge.storage.database import Database
from authbridge.storage.errors import Conflict
from authbridge.storage.models import Identity, Team, TeamMember, TeamRole, User, UserRole, utcnow

__all__ = ["UserStore"]


_users: Table = User.__table__  # type: ignore[assignment]
# Every password sign-in starts here: a prebuilt Core statement, so neither the statement nor
# its cache key is rebuilt and no ORM session is opened per request.
_BY_USERNAME_KEY = select(_users).where(_users.c.username_key == bindparam("key"))


def username_key(username: str) -> str:
    return username.casefold()


class UserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(
        self,
        *,
        username: str,
        email: str | None = None,
        email_verified: bool = False,
        name: str | None = None,
        password_hash: str | None = None,
        kind: str = "person",
        roles: Iterable[str] = (),
    ) -> User:
        """Create a user with its roles in one transaction; Conflict if the username is taken."""
        user = User(
            id=str(uuid.uuid4()),
            username=username,
            username_key=username_key(username),
            email=email,
            email_verified=email_verified,
            name=name,
            password_hash=password_hash,
            kind=kind,
            active=True,
        )
        try:
            with self._db.session() as session:
                session.add(user)
                session.flush()
                for role in roles:
                    session.add(UserRole(user_id=user.id, role_name=role))
        except IntegrityError as exc:
            raise Conflict(f"username {username!r} is taken") from exc
        return user

    def get(self, user_id: str) -> User | None:
        with self._db.session() as session:
            return session.get(User, user_id)

    def by_username(self, username: str) -> User | None:
        with self._db.engine.connect() as connection:
            row = connection.execute(_BY_USERNAME_KEY, {"key": username_key(username)}).first()
        if row is None:
            return None
        user = User(**row._asdict())
        # Detached, as the ORM would hand it back: adding it to a session updates, never inserts.
        make_transient_to_detached(user)
        return user

    def by_identity(self, connector_id: str, subject: str) -> User | None:
        with self._db.session() as session:
            return session.scalar(
                select(User)
                .join(Identity, Identity.user_id == User.id)
                .where(Identity.connector_id == connector_id, Identity.subject == subject)
            )

    def link_identity(
        self, user_id: str, connector_id: str, subject: str, email: str | None = None
    ) -> None:
        try:
            with self._db.session() as session:
                session.add(
                    Identity(
                        user_id=user_id,
                        connector_id=connector_id,
                        subject=subject,
                        email=email,
                        claims={},
                    )
                )
        except IntegrityError as exc:
            raise Conflict(f"{connector_id}/{subject} is linked already") from exc

    def count(self) -> int:
        with self._db.session() as session:
            return session.scalar(select(func.count()).select_from(User)) or 0

    def set_password_hash(self, user_id: str, password_hash: str) -> None:
        with self._db.session() as session:
            session.execute(
                update(User)
                .where(User.id == user_id)
                .values(password_hash=password_hash, updated_at=utcnow())
            )

    def set_active(self, user_id: str, active: bool) -> None:
        with self._db.session() as session:
            session.execute(
                update(User).where(User.id == user_id).values(active=active, updated_at=utcnow())
            )

    def grant_role(self, user_id: str, role: str) -> None:
        with self._db.session() as session:
            if session.get(UserRole, (user_id, role)) is None:
                session.add(UserRole(user_id=user_id, role_name=role))

    def revoke_role(self, user_id: str, role: str) -> None:
        with self._db.session() as session:
            session.execute(
                delete(UserRole).where(UserRole.user_id == user_id, UserRole.role_name == role)
            )

    def roles(self, user_id: str) -> list[str]:
        """Roles held directly and through teams, sorted."""
        with self._db.session() as session:
            direct = select(UserRole.role_name).where(UserRole.user_id == user_id)
            via_teams = (
                select(TeamRole.role_name)
                .join(TeamMember, TeamMember.team_id == TeamRole.team_id)
                .where(TeamMember.user_id == user_id)
            )
            return sorted(set(session.scalars(direct.union(via_teams))))

    def teams(self, user_id: str) -> list[str]:
        with self._db.session() as session:
            return sorted(
                session.scalars(
                    select(Team.name)
                    .join(TeamMember, TeamMember.team_id == Team.id)
                    .where(TeamMember.user_id == user_id)
                )
            )
