"""Users: search, create (local), update, disable/enable, delete, and the credentials a user
holds (browser sessions, refresh-token families, identity links), each revocable.

One implementation for the admin API (`web/api/users.py`) and the CLI (`cli/users.py`).

Rules beyond the permission check:
- nobody disables or deletes themselves, and the last active system admin (own binding or
  through a team) cannot be disabled or deleted (checked with the rows locked);
- a SCIM-provisioned user's name and email belong to its SCIM source: changing them is
  `ReadOnly` with `managedBy`; disabling/enabling is an administrator's override and is
  allowed (the source's next write of `active` wins); deleting is refused (`ReadOnly`):
  deprovision at the IdP, or disable here;
- email is changed for local accounts only (a password, no SCIM source); an IdP's account
  takes its email from the IdP;
- ending credentials always goes through the one `Revocation`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authbridge.admin.errors import (
    AlreadyExists,
    FieldError,
    Forbidden,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ReadOnly,
)
from authbridge.admin.paging import MAX_LIMIT, Page, PageRequest, encode_cursor
from authbridge.admin.user_credentials import HeldCredentials, RefreshTokenFamily
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.directory.accounts import (
    AccountError,
    AccountExists,
    LocalAccounts,
    PasswordRefused,
    display_name,
    normalize_email,
)
from authbridge.directory.email_links import PasswordResets
from authbridge.directory.revocation import Revocation
from authbridge.directory.roles import ADMIN, RoleCatalog, domain_allowed
from authbridge.provider.service import OpenIDProvider
from authbridge.storage import Storage
from authbridge.storage.errors import Conflict
from authbridge.storage.models import User
from authbridge.storage.user_admin import (
    RowChecks,
    UserFilter,
    UserRow,
    row_version,
)
from authbridge.storage.users import username_key

__all__ = [
    "PATCHABLE",
    "RefreshTokenFamily",
    "UserAdmin",
    "UserFilter",
    "UserRow",
    "UserTeam",
    "user_filter",
]

# The members a merge patch may name (RFC 7396), by their API names.
PATCHABLE = ("displayName", "email", "active")
MAX_QUERY = 320


def user_filter(
    *,
    q: str | None = None,
    team: str | None = None,
    role: str | None = None,
    source: str | None = None,
    status: str | None = None,
) -> UserFilter:
    """The list's filters as the API and the CLI take them (`status`: active|disabled)."""
    if status not in (None, "active", "disabled"):
        raise InvalidRequest("bad status", [FieldError("status", "active or disabled")])
    active = None if status is None else status == "active"
    return UserFilter(q=q or None, team_id=team, role=role, source=source, active=active)


@dataclass(frozen=True)
class UserTeam:
    id: str
    name: str
    managed_by: str
    sources: tuple[str, ...]


def _sources_of(team_id: str, words: Mapping[str, set[str]]) -> tuple[str, ...]:
    return tuple(sorted(source for source, teams in words.items() if team_id in teams))


def _snapshot(user: User) -> dict[str, Any]:
    """What audit details show of a user (never the password hash)."""
    return {
        "username": user.username,
        "email": user.email,
        "displayName": user.name,
        "active": user.active,
    }


def _changed(before: User, after: User) -> dict[str, dict[str, Any]]:
    old, new = _snapshot(before), _snapshot(after)
    keys = [k for k in old if old[k] != new[k]]
    return {"before": {k: old[k] for k in keys}, "after": {k: new[k] for k in keys}}


class UserAdmin(HeldCredentials):
    def __init__(
        self,
        *,
        storage: Storage,
        accounts: LocalAccounts,
        revocation: Revocation,
        provider: OpenIDProvider,
        catalog: RoleCatalog,
        audit: AuditSink,
        resets: PasswordResets | None = None,
    ) -> None:
        self._resets = resets
        self._storage = storage
        self._store = storage.user_admin
        self._accounts = accounts
        self._revocation = revocation
        self._provider = provider
        self._catalog = catalog
        self._audit = audit

    # Reads -----------------------------------------------------------------------------

    def search(self, filters: UserFilter, page: PageRequest) -> Page[UserRow]:
        """One page of people matching `filters`, by username (keyset on its key)."""
        self._check_filters(filters)
        after = page.after[0] if page.after else None
        rows = self._store.search(filters, after, page.limit + 1)
        more = len(rows) > page.limit
        rows = rows[: page.limit]
        cursor = encode_cursor([rows[-1].user.username_key]) if more and rows else None
        return Page(rows, cursor)

    def get(self, user_id: str) -> UserRow:
        found = self._store.get(user_id)
        if found is None:
            raise NotFound(f"no user {user_id!r}")
        return found

    def find(self, name: str) -> UserRow:
        """A user by username (case-insensitive) or id: what an operator types."""
        user = self._storage.users.by_username(name)
        found = self._store.get(user.id if user is not None else name)
        if found is None:
            raise NotFound(f"no user {name!r}")
        return found

    def team_choices(self, limit: int = MAX_LIMIT) -> list[UserTeam]:
        """The teams the list's team filter offers (the first `limit` by name; sources
        empty): cheap whatever the number of members."""
        return [UserTeam(*row, sources=()) for row in self._store.team_choices(limit)]

    def teams(self, user_id: str) -> list[UserTeam]:
        """The user's teams, each with the sources whose word makes the membership
        (`scim:<source>`, `idp:<connector>`, `local`: an administrator's)."""
        self.get(user_id)
        words = self._storage.teams.words_of(user_id)
        return [
            UserTeam(team.id, team.name, team.managed_by, _sources_of(team.id, words))
            for team in self._storage.teams.teams_of(user_id)
        ]

    def find_person(self, text: str) -> UserRow:
        """`find`, or else the one user whose email is `text` (case-insensitively): what an
        operator types to name someone (a console form). Several users with that email is
        InvalidRequest asking for the username."""
        try:
            return self.find(text)
        except NotFound:
            if "@" not in text or len(text) > MAX_QUERY:
                raise
        wanted = text.strip().casefold()
        found = self.search(user_filter(q=text.strip()), PageRequest(limit=MAX_LIMIT))
        same = [r for r in found.items if (r.user.email or "").casefold() == wanted]
        if len(same) > 1:
            raise InvalidRequest(
                f"several users have the email {text!r}: give the username",
                [FieldError("user", "give the username")],
            )
        if not same:
            raise NotFound(f"no user {text!r}")
        return same[0]

    @staticmethod
    def version(row: UserRow) -> str:
        return row_version(row.user)

    # Writes ----------------------------------------------------------------------------

    def create(
        self,
        actor: Actor,
        *,
        email: str,
        password: str,
        display_name: str | None = None,
        role: str | None = None,
    ) -> UserRow:
        """A local account through the one account factory (`LocalAccounts.sign_up`, as an
        operator: sign-up may be off, any role may be given), username = email."""
        if role is not None and role not in self._catalog:
            raise InvalidRequest(f"no role {role!r}", [FieldError("role", "unknown role")])
        origin = "cli" if actor.kind == "cli" else "api"
        try:
            user = self._accounts.sign_up(
                email=email,
                password=password,
                name=display_name,
                self_service=False,
                origin=origin,
                role=role,
            )
        except AccountExists as exc:
            raise AlreadyExists(str(exc)) from None
        except AccountError as exc:
            field = "password" if isinstance(exc, PasswordRefused) else "email"
            raise InvalidRequest(str(exc), [FieldError(field, str(exc))]) from None
        self._record(
            "user.created",
            actor,
            user,
            {"after": _snapshot(user), "role": role or "viewer", "source": "local"},
        )
        return UserRow(user, None)

    def update(
        self, actor: Actor, user_id: str, patch: Mapping[str, Any], if_match: str | None
    ) -> UserRow:
        """Apply a JSON merge patch (RFC 7396 §2) of `displayName`, `email`, `active`, if the
        version is still `if_match` (RFC 9110 §13.1.1), compared with the row locked."""
        if if_match is None:
            raise PreconditionRequired("send If-Match with the ETag of the user you read")
        changes = self._changes(patch)

        def guard(user: User, checks: RowChecks) -> None:
            if if_match != "*" and if_match != row_version(user):
                raise PreconditionFailed("the user changed since you read it; read it again")
            source = checks.scim_source()
            owned = {"name", "email", "username"} & changes.keys()
            if source is not None and owned:
                raise ReadOnly(
                    f"this user's name and email are managed by SCIM source {source!r}",
                    managedBy=f"scim:{source}",
                )
            if "email" in changes:
                if user.password_hash is None:
                    raise ReadOnly(
                        "email can be changed for local accounts only; this account's "
                        "comes from its identity provider",
                        managedBy="idp",
                    )
                if username_key(user.username) == username_key(user.email or ""):
                    changes["username"] = changes["email"]
                    changes["username_key"] = username_key(changes["email"])
            if changes.get("active") is False and user.active:
                self._may_disable(actor, user, checks)

        try:
            result = self._store.update(user_id, guard, changes)
        except Conflict:
            raise AlreadyExists("an account with this email exists already") from None
        if result is None:
            raise NotFound(f"no user {user_id!r}")
        before, after = result
        if before.active and not after.active:
            self._revocation.revoke_user(user_id)
        diff = _changed(before, after)
        if diff["before"]:
            self._record("user.updated", actor, after, diff)
        return self.get(user_id)

    def disable(self, actor: Actor, user_id: str) -> tuple[UserRow, int]:
        """Disable and end every session and token; returns the user and how many
        credentials ended (idempotent: disabling a disabled user records nothing, and
        ends whatever it might still hold)."""
        return self._set_active(actor, user_id, False)

    def enable(self, actor: Actor, user_id: str) -> UserRow:
        return self._set_active(actor, user_id, True)[0]

    def delete(self, actor: Actor, user_id: str) -> None:
        """Revoke everything the user holds through the one Revocation (the revocation feed
        learns of tokens the delete's cascade would otherwise drop unrecorded), then
        delete."""

        def guard(user: User, checks: RowChecks) -> None:
            if actor.id == user.id:
                raise Forbidden("you cannot delete yourself")
            source = checks.scim_source()
            if source is not None:
                raise ReadOnly(
                    f"this user is provisioned by SCIM source {source!r}: deprovision it "
                    "there, or disable it here",
                    managedBy=f"scim:{source}",
                )
            if user.active and checks.last_active_holder(ADMIN):
                raise Forbidden("this is the last active system admin")

        # The same checks before revoking, so a refused delete has ended nothing.
        self._store.update(user_id, guard, {})
        revoked = self._revocation.revoke_user(user_id)
        deleted = self._store.delete(user_id, guard)
        if deleted is None:
            raise NotFound(f"no user {user_id!r}")
        self._record(
            "user.deleted", actor, deleted, {"before": _snapshot(deleted), "revoked": revoked}
        )

    def revoke(self, actor: Actor, user_id: str) -> int:
        """End every session and refresh token (and tracked access token); keep the account."""
        row = self.get(user_id)
        revoked = self._revocation.revoke_user(user_id)
        self._record("user.credentials_revoked", actor, row.user, {"revoked": revoked})
        return revoked

    # Helpers ---------------------------------------------------------------------------

    def _set_active(self, actor: Actor, user_id: str, active: bool) -> tuple[UserRow, int]:
        def guard(user: User, checks: RowChecks) -> None:
            if not active and user.active:
                self._may_disable(actor, user, checks)

        result = self._store.update(user_id, guard, {"active": active})
        if result is None:
            raise NotFound(f"no user {user_id!r}")
        before, after = result
        revoked = 0
        if not active:
            # Also when it was disabled already: whatever it still held ends (cheap, and a
            # retried disable must leave nothing behind).
            revoked = self._revocation.revoke_user(user_id)
        if before.active != after.active:
            self._record(
                "user.enabled" if active else "user.disabled",
                actor,
                after,
                {"before": {"active": before.active}, "after": {"active": after.active}},
            )
        return self.get(user_id), revoked

    @staticmethod
    def _may_disable(actor: Actor, user: User, checks: RowChecks) -> None:
        if actor.id == user.id:
            raise Forbidden("you cannot disable yourself")
        if checks.last_active_holder(ADMIN):
            raise Forbidden("this is the last active system admin")

    def _changes(self, patch: Mapping[str, Any]) -> dict[str, Any]:
        """The row's new values from a merge patch; every invalid member is named."""
        errors: list[FieldError] = []
        changes: dict[str, Any] = {}
        for key, value in patch.items():
            if key == "displayName":
                if value is not None and (not isinstance(value, str) or len(value) > 256):
                    errors.append(FieldError(key, "a string of at most 256 characters, or null"))
                else:
                    changes["name"] = display_name(value)
            elif key == "email":
                try:
                    if not isinstance(value, str):
                        raise AccountError("Enter a valid email address.")
                    email = normalize_email(value)
                    if not domain_allowed(email, self._accounts.authorizer):
                        raise AccountError("this address's domain may not have accounts here")
                    changes["email"] = email
                    changes["email_verified"] = False
                except AccountError as exc:
                    errors.append(FieldError(key, str(exc)))
            elif key == "active":
                if not isinstance(value, bool):
                    errors.append(FieldError(key, "true or false"))
                else:
                    changes["active"] = value
            else:
                errors.append(FieldError(key, f"not a member one can change ({PATCHABLE})"))
        if errors:
            raise InvalidRequest("the patch is invalid", errors)
        return changes

    def _check_filters(self, f: UserFilter) -> None:
        errors = []
        if f.q is not None and len(f.q) > MAX_QUERY:
            errors.append(FieldError("q", f"at most {MAX_QUERY} characters"))
        if f.role is not None and f.role not in self._catalog:
            errors.append(FieldError("role", "unknown role"))
        if errors:
            raise InvalidRequest("the filters are invalid", errors)

    def _record(self, type_: str, actor: Actor, user: User, details: dict[str, Any]) -> None:
        self._audit.record(
            AuditEvent(type_, actor, Target("user", user.id, user.username), details=details)
        )
