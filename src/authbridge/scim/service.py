"""The SCIM service (RFC 7644 §3): Users and Groups (Teams) over the directory's storage.

One instance serves one provisioning source (okta, microsoft). A source sees and changes
only the resources it provisioned, and its `externalId`s are its own. Every write is one
transaction that also records its audit row. Writes to one resource are serialised by
bumping `meta.version` first (`UPDATE ... RETURNING`): the row lock in PostgreSQL, the
write lock in SQLite, so concurrent PATCHes of one group lose no member and `If-Match`
(RFC 7644 §3.14) is checked against the version the write replaces.
"""

from __future__ import annotations

import fnmatch
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pydantic import ValidationError
from scim2_models import Context, PatchOp, SCIMException
from scim2_models.path import AttrPath
from sqlalchemy import (
    ColumnElement,
    String,
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from authbridge.config.model import ScimSettings
from authbridge.directory.revocation import UserCredentialRevoker
from authbridge.scim import audit
from authbridge.scim.columns import USER_VALUES, group_columns, user_columns, user_sort_columns
from authbridge.scim.dialect import MemberChange, dialect_for, plan_patch, policy_for
from authbridge.scim.errors import (
    BadRequest,
    Conflict,
    InvalidSyntax,
    InvalidValue,
    NotFound,
    PreconditionFailed,
    ScimError,
)
from authbridge.scim.filters import parse_filter
from authbridge.scim.portable_sql import one_of, unselective
from authbridge.scim.resources import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    USER_SCHEMA,
    GroupModel,
    UserModel,
)
from authbridge.scim.sql import Column, ColumnMap, FilterToSql, resolve_path
from authbridge.scim.value_sql import ValueFilters, ValueTable
from authbridge.scim.values import casefold_key, value_rows
from authbridge.storage import Storage
from authbridge.storage.models import (
    Role,
    Team,
    TeamMember,
    TeamRole,
    User,
    UserRole,
    column_values,
    utcnow,
)
from authbridge.storage.scim_models import ScimGroup, ScimUser, ScimUserValue
from authbridge.storage.upsert import insert_for

__all__ = [
    "ListQuery",
    "Page",
    "ScimService",
    "etag_matches",
    "scim_error_from",
    "weak_match",
]

log = structlog.get_logger("authbridge.scim")

# Core insert: one executemany for a user's rows (the ORM bulk path inserts them one by one).
_values: Table = ScimUserValue.__table__  # type: ignore[assignment]
INSERT_VALUES = insert(_values)
_INSERT_USER = insert(User)
_INSERT_SCIM_USER = insert(ScimUser)
_INSERT_USER_ROLE = insert(UserRole)
CHUNK = 5000  # ids per IN (...) list: well under SQLite's and PostgreSQL's parameter limits
# Attributes kept in columns (or computed) rather than in the attributes JSON.
# `active` stays in the JSON too: an unassigned `active` (RFC 7643 §4.1.1) reads back unassigned
# while the users.active column holds its meaning for sign-in (unassigned = enabled).
USER_COLUMN_ATTRS = ("id", "meta", "schemas", "userName", "externalId", "groups")
GROUP_COLUMN_ATTRS = ("id", "meta", "schemas", "displayName", "externalId", "members")


# Which of _user_columns' values each table stores (a create inserts them, a write updates them).
_USER_FIELDS = ("username", "username_key", "email", "name", "active")
_SCIM_USER_FIELDS = (
    "external_id",
    "given_name_key",
    "family_name_key",
    "email_key",
    "display_name_key",
)


def _fields(columns: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: columns[name] for name in names}


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


@dataclass(frozen=True)
class ListQuery:
    """RFC 7644 §3.4.2: filter, sorting (§3.4.2.3) and pagination (§3.4.2.4)."""

    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int | None = None
    with_members: bool = True


@dataclass(frozen=True)
class Page:
    total: int
    start_index: int
    resources: list[dict[str, Any]]


def scim_error_from(exc: Exception) -> ScimError:
    """scim2-models' validation and patch errors as RFC 7644 §3.12 errors."""
    if isinstance(exc, ScimError):
        return exc
    if isinstance(exc, SCIMException):
        error = ScimError(str(getattr(exc, "detail", None) or exc)[:300] or "invalid request")
        error.status = exc.status
        error.scim_type = exc.scim_type or None
        return error
    if isinstance(exc, ValidationError):
        errors = exc.errors()
        first: dict[str, Any] = dict(errors[0]) if errors else {}
        kind = str(first.get("type", ""))
        where = ".".join(str(p) for p in first.get("loc", ()))
        message = str(first.get("msg", "invalid value"))
        if kind.startswith("scim_"):
            error = ScimError(f"{where}: {message}" if where else message)
            error.scim_type = kind.removeprefix("scim_")
            if error.scim_type == "error":
                error.scim_type = None
            ctx = first.get("ctx") or {}
            status = ctx.get("status") if isinstance(ctx, dict) else None
            if isinstance(status, int):
                error.status = status
            return error
        return InvalidValue(f"{where}: {message}" if where else message)
    return BadRequest("the request cannot be processed")


def etag_matches(if_match: str | None, version: int) -> bool:
    """RFC 7232 §3.1 If-Match with weak comparison (RFC 7644 §3.14 versions are weak)."""
    return if_match is None or weak_match(if_match, f'W/"{version}"')


def weak_match(header: str, etag: str) -> bool:
    """Whether `etag` matches a tag of an If-Match / If-None-Match list ("*" matches any) by
    RFC 7232 §2.3.2 weak comparison: opaque tags equal, either or both marked W/.

    RFC 7232 §3.2: "A recipient MUST use the weak comparison function when comparing
    entity-tags for If-None-Match", so a client echoing W/"3" as "3" still gets its 304."""
    opaque = etag.removeprefix("W/").strip('"')
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/").strip('"') == opaque:
            return True
    return False


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _chunks(values: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


class ScimService:
    """Users and Groups of one provisioning source."""

    def __init__(
        self,
        storage: Storage,
        settings: ScimSettings,
        *,
        source: str,
        base_url: str,
        revocation: UserCredentialRevoker,
    ) -> None:
        self.storage = storage
        self.revocation = revocation
        self.settings = settings
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.policy = policy_for(source)
        self.dialect = dialect_for(source)
        self._roles_ready = False
        self._user_map = user_columns(source, self.base_url)
        self._user_sort_map = user_sort_columns(source, self.base_url)
        self._group_map = group_columns(self.base_url)

    # ---------------------------------------------------------------- representation

    def _user_dict(
        self, user: User, scim: ScimUser, groups: list[tuple[str, str]]
    ) -> dict[str, Any]:
        data = dict(scim.attributes)
        schemas = [USER_SCHEMA]
        if ENTERPRISE_SCHEMA in data:
            schemas.append(ENTERPRISE_SCHEMA)
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
            "created": _iso(scim.created_at),
            "lastModified": _iso(scim.modified_at),
            "location": f"{self.base_url}/Users/{user.id}",
            "version": f'W/"{scim.version}"',
        }
        return data

    def _group_dict(self, team: Team, scim: ScimGroup, members: list[str] | None) -> dict[str, Any]:
        data = dict(scim.attributes)
        data.update(schemas=[GROUP_SCHEMA], id=team.id, displayName=team.name)
        if scim.external_id is not None:
            data["externalId"] = scim.external_id
        if members:
            data["members"] = [
                {"value": uid, "$ref": f"{self.base_url}/Users/{uid}", "type": "User"}
                for uid in members
            ]
        data["meta"] = {
            "resourceType": "Group",
            "created": _iso(scim.created_at),
            "lastModified": _iso(scim.modified_at),
            "location": f"{self.base_url}/Groups/{team.id}",
            "version": f'W/"{scim.version}"',
        }
        return data

    def _groups_of(
        self, session: Session, user_ids: Sequence[str]
    ) -> dict[str, list[tuple[str, str]]]:
        found: dict[str, list[tuple[str, str]]] = {uid: [] for uid in user_ids}
        for chunk in _chunks(list(user_ids)):
            rows = session.execute(
                select(TeamMember.user_id, Team.id, Team.name)
                .join(Team, Team.id == TeamMember.team_id)
                .join(ScimGroup, ScimGroup.team_id == Team.id)
                .where(
                    ScimGroup.source == self.source,
                    one_of(TeamMember.user_id, chunk, _dialect(session)),
                )
                .order_by(Team.name_key)
            )
            for uid, gid, name in rows:
                found[uid].append((gid, name))
        return found

    def _members_of(self, session: Session, team_ids: Sequence[str]) -> dict[str, list[str]]:
        """Member ids per team. No display: a member's display is not kept (it would have to
        be the client's own string to round-trip), so none is invented either."""
        found: dict[str, list[str]] = {tid: [] for tid in team_ids}
        for chunk in _chunks(list(team_ids)):
            rows = session.execute(
                select(TeamMember.team_id, TeamMember.user_id)
                .where(one_of(TeamMember.team_id, chunk, _dialect(session)))
                .order_by(TeamMember.team_id, TeamMember.user_id)
            )
            for tid, uid in rows:
                found[tid].append(uid)
        return found

    # ---------------------------------------------------------------- parsing

    @staticmethod
    def _dump(resource: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)
        return dumped

    def _validate(self, model: Any, body: Any, context: Context) -> Any:
        if not isinstance(body, dict):
            raise InvalidSyntax("the body must be a JSON object")
        try:
            return model.model_validate(body, scim_ctx=context, scim_policy=self.policy)
        except Exception as exc:
            raise scim_error_from(exc) from None

    @staticmethod
    def _stored(dumped: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
        """The attributes kept as JSON: everything but what columns hold, never a password."""
        data = dict(dumped)
        for key in (*columns, "password"):
            data.pop(key, None)
        return data

    # ---------------------------------------------------------------- users

    def _user_columns(self, dumped: dict[str, Any]) -> dict[str, Any]:
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
            raise InvalidValue("userName is required")
        if len(username) > 320:
            raise InvalidValue("userName is longer than 320 characters")
        email_value = str(email["value"]) if email else None
        return {
            "username": username,
            "username_key": casefold_key(username),
            "email": email_value,
            "name": (display or None) and str(display)[:256],
            "active": dumped.get("active", True) is not False,
            "external_id": _bounded(dumped.get("externalId"), "externalId", 512),
            "given_name_key": _key(name.get("givenName"), "name.givenName", 256),
            "family_name_key": _key(name.get("familyName"), "name.familyName", 256),
            "email_key": _key(email_value, "emails.value", 320),
            "display_name_key": _key(dumped.get("displayName"), "displayName", 256),
        }

    @staticmethod
    def _index_user(session: Session, user_id: str, stored: dict[str, Any]) -> None:
        """Write the user's rows of the value index (in the write's own transaction)."""
        rows = value_rows(UserModel, USER_SCHEMA, stored)
        if rows:
            session.execute(INSERT_VALUES, [{"user_id": user_id, **row} for row in rows])

    def _check_user_unique(
        self, session: Session, columns: dict[str, Any], user_id: str | None
    ) -> None:
        # RFC 7644 §3.3: 409 "uniqueness" when userName (case-insensitive) is taken.
        taken = session.scalar(select(User.id).where(User.username_key == columns["username_key"]))
        if taken is not None and taken != user_id:
            raise Conflict(f"userName {columns['username']!r} is already in use")
        if columns["external_id"] is not None:
            other = session.scalar(
                select(ScimUser.user_id).where(
                    ScimUser.source == self.source,
                    ScimUser.external_id == columns["external_id"],
                )
            )
            if other is not None and other != user_id:
                raise Conflict(f"externalId {columns['external_id']!r} is already in use")

    def _prepare_roles(self) -> None:
        """Create the roles the default and the team template name, once, on first write."""
        if self._roles_ready:
            return
        wanted = [*self.settings.default_roles]
        for rule in self.settings.team_roles:
            wanted.extend(rule.roles)
        with self.storage.db.session() as session:
            self._ensure_roles(session, wanted)
        self._roles_ready = True

    def create_user(self, body: Any, *, actor: str) -> dict[str, Any]:
        """RFC 7644 §3.3: create a User; 409 if its userName or externalId is taken."""
        self._prepare_roles()
        resource = self._validate(UserModel, body, Context.RESOURCE_CREATION_REQUEST)
        dumped = self._dump(resource)
        columns = self._user_columns(dumped)
        stored = self._stored(dumped, USER_COLUMN_ATTRS)
        user_id = str(uuid.uuid4())
        now = utcnow()
        user = User(
            id=user_id,
            email_verified=False,
            kind="person",
            created_at=now,
            updated_at=now,
            **_fields(columns, _USER_FIELDS),
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
        result = self._user_dict(user, scim, [])
        try:
            with self.storage.db.session() as session:
                # Core inserts, no unit of work: a create is the write IdPs send most, and the
                # unique constraints (userName, source+externalId) decide conflicts, so no
                # read precedes the writes.
                connection = session.connection()
                connection.execute(_INSERT_USER, column_values(user))
                connection.execute(_INSERT_SCIM_USER, column_values(scim))
                self._index_user(session, user_id, stored)
                roles = [
                    {"user_id": user_id, "role_name": role}
                    for role in dict.fromkeys(self.settings.default_roles)
                ]
                if roles:
                    connection.execute(_INSERT_USER_ROLE, roles)
                audit.record(
                    session,
                    source=self.source,
                    actor=actor,
                    action="create",
                    resource_type="User",
                    resource_id=user_id,
                    before=None,
                    after=result,
                )
        except IntegrityError:
            # RFC 7644 §3.3: 409 "uniqueness"; say which attribute is taken.
            with self.storage.db.session() as session:
                self._check_user_unique(session, columns, None)
            raise Conflict("userName or externalId is already in use") from None
        return result

    def _load_user(self, session: Session, user_id: str) -> tuple[User, ScimUser]:
        row = session.execute(
            select(User, ScimUser)
            .join(ScimUser, ScimUser.user_id == User.id)
            .where(User.id == user_id, ScimUser.source == self.source)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            raise NotFound(f"User {user_id} not found")
        return row[0], row[1]

    def _lock_user(self, session: Session, user_id: str, if_match: str | None) -> int:
        """Bump the version first: it takes the write lock, then If-Match is checked."""
        version = session.scalar(
            update(ScimUser)
            .where(ScimUser.user_id == user_id, ScimUser.source == self.source)
            .values(version=ScimUser.version + 1)
            .returning(ScimUser.version)
        )
        if version is None:
            raise NotFound(f"User {user_id} not found")
        if not etag_matches(if_match, version - 1):
            raise PreconditionFailed("the resource changed since the version given in If-Match")
        return int(version)

    def get_user(self, user_id: str) -> dict[str, Any]:
        with self.storage.db.session() as session:
            user, scim = self._load_user(session, user_id)
            return self._user_dict(user, scim, self._groups_of(session, [user_id])[user_id])

    def replace_user(
        self, user_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        """RFC 7644 §3.5.1: replace a User's attributes."""
        resource = self._validate(UserModel, body, Context.RESOURCE_REPLACEMENT_REQUEST)
        return self._write_user(user_id, actor, if_match, "replace", lambda _current: resource)

    def patch_user(
        self, user_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        """RFC 7644 §3.5.2: modify a User with add/remove/replace operations."""
        plan = plan_patch(body, user_id, with_members=False, dialect=self.dialect)
        try:
            patch = PatchOp[UserModel].model_validate(
                plan.body, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=self.policy
            )
        except Exception as exc:
            raise scim_error_from(exc) from None

        def apply(current: dict[str, Any]) -> Any:
            resource = UserModel.model_validate(current)
            try:
                patch.patch(resource, scim_policy=self.policy)
            except Exception as exc:
                raise scim_error_from(exc) from None
            return resource

        return self._write_user(user_id, actor, if_match, "patch", apply)

    def _write_user(
        self, user_id: str, actor: str, if_match: str | None, action: str, change: Any
    ) -> dict[str, Any]:
        try:
            with self.storage.db.session() as session:
                version = self._lock_user(session, user_id, if_match)
                user, scim = self._load_user(session, user_id)
                groups = self._groups_of(session, [user_id])[user_id]
                before = self._user_dict(user, scim, groups)
                before["meta"]["version"] = f'W/"{version - 1}"'
                current = {k: v for k, v in before.items() if k not in ("meta", "groups")}
                resource = change(current)
                dumped = self._dump(resource)
                columns = self._user_columns(dumped)
                self._check_user_unique(session, columns, user_id)
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
                self._index_user(session, user_id, stored)
                user, scim = self._load_user(session, user_id)
                after = self._user_dict(user, scim, groups)
                audit.record(
                    session,
                    source=self.source,
                    actor=actor,
                    action=action,
                    resource_type="User",
                    resource_id=user_id,
                    before=before,
                    after=after,
                )
        except IntegrityError:
            raise Conflict("userName or externalId is already in use") from None
        if after.get("active") is False:
            # RFC 7644 §3.5.2 lets a client deactivate with active=false: every session and
            # refresh token of the user ends now, through the one revocation point.
            self.revocation.revoke_user(user_id)
        return after

    def delete_user(self, user_id: str, *, actor: str, if_match: str | None = None) -> None:
        """RFC 7644 §3.6: delete a User; its credentials are revoked first."""
        with self.storage.db.session() as session:
            version = self._lock_user(session, user_id, if_match)
            user, scim = self._load_user(session, user_id)
            before = self._user_dict(user, scim, self._groups_of(session, [user_id])[user_id])
            before["meta"]["version"] = f'W/"{version - 1}"'
            session.execute(delete(User).where(User.id == user_id))
            audit.record(
                session,
                source=self.source,
                actor=actor,
                action="delete",
                resource_type="User",
                resource_id=user_id,
                before=before,
                after=None,
            )
        self.revocation.revoke_user(user_id)

    def list_users(self, query: ListQuery) -> Page:
        """RFC 7644 §3.4.2: filtered, sorted, paginated Users, filtered by the database."""
        base = (
            select(User, ScimUser)
            .join(ScimUser, ScimUser.user_id == User.id)
            .where(unselective(ScimUser.source == self.source))
        )
        condition = self._condition(query.filter, UserModel, self._user_map, USER_VALUES)
        order = self._order(
            query, UserModel, self._user_sort_map, USER_VALUES, [ScimUser.created_at, User.id]
        )
        with self.storage.db.session() as session:
            total, rows = self._page(session, base.where(condition), order, query)
            ids = [user.id for user, _ in rows]
            groups = self._groups_of(session, ids) if ids else {}
            items = [self._user_dict(user, scim, groups[user.id]) for user, scim in rows]
        return Page(total, query.start_index, items)

    # ---------------------------------------------------------------- shared query parts

    def _condition(
        self, expression: str | None, model: Any, columns: ColumnMap, values: ValueTable | None
    ) -> ColumnElement[bool]:
        if not expression:
            return true()
        node = parse_filter(
            expression,
            model,
            max_length=self.settings.max_filter_length,
            max_terms=self.settings.max_filter_terms,
        )
        return FilterToSql(columns, model, values).visit(node)

    def _order(
        self,
        query: ListQuery,
        model: Any,
        columns: ColumnMap,
        values: ValueTable | None,
        stable: list[Any],
    ) -> list[Any]:
        """RFC 7644 §3.4.2.3 sortBy/sortOrder, then a unique key so pages never overlap."""
        if query.filter:
            # Filtered: let the planner find rows through the filter's index, then sort the
            # few it finds. Left as plain columns, SQLite (without statistics) walks the
            # whole (source, created) index to avoid the sort, 50x slower at 100k users.
            stable = [func.coalesce(column, column) for column in stable]
        if not query.sort_by:
            return stable
        text = query.sort_by.strip()
        uri = None
        if ":" in text:
            uri, _, text = text.rpartition(":")
        attr, _, sub = text.partition(".")
        try:
            attribute = resolve_path(model, AttrPath(attr, sub or None, uri), comparison=True)
        except (ValueError, ScimError):
            raise InvalidValue(f"sortBy {query.sort_by!r} is not an attribute") from None
        spec: Column | None = columns.get(attribute.name)
        key: Any
        if spec is not None and spec.exists is None and spec.column is not None:
            key = spec.column
        elif spec is None and values is not None:
            key = ValueFilters(values).sort_key(attribute)
        else:
            raise InvalidValue(f"sorting by {query.sort_by} is not supported")
        return [key.desc() if query.descending else key.asc(), *stable]

    def _page(
        self, session: Session, statement: Any, order: list[Any], query: ListQuery
    ) -> tuple[int, list[Any]]:
        total = (
            session.scalar(select(func.count()).select_from(statement.order_by(None).subquery()))
            or 0
        )
        count = (
            self.settings.max_results
            if query.count is None
            else min(query.count, self.settings.max_results)
        )
        if count <= 0:
            return int(total), []
        rows = session.execute(
            statement.order_by(*order).offset(max(query.start_index, 1) - 1).limit(count)
        ).all()
        return int(total), [tuple(row) for row in rows]

    # ---------------------------------------------------------------- groups

    def _team_roles(self, name: str) -> list[str]:
        """The template's roles for a team name (shell patterns, case-insensitive)."""
        roles: list[str] = []
        for rule in self.settings.team_roles:
            if fnmatch.fnmatchcase(name.casefold(), rule.match.casefold()):
                roles.extend(rule.roles)
        return list(dict.fromkeys(roles))

    def _ensure_roles(self, session: Session, roles: Iterable[str]) -> None:
        wanted = list(dict.fromkeys(roles))
        if wanted:
            session.execute(
                insert_for(session, Role)
                .values([{"name": r, "description": "", "system": False} for r in wanted])
                .on_conflict_do_nothing()
            )

    def _apply_team_roles(self, session: Session, team_id: str, name: str) -> None:
        roles = self._team_roles(name)
        session.execute(delete(TeamRole).where(TeamRole.team_id == team_id))
        if roles:  # the roles exist: _prepare_roles ran before this transaction began
            session.execute(
                insert_for(session, TeamRole)
                .values([{"team_id": team_id, "role_name": role} for role in roles])
                .on_conflict_do_nothing()
            )

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
        for chunk in _chunks(sorted(wanted)):
            known.update(
                session.scalars(
                    select(ScimUser.user_id).where(
                        ScimUser.source == self.source,
                        one_of(ScimUser.user_id, chunk, _dialect(session)),
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
        add = insert_for(session, TeamMember)
        if _dialect(session) == "postgresql":
            # One statement, one array parameter, one round trip, whatever the count.
            members = bindparam(None, unique, type_=ARRAY(String))
            rows = select(literal(team_id, String), func.unnest(members))
            statement = add.from_select(["team_id", "user_id"], rows)
            session.connection().execute(statement.on_conflict_do_nothing())
            return unknown
        # One statement over many parameter sets: it compiles once, where a 10,000-row VALUES
        # list compiled anew each time cost two thirds of a large PATCH.
        session.connection().execute(
            add.on_conflict_do_nothing(),
            [{"team_id": team_id, "user_id": uid} for uid in unique],
        )
        return unknown

    def _check_group_unique(
        self, session: Session, name: str, external_id: str | None, team_id: str | None
    ) -> None:
        taken = session.scalar(select(Team.id).where(Team.name_key == casefold_key(name)))
        if taken is not None and taken != team_id:
            raise Conflict(f"displayName {name!r} is already in use")
        if external_id is not None:
            other = session.scalar(
                select(ScimGroup.team_id).where(
                    ScimGroup.source == self.source, ScimGroup.external_id == external_id
                )
            )
            if other is not None and other != team_id:
                raise Conflict(f"externalId {external_id!r} is already in use")

    @staticmethod
    def _group_name(resource: Any) -> str:
        _bounded(getattr(resource, "external_id", None), "externalId", 512)
        name = getattr(resource, "display_name", None)
        if not isinstance(name, str) or not name.strip():
            raise InvalidValue("displayName is required")
        if len(name) > 256:
            raise InvalidValue("displayName is longer than 256 characters")
        return name

    def create_group(self, body: Any, *, actor: str) -> dict[str, Any]:
        """RFC 7644 §3.3: create a Group (a Team) with its members; 409 on a taken name."""
        resource = self._validate(GroupModel, body, Context.RESOURCE_CREATION_REQUEST)
        self._prepare_roles()
        name = self._group_name(resource)
        member_ids = [m.value for m in resource.members or [] if m.value]
        if any(not m.value for m in resource.members or []):
            raise InvalidValue("every member needs a value")
        team_id = str(uuid.uuid4())
        now = utcnow()
        try:
            with self.storage.db.session() as session:
                self._check_group_unique(session, name, resource.external_id, None)
                team = Team(
                    id=team_id,
                    name=name,
                    name_key=casefold_key(name),
                    source=f"scim:{self.source}",
                    created_at=now,
                )
                scim = ScimGroup(
                    team_id=team_id,
                    source=self.source,
                    external_id=resource.external_id,
                    attributes=self._stored(self._dump(resource), GROUP_COLUMN_ATTRS),
                    version=1,
                    created_at=now,
                    modified_at=now,
                )
                session.add(team)
                session.flush()
                session.add(scim)
                skipped = self._add_members(session, team_id, member_ids)
                self._apply_team_roles(session, team_id, name)
                members = self._members_of(session, [team_id])[team_id]
                result = self._group_dict(team, scim, members)
                audit_after = _group_audit(result)
                audit_after.update(self._skipped(team_id, skipped))
                audit.record(
                    session,
                    source=self.source,
                    actor=actor,
                    action="create",
                    resource_type="Group",
                    resource_id=team_id,
                    before=None,
                    after=audit_after,
                )
        except IntegrityError:
            raise Conflict("displayName or externalId is already in use") from None
        return result

    def _load_group(self, session: Session, team_id: str) -> tuple[Team, ScimGroup]:
        row = session.execute(
            select(Team, ScimGroup)
            .join(ScimGroup, ScimGroup.team_id == Team.id)
            .where(Team.id == team_id, ScimGroup.source == self.source)
            .execution_options(populate_existing=True)
        ).first()
        if row is None:
            raise NotFound(f"Group {team_id} not found")
        return row[0], row[1]

    def _lock_group(self, session: Session, team_id: str, if_match: str | None) -> int:
        version = session.scalar(
            update(ScimGroup)
            .where(ScimGroup.team_id == team_id, ScimGroup.source == self.source)
            .values(version=ScimGroup.version + 1)
            .returning(ScimGroup.version)
        )
        if version is None:
            raise NotFound(f"Group {team_id} not found")
        if not etag_matches(if_match, version - 1):
            raise PreconditionFailed("the resource changed since the version given in If-Match")
        return int(version)

    def get_group(self, team_id: str, *, with_members: bool = True) -> dict[str, Any]:
        with self.storage.db.session() as session:
            team, scim = self._load_group(session, team_id)
            members = self._members_of(session, [team_id])[team_id] if with_members else None
            return self._group_dict(team, scim, members)

    def replace_group(
        self, team_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        """RFC 7644 §3.5.1: replace a Group, its members included."""
        resource = self._validate(GroupModel, body, Context.RESOURCE_REPLACEMENT_REQUEST)
        name = self._group_name(resource)
        if any(not m.value for m in resource.members or []):
            raise InvalidValue("every member needs a value")
        members = [MemberChange("replace", values=[m.value for m in resource.members or []])]
        return self._write_group(
            team_id, actor, if_match, "replace", lambda _c: resource, members, name
        )

    def patch_group(
        self,
        team_id: str,
        body: Any,
        *,
        actor: str,
        if_match: str | None = None,
        with_members: bool = True,
    ) -> dict[str, Any]:
        """RFC 7644 §3.5.2: modify a Group; membership changes run as set operations in SQL."""
        plan = plan_patch(body, team_id, with_members=True, dialect=self.dialect)
        patch = None
        if plan.has_attribute_ops:
            try:
                patch = PatchOp[GroupModel].model_validate(
                    plan.body, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=self.policy
                )
            except Exception as exc:
                raise scim_error_from(exc) from None

        def apply(current: dict[str, Any]) -> Any:
            resource = GroupModel.model_validate(current)
            if patch is not None:
                try:
                    patch.patch(resource, scim_policy=self.policy)
                except Exception as exc:
                    raise scim_error_from(exc) from None
            return resource

        return self._write_group(
            team_id, actor, if_match, "patch", apply, plan.members, None, with_members=with_members
        )

    def _write_group(
        self,
        team_id: str,
        actor: str,
        if_match: str | None,
        action: str,
        change: Any,
        member_changes: list[MemberChange],
        name: str | None,
        *,
        with_members: bool = True,
    ) -> dict[str, Any]:
        self._prepare_roles()
        try:
            with self.storage.db.session() as session:
                version = self._lock_group(session, team_id, if_match)
                team, scim = self._load_group(session, team_id)
                before = self._group_dict(team, scim, None)
                before["meta"]["version"] = f'W/"{version - 1}"'
                current = {k: v for k, v in before.items() if k not in ("meta", "members")}
                resource = change(current)
                new_name = name or self._group_name(resource)
                self._check_group_unique(session, new_name, resource.external_id, team_id)
                added, removed, skipped = self._change_members(session, team_id, member_changes)
                now = utcnow()
                if new_name != team.name:
                    session.execute(
                        update(Team)
                        .where(Team.id == team_id)
                        .values(name=new_name, name_key=casefold_key(new_name))
                    )
                    self._apply_team_roles(session, team_id, new_name)
                session.execute(
                    update(ScimGroup)
                    .where(ScimGroup.team_id == team_id)
                    .values(
                        external_id=resource.external_id,
                        attributes=self._stored(self._dump(resource), GROUP_COLUMN_ATTRS),
                        modified_at=now,
                    )
                )
                team, scim = self._load_group(session, team_id)
                members = self._members_of(session, [team_id])[team_id] if with_members else None
                after = self._group_dict(team, scim, members)
                audit_after = _group_audit(after)
                audit_after.update(membersAdded=added, membersRemoved=removed)
                audit_after.update(self._skipped(team_id, skipped))
                audit.record(
                    session,
                    source=self.source,
                    actor=actor,
                    action=action,
                    resource_type="Group",
                    resource_id=team_id,
                    before=_group_audit(before),
                    after=audit_after,
                )
        except IntegrityError:
            raise Conflict("displayName or externalId is already in use") from None
        return after

    def _change_members(
        self, session: Session, team_id: str, changes: list[MemberChange]
    ) -> tuple[list[str], list[str], list[str]]:
        """Apply membership operations in order; return the ids added, removed, and skipped
        (asked to be added but not Users of this source)."""
        added: list[str] = []
        removed: list[str] = []
        skipped: list[str] = []
        in_team = TeamMember.team_id == team_id
        for change in changes:
            if change.op == "add":
                unknown = set(self._add_members(session, team_id, change.values))
                skipped.extend(sorted(unknown))
                added.extend(uid for uid in change.values if uid not in unknown)
            elif change.op == "replace":
                wanted = list(dict.fromkeys(change.values))
                current = set(session.scalars(select(TeamMember.user_id).where(in_team)))
                gone = sorted(current - set(wanted))
                for chunk in _chunks(gone):
                    session.execute(
                        delete(TeamMember).where(
                            in_team, one_of(TeamMember.user_id, chunk, _dialect(session))
                        )
                    )
                new = [uid for uid in wanted if uid not in current]
                unknown = set(self._add_members(session, team_id, new))
                skipped.extend(sorted(unknown))
                added.extend(uid for uid in new if uid not in unknown)
                removed.extend(gone)
            elif change.everyone:
                removed.extend(session.scalars(select(TeamMember.user_id).where(in_team)))
                session.execute(delete(TeamMember).where(in_team))
            elif change.filter is not None:
                condition = FilterToSql({"value": Column(TeamMember.user_id)}).visit(change.filter)
                gone = list(session.scalars(select(TeamMember.user_id).where(in_team, condition)))
                session.execute(delete(TeamMember).where(in_team, condition))
                removed.extend(gone)
            else:
                for chunk in _chunks(list(dict.fromkeys(change.values))):
                    session.execute(
                        delete(TeamMember).where(
                            in_team, one_of(TeamMember.user_id, chunk, _dialect(session))
                        )
                    )
                removed.extend(change.values)
        return added, removed, list(dict.fromkeys(skipped))

    def delete_group(self, team_id: str, *, actor: str, if_match: str | None = None) -> None:
        """RFC 7644 §3.6: delete a Group (the Team); its members stay as Users."""
        with self.storage.db.session() as session:
            version = self._lock_group(session, team_id, if_match)
            team, scim = self._load_group(session, team_id)
            before = self._group_dict(team, scim, self._members_of(session, [team_id])[team_id])
            before["meta"]["version"] = f'W/"{version - 1}"'
            session.execute(delete(Team).where(Team.id == team_id))
            audit.record(
                session,
                source=self.source,
                actor=actor,
                action="delete",
                resource_type="Group",
                resource_id=team_id,
                before=_group_audit(before),
                after=None,
            )

    def list_groups(self, query: ListQuery) -> Page:
        base = (
            select(Team, ScimGroup)
            .join(ScimGroup, ScimGroup.team_id == Team.id)
            .where(ScimGroup.source == self.source)
        )
        condition = self._condition(query.filter, GroupModel, self._group_map, None)
        order = self._order(
            query, GroupModel, self._group_map, None, [ScimGroup.created_at, Team.id]
        )
        with self.storage.db.session() as session:
            total, rows = self._page(session, base.where(condition), order, query)
            ids = [team.id for team, _ in rows]
            members = self._members_of(session, ids) if ids and query.with_members else {}
            items = [self._group_dict(team, scim, members.get(team.id)) for team, scim in rows]
        return Page(total, query.start_index, items)


def _bounded(value: Any, name: str, limit: int) -> Any:
    """Refuse a value longer than its column: a clear 400, where truncating would make
    filters on the full value miss it."""
    if isinstance(value, str) and len(value) > limit:
        raise InvalidValue(f"{name} is longer than {limit} characters")
    return value


def _key(value: Any, name: str, limit: int) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    key = casefold_key(_bounded(value, name, limit))
    return key if len(key) <= limit else key[:limit]


def _group_audit(group: dict[str, Any]) -> dict[str, Any]:
    """A group's audit snapshot: attributes and member ids (not their display names)."""
    snapshot = {k: v for k, v in group.items() if k not in ("members", "meta")}
    snapshot["version"] = group["meta"]["version"]
    if "members" in group:
        snapshot["members"] = [m["value"] for m in group["members"]]
    return snapshot
