"""The SCIM Users of one provisioning source (RFC 7643 §4.1 with the enterprise extension
§4.3) in the directory's tables: `users`, `scim_users`, and the value index.

A create is Core inserts with no read before them (the unique constraints decide a clash);
every write also rewrites the user's rows of the value index (`values`) in its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authbridge.clock import utcnow
from authbridge.storage.bindings import binding_rows
from authbridge.storage.models import (
    RoleBinding,
    Team,
    TeamMemberSource,
    User,
    column_values,
)
from authbridge.storage.scim.columns import USER_VALUES, user_columns, user_sort_columns
from authbridge.storage.scim.errors import StoreConflict, UnstorableValue
from authbridge.storage.scim.portable_sql import one_of, unselective
from authbridge.storage.scim.store import (
    ResourceStore,
    Versions,
    bounded,
    chunks,
    dialect_name,
    folded_key,
    iso,
)
from authbridge.storage.scim.values import casefold_key, value_rows
from authbridge.storage.scim_models import ScimGroup, ScimUser, ScimUserValue
from authbridge.storage.users import user_row

__all__ = ["INSERT_VALUES", "USER_COLUMN_ATTRS", "UserChange", "UserStore"]

# Core insert: one executemany for a user's rows (the ORM bulk path inserts them one by one).
_values: Table = ScimUserValue.__table__  # type: ignore[assignment]
INSERT_VALUES = insert(_values)
_INSERT_USER = insert(User)
_INSERT_SCIM_USER = insert(ScimUser)
_INSERT_BINDING = insert(RoleBinding)
# Attributes kept in columns (or computed) rather than in the attributes JSON.
# `active` stays in the JSON too: an unassigned `active` (RFC 7643 §4.1.1) reads back unassigned
# while the users.active column holds its meaning for sign-in (unassigned = enabled).
USER_COLUMN_ATTRS = ("id", "meta", "schemas", "userName", "externalId", "groups")
# Which of _columns_of's values each table stores (a create inserts them, a write updates them).
_USER_FIELDS = ("username", "username_key", "email", "name", "active")
_SCIM_USER_FIELDS = (
    "external_id",
    "given_name_key",
    "family_name_key",
    "email_key",
    "display_name_key",
)
# A write's change: the user as it is (without meta and groups) -> the user as it will be,
# both as scim2-models dumps them. Raised errors pass through; the write rolls back.
UserChange = Callable[[dict[str, Any]], dict[str, Any]]


def _fields(columns: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: columns[name] for name in names}


class UserStore(ResourceStore):
    """Users of one provisioning source."""

    resource_type = "User"
    row = User
    scim_row = ScimUser
    row_id = User.id
    scim_key = ScimUser.user_id
    values = USER_VALUES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = str(self.model.__schema__)
        # The extension URNs (RFC 7643 §3), in `schemas` when the user has their attributes.
        self.extensions = [str(urn) for urn in self.model.get_extension_models()]
        self.columns = user_columns(self.source, self.base_url)
        self.sort_columns = user_sort_columns(self.source, self.base_url)

    def _visible(self) -> ColumnElement[bool]:
        # unselective: the source matches most users, so the planner must start elsewhere.
        return unselective(ScimUser.source == self.source)

    def _represent(
        self, user: User, scim: ScimUser, groups: list[tuple[str, str]]
    ) -> dict[str, Any]:
        data = dict(scim.attributes)
        schemas = [self.schema]
        schemas.extend(urn for urn in self.extensions if urn in data)
        data.update(schemas=schemas, id=user.id, userName=user.username)
        if "active" in data or not user.active:
            data["active"] = user.active
        if scim.external_id is not None:
            data["externalId"] = scim.external_id
        if groups:
            data["groups"] = [
                {
                    "value": gid,
                    "display": name,
                    "$ref": f"{self.base_url}/Groups/{gid}",
                    "type": "direct",
                }
                for gid, name in groups
            ]
        data["meta"] = {
            "resourceType": "User",
            "created": iso(scim.created_at),
            "lastModified": iso(scim.modified_at),
            "location": f"{self.base_url}/Users/{user.id}",
            "version": f'W/"{scim.version}"',
        }
        return data

    def _related(
        self, session: Session, user_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {uid: [] for uid in user_ids}
        for chunk in chunks(list(user_ids)):
            rows = session.execute(
                select(TeamMemberSource.user_id, Team.id, Team.name)
                .join(Team, Team.id == TeamMemberSource.team_id)
                .join(ScimGroup, ScimGroup.team_id == Team.id)
                .where(
                    ScimGroup.source == self.source,
                    TeamMemberSource.source == f"scim:{self.source}",
                    one_of(TeamMemberSource.user_id, chunk, dialect_name(session)),
                )
                .order_by(Team.name_fold, Team.id)
            )
            for uid, gid, name in rows:
                found[uid].append((gid, name))
        return found

    def _columns_of(self, dumped: dict[str, Any]) -> dict[str, Any]:
        name = dumped.get("name") or {}
        emails = [e for e in dumped.get("emails") or [] if isinstance(e, dict) and e.get("value")]
        email = next((e for e in emails if e.get("primary")), emails[0] if emails else None)
        display = (
            dumped.get("displayName")
            or name.get("formatted")
            or " ".join(part for part in (name.get("givenName"), name.get("familyName")) if part)
        )
        username = dumped.get("userName")
        if not isinstance(username, str) or not username.strip():
            raise UnstorableValue("userName is required")
        if len(username) > 320:
            raise UnstorableValue("userName is longer than 320 characters")
        email_value = str(email["value"]) if email else None
        return {
            "username": username,
            "username_key": casefold_key(username),
            "email": email_value,
            "name": (display or None) and str(display)[:256],
            "active": dumped.get("active", True) is not False,
            "external_id": bounded(dumped.get("externalId"), "externalId", 512),
            "given_name_key": folded_key(name.get("givenName"), "name.givenName", 256),
            "family_name_key": folded_key(name.get("familyName"), "name.familyName", 256),
            "email_key": folded_key(email_value, "emails.value", 320),
            "display_name_key": folded_key(dumped.get("displayName"), "displayName", 256),
        }

    def _index(self, session: Session, user_id: str, stored: dict[str, Any]) -> None:
        """Write the user's rows of the value index (in the write's own transaction)."""
        rows = value_rows(self.model, self.schema, stored)
        if rows:
            session.execute(INSERT_VALUES, [{"user_id": user_id, **row} for row in rows])

    def _check_unique(self, session: Session, columns: dict[str, Any], user_id: str | None) -> None:
        # RFC 7644 §3.3: 409 "uniqueness" when userName (case-insensitive) is taken.
        taken = session.scalar(select(User.id).where(User.username_key == columns["username_key"]))
        if taken is not None and taken != user_id:
            raise StoreConflict(f"userName {columns['username']!r} is already in use", "userName")
        if columns["external_id"] is not None:
            other = session.scalar(
                select(ScimUser.user_id).where(
                    ScimUser.source == self.source,
                    ScimUser.external_id == columns["external_id"],
                )
            )
            if other is not None and other != user_id:
                message = f"externalId {columns['external_id']!r} is already in use"
                raise StoreConflict(message, "externalId")

    def create(self, dumped: dict[str, Any], *, actor: str) -> dict[str, Any]:
        """RFC 7644 §3.3: store a new User; StoreConflict if its userName or externalId is
        taken. `dumped` is the validated resource as scim2-models dumps it."""
        columns = self._columns_of(dumped)
        stored = self._stored(dumped, USER_COLUMN_ATTRS)
        user_id = str(uuid.uuid4())
        now = utcnow()
        # The one builder of a new user row (storage/users.py), as every other account.
        user = user_row(
            user_id=user_id,
            username=columns["username"],
            email=columns["email"],
            name=columns["name"],
            active=columns["active"],
            now=now,
        )
        scim = ScimUser(
            user_id=user_id,
            source=self.source,
            attributes=stored,
            version=1,
            created_at=now,
            modified_at=now,
            **_fields(columns, _SCIM_USER_FIELDS),
        )
        result = self._represent(user, scim, [])
        try:
            with self.storage.db.session() as session:
                # Core inserts, no unit of work: a create is the write IdPs send most, and the
                # unique constraints (userName, source+externalId) decide conflicts, so no
                # read precedes the writes.
                connection = session.connection()
                connection.execute(_INSERT_USER, column_values(user))
                connection.execute(_INSERT_SCIM_USER, column_values(scim))
                self._index(session, user_id, stored)
                roles = binding_rows(
                    user_id, self.settings.default_roles, f"scim:{self.source}", now
                )
                if roles:
                    connection.execute(_INSERT_BINDING, roles)
                self._record(session, actor, "create", user_id, None, result)
        except IntegrityError:
            # Say which attribute is taken.
            with self.storage.db.session() as session:
                self._check_unique(session, columns, None)
            raise StoreConflict("userName or externalId is already in use") from None
        return result

    def get(self, user_id: str) -> dict[str, Any]:
        """RFC 7644 §3.4.1: one User of this source; ResourceMissing if there is none."""
        with self.storage.db.session() as session:
            user, scim = self._load(session, user_id)
            return self._represent(user, scim, self._related(session, [user_id])[user_id])

    def update(
        self,
        user_id: str,
        change: UserChange,
        *,
        actor: str,
        action: str,
        expected: Versions = None,
    ) -> dict[str, Any]:
        """RFC 7644 §3.5: apply `change` to the User under its version lock, if its version
        is one of `expected` (VersionMismatch otherwise); return the User as written."""
        try:
            with self.storage.db.session() as session:
                user, scim, groups, before = self._locked(session, user_id, expected, related=True)
                current = {k: v for k, v in before.items() if k not in ("meta", "groups")}
                dumped = change(current)
                columns = self._columns_of(dumped)
                self._check_unique(session, columns, user_id)
                stored = self._stored(dumped, USER_COLUMN_ATTRS)
                now = utcnow()
                session.execute(
                    update(User)
                    .where(User.id == user_id)
                    .values(updated_at=now, **_fields(columns, _USER_FIELDS))
                )
                session.execute(
                    update(ScimUser)
                    .where(ScimUser.user_id == user_id)
                    .values(
                        attributes=stored, modified_at=now, **_fields(columns, _SCIM_USER_FIELDS)
                    )
                )
                session.execute(delete(ScimUserValue).where(ScimUserValue.user_id == user_id))
                self._index(session, user_id, stored)
                user, scim = self._load(session, user_id)
                after = self._represent(user, scim, groups)
                self._record(session, actor, action, user_id, before, after)
        except IntegrityError:
            raise StoreConflict("userName or externalId is already in use") from None
        return after
