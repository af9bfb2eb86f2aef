"""Users and their upstream identities (roles: `bindings.py`; teams: `teams.py`).

`username_key` is the one case-insensitive key of a username (RFC 7643 §4.1.1: userName is
caseExact=false); the unique index is on it, and SCIM filters on userName compare it.
`user_row` builds every new user row (local sign-up, IdP login, SCIM create, service
accounts), so the defaults of a new account are written once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from authbridge.clock import utcnow
from authbridge.storage.bindings import binding_rows
from authbridge.storage.database import Database
from authbridge.storage.errors import Conflict
from authbridge.storage.models import Identity, RoleBinding, Team, TeamMember, User
from authbridge.storage.scim_models import ScimUser

__all__ = ["IdentityLink", "UserStore", "user_row", "username_key"]


_users: Table = User.__table__  # type: ignore[assignment]
# Every password sign-in starts here: a prebuilt Core statement, so neither the statement nor
# its cache key is rebuilt and no ORM session is opened per request.
_BY_USERNAME_KEY = select(_users).where(_users.c.username_key == bindparam("key"))


def username_key(username: str) -> str:
    """The case-insensitive key of a username (and of every caseExact=false SCIM value)."""
    return username.casefold()


def user_row(
    *,
    username: str,
    email: str | None = None,
    email_verified: bool = False,
    name: str | None = None,
    password_hash: str | None = None,
    kind: str = "person",
    active: bool = True,
    user_id: str | None = None,
    now: datetime | None = None,
) -> User:
    """A new, unsaved user row with its id and username key."""
    now = now or utcnow()
    return User(
        id=user_id or str(uuid.uuid4()),
        username=username,
        username_key=username_key(username),
        email=email,
        email_verified=email_verified,
        name=name,
        password_hash=password_hash,
        kind=kind,
        active=active,
        created_at=now,
        updated_at=now,
    )


@dataclass(frozen=True)
class IdentityLink:
    """An upstream identity to link a new account to, in the account's own transaction."""

    connector_id: str
    subject: str
    email: str | None = None


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
        role_origin: str = "default",
        identity: IdentityLink | None = None,
    ) -> User:
        """Create a user with its system-scope role bindings (made by `role_origin`) and its
        identity link in one transaction, so nothing is half-created; Conflict if the
        username or the identity is taken."""
        now = utcnow()
        user = user_row(
            username=username,
            email=email,
            email_verified=email_verified,
            name=name,
            password_hash=password_hash,
            kind=kind,
            now=now,
        )
        try:
            with self._db.session() as session:
                session.add(user)
                session.flush()
                rows = binding_rows(user.id, roles, role_origin, now)
                if rows:
                    session.execute(insert(RoleBinding), rows)
                if identity is not None:
                    session.add(_identity_row(user.id, identity, now))
        except IntegrityError as exc:
            raise Conflict(f"username {username!r} or its identity is taken") from exc
        return user

    def all(self) -> list[User]:
        """Every user, by username key (operators' listing)."""
        with self._db.session() as session:
            return list(session.scalars(select(User).order_by(User.username_key)))

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
        """Link an upstream identity to an existing user; Conflict if it is linked already."""
        try:
            with self._db.session() as session:
                session.add(_identity_row(user_id, IdentityLink(connector_id, subject, email)))
        except IntegrityError as exc:
            raise Conflict(f"{connector_id}/{subject} is linked already") from exc

    def touch_identity(
        self, connector_id: str, subject: str, email: str | None, now: datetime
    ) -> None:
        """Record a login through this identity: its last-seen email (shown, never a key)."""
        with self._db.session() as session:
            session.execute(
                update(Identity)
                .where(Identity.connector_id == connector_id, Identity.subject == subject)
                .values(email=email, last_login_at=now)
            )

    def provisioned_match(
        self,
        connector_id: str,
        subject: str,
        verified_email: str | None,
        sources: Sequence[str],
        stable_ids: Sequence[str] = (),
    ) -> User | None:
        """The user linked to (connector, subject); else the user one of the SCIM `sources`
        provisioned with one of `stable_ids` as its externalId (the IdP's immutable id of
        the person), else under `verified_email` (its userName or primary email); never a
        user another subject of this connector is linked to already. One read transaction
        (see directory/provisioning.py)."""
        with self._db.session() as session:
            linked = session.scalar(
                select(User)
                .join(Identity, Identity.user_id == User.id)
                .where(Identity.connector_id == connector_id, Identity.subject == subject)
            )
            if linked is not None or not sources:
                return linked
            provisioned = select(User).join(ScimUser, ScimUser.user_id == User.id)
            candidate = None
            if stable_ids:
                candidate = session.scalar(
                    provisioned.where(
                        ScimUser.source.in_(sources), ScimUser.external_id.in_(list(stable_ids))
                    ).limit(1)
                )
            if candidate is None and verified_email:
                key = username_key(verified_email)
                candidate = session.scalar(
                    provisioned.where(
                        ScimUser.source.in_(sources),
                        (User.username_key == key) | (ScimUser.email_key == key),
                    )
                    .order_by(User.created_at, User.id)
                    .limit(1)
                )
            if candidate is None:
                return None
            other = session.scalar(
                select(Identity.id).where(
                    Identity.user_id == candidate.id, Identity.connector_id == connector_id
                )
            )
            return None if other is not None else candidate

    def provisioned_by(self, user_id: str) -> str | None:
        """The SCIM source that provisioned the user, if one did."""
        with self._db.session() as session:
            return session.scalar(select(ScimUser.source).where(ScimUser.user_id == user_id))

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

    def verify_email(self, user_id: str, email: str) -> bool:
        """Mark the email verified, if it is still the user's address; True if it was."""
        with self._db.session() as session:
            result = session.execute(
                update(User)
                .where(User.id == user_id, User.email == email)
                .values(email_verified=True, updated_at=utcnow())
            )
            return bool(getattr(result, "rowcount", 0))

    def set_active(self, user_id: str, active: bool) -> None:
        with self._db.session() as session:
            session.execute(
                update(User).where(User.id == user_id).values(active=active, updated_at=utcnow())
            )

    def verified_emails(self, patterns: Sequence[str]) -> list[tuple[str, str]]:
        """(id, email) of the people whose verified email equals one of `patterns`, or is
        like one ending in `@%` (`local@%`), case-insensitively; the `initialAdmins` lookup."""
        if not patterns:
            return []
        email = func.lower(User.email)
        conditions = [
            email.like(
                p[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",
                escape="\\",
            )
            if p.endswith("@%")
            else email == p
            for p in patterns
        ]
        with self._db.session() as session:
            rows = session.execute(
                select(User.id, User.email).where(
                    User.email_verified.is_(True), User.kind == "person", or_(*conditions)
                )
            )
            return [(user_id, found) for user_id, found in rows if found]

    def teams(self, user_id: str) -> list[str]:
        with self._db.session() as session:
            return sorted(
                session.scalars(
                    select(Team.name)
                    .join(TeamMember, TeamMember.team_id == Team.id)
                    .where(TeamMember.user_id == user_id)
                )
            )


def _identity_row(user_id: str, link: IdentityLink, now: datetime | None = None) -> Identity:
    return Identity(
        user_id=user_id,
        connector_id=link.connector_id,
        subject=link.subject,
        email=link.email,
        claims={},
        last_login_at=now,
    )
