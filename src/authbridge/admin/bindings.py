"""Role bindings: granted, revoked, listed and read; a user's effective roles.

Over `directory.roles.RoleBindings` (which checks role names and scopes). Granting is
idempotent: a binding that exists is returned as it is (its origin kept), so a retried
request is harmless. Bindings the configuration makes (origin `config:...`, such as
`config:authorizer.initialAdmins`) are read only here: the next start would make them again.
Revoking the last binding through which any active user holds `admin` at system scope is
refused, so that the system cannot be left without an administrator.
"""

from __future__ import annotations

from typing import Any

from authbridge.admin.errors import FieldError, Forbidden, InvalidRequest, NotFound, ReadOnly
from authbridge.admin.paging import Page, PageRequest, encode_cursor
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.directory.roles import ADMIN, SYSTEM_SCOPE, InvalidScope, RoleBindings, UnknownRole
from authbridge.storage import Storage
from authbridge.storage.bindings import BindingRow, LastHolder
from authbridge.storage.errors import Conflict

__all__ = ["CONFIG_ORIGIN_PREFIX", "BindingAdmin"]

CONFIG_ORIGIN_PREFIX = "config:"


def _target(row: BindingRow) -> Target:
    return Target("binding", str(row.id), f"{row.role}@{row.scope}")


def _details(row: BindingRow) -> dict[str, Any]:
    return {
        "role": row.role,
        "scope": row.scope,
        "userId": row.user_id,
        "teamId": row.team_id,
        "origin": row.origin,
    }


def origin_of(actor: Actor) -> str:
    """Who made a binding, as its `origin` says: `cli` from the command line, `api` else."""
    return "cli" if actor.kind == "cli" else "api"


class BindingAdmin:
    def __init__(self, storage: Storage, bindings: RoleBindings, audit: AuditSink) -> None:
        self._storage = storage
        self._bindings = bindings
        self._audit = audit

    def list(
        self,
        page: PageRequest,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        role: str | None = None,
        scope: str | None = None,
        origin: str | None = None,
    ) -> Page[BindingRow]:
        """Bindings matching every filter given, oldest first."""
        after: int | None = None
        if page.after is not None:
            # At most 18 digits: ids are 64-bit (SQLite cannot even compare a larger int).
            if (
                len(page.after) != 1
                or not (page.after[0].isascii() and page.after[0].isdigit())
                or len(page.after[0]) > 18
            ):
                raise InvalidRequest("the cursor is malformed", [FieldError("cursor", "bad")])
            after = int(page.after[0])
        rows = self._storage.bindings.page(
            user_id=user_id,
            team_id=team_id,
            role=role,
            scope=scope,
            origin=origin,
            after=after,
            limit=page.limit + 1,
        )
        items = rows[: page.limit]
        more = len(rows) > page.limit and bool(items)
        return Page(items, encode_cursor((str(items[-1].id),)) if more else None)

    def get(self, binding_id: int) -> BindingRow:
        row = self._storage.bindings.get(binding_id)
        if row is None:
            raise NotFound(f"no binding {binding_id}")
        return row

    def grant(
        self,
        role: str,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        scope: str = SYSTEM_SCOPE,
        actor: Actor,
    ) -> tuple[BindingRow, bool]:
        """Bind `role` at `scope` to the user or the team: (the binding, whether it is new).
        An unknown role or a malformed scope is InvalidRequest naming it; an unknown user
        or team too (the request names it)."""
        if (user_id is None) == (team_id is None):
            raise InvalidRequest(
                "give exactly one of user or team",
                [FieldError("user", "exactly one of user, team"), FieldError("team", "")],
            )
        if user_id is not None and self._storage.users.get(user_id) is None:
            raise InvalidRequest(f"no user {user_id!r}", [FieldError("user", "no such user")])
        if team_id is not None and self._storage.teams.get(team_id) is None:
            raise InvalidRequest(f"no team {team_id!r}", [FieldError("team", "no such team")])
        try:
            added = self._bindings.grant(
                role, user_id=user_id, team_id=team_id, scope=scope, origin=origin_of(actor)
            )
        except UnknownRole as exc:
            raise InvalidRequest(str(exc), [FieldError("role", str(exc))]) from None
        except InvalidScope as exc:
            raise InvalidRequest(str(exc), [FieldError("scope", str(exc))]) from None
        except Conflict:
            raise InvalidRequest("the user or team was deleted meanwhile") from None
        [row] = self._bindings.find(user_id=user_id, team_id=team_id, role=role, scope=scope)
        if added:
            self._audit.record(
                AuditEvent("binding.granted", actor, _target(row), details=_details(row))
            )
        return row, added

    def revoke(self, binding_id: int, *, actor: Actor) -> BindingRow:
        """Remove a binding. ReadOnly for the configuration's; Forbidden for the last way
        an active user holds admin at system scope."""
        row = self.get(binding_id)
        if row.origin.startswith(CONFIG_ORIGIN_PREFIX):
            raise ReadOnly(
                f"binding {binding_id} is made by the configuration ({row.origin}): edit the "
                "configuration file and restart",
                managedBy=row.origin,
            )
        guard = row.role == ADMIN and row.scope == SYSTEM_SCOPE
        try:
            gone = self._storage.bindings.remove_id(binding_id, keep_holder=guard)
        except LastHolder:
            raise Forbidden(
                "this is the last binding giving an active user the admin role at system "
                "scope; grant admin to another user first"
            ) from None
        if gone is None:
            raise NotFound(f"no binding {binding_id}")
        self._audit.record(
            AuditEvent("binding.revoked", actor, _target(gone), details={"before": _details(gone)})
        )
        return gone

    def revoke_matching(
        self,
        role: str,
        *,
        user_id: str | None = None,
        team_id: str | None = None,
        scope: str = SYSTEM_SCOPE,
        actor: Actor,
    ) -> BindingRow:
        """`revoke` of the binding of `role` at `scope` to the user or team (the CLI's way)."""
        found = self._bindings.find(user_id=user_id, team_id=team_id, role=role, scope=scope)
        if not found:
            raise NotFound(f"no binding of {role} at {scope} to remove")
        return self.revoke(found[0].id, actor=actor)

    def effective(self, user_id: str) -> dict[str, object]:
        """What the user's tokens carry, whole (`RoleBindings.document`)."""
        if self._storage.users.get(user_id) is None:
            raise NotFound(f"no user {user_id!r}")
        return self._bindings.document(user_id)
