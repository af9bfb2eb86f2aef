"""Teams: listed, read, created by administrators (managed `local`), renamed and described,
deleted, and their members with the source of each membership.

Membership goes through the one `MembershipEngine`: an administrator's word is the source
`local`, kept beside what SCIM (`scim:<source>`) and logins (`idp:<connector>`) say, so
withdrawing it never removes a membership another source holds. A team that SCIM or an IdP
manages keeps its name and its life there (`ReadOnly`, with `managedBy`); an administrator
may still add members to it only when the configuration shares it with `local`
(`teams.<name>.sources`).
"""

from __future__ import annotations

from typing import Any

from authbridge.admin.errors import (
    AlreadyExists,
    FieldError,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    PreconditionRequired,
    ReadOnly,
)
from authbridge.admin.paging import MAX_LIMIT, Page, PageRequest, encode_cursor
from authbridge.audit.events import Actor, AuditEvent, AuditSink, Target
from authbridge.directory.membership import LOCAL, MAX_TEAM_NAME, MembershipEngine
from authbridge.storage import Storage
from authbridge.storage.errors import Conflict
from authbridge.storage.team_admin import MemberRow, StaleVersion, TeamInfo
from authbridge.storage.users import username_key

__all__ = ["MAX_DESCRIPTION", "TeamAdmin"]

MAX_DESCRIPTION = 1024
_UNSET: Any = object()


def _target(team: TeamInfo) -> Target:
    return Target("team", team.id, team.name)


def _state(team: TeamInfo) -> dict[str, Any]:
    return {"name": team.name, "description": team.description}


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_TEAM_NAME:
        raise InvalidRequest(
            "a team name is 1 to 256 characters",
            [FieldError("name", f"1 to {MAX_TEAM_NAME} characters, not blank")],
        )
    return name


def _managed_elsewhere(team: TeamInfo, act: str) -> ReadOnly:
    return ReadOnly(
        f"team {team.name!r} is managed by {team.managed_by}: {act} it there",
        managedBy=team.managed_by,
    )


class TeamAdmin:
    def __init__(self, storage: Storage, membership: MembershipEngine, audit: AuditSink) -> None:
        self._storage = storage
        self._store = storage.team_admin
        self._membership = membership
        self._audit = audit

    # Reading

    def list(
        self, page: PageRequest, *, q: str | None = None, managed_by: str | None = None
    ) -> Page[TeamInfo]:
        """Teams by name (case-insensitively), `q` a part of the name."""
        after = _pair(page.after)
        rows = self._store.page(q=q, managed_by=managed_by, after=after, limit=page.limit + 1)
        items = rows[: page.limit]
        more = len(rows) > page.limit
        last = items[-1] if items else None
        cursor = encode_cursor((username_key(last.name)[:256], last.id)) if more and last else None
        return Page(items, cursor)

    def get(self, team_id: str) -> TeamInfo:
        team = self._store.get(team_id)
        if team is None:
            raise NotFound(f"no team {team_id!r}")
        return team

    def find_local(self, name: str) -> TeamInfo | None:
        """The team an administrator means by `name` (theirs, or one shared with `local`)."""
        found = self._storage.teams.find(self._membership.ref(LOCAL, name))
        return None if found is None else self._store.get(found.id)

    def find_named(self, text: str) -> TeamInfo:
        """A team by id, or by its name (case-insensitively) when one team has it: what an
        operator types to name a team (a console form). Teams of one name from different
        sources is InvalidRequest asking to choose on the team's page."""
        text = text.strip()
        found = self._store.get(text) if len(text) <= 64 else None
        if found is not None:
            return found
        wanted = username_key(text)
        rows = self._store.page(q=text[:MAX_TEAM_NAME], limit=MAX_LIMIT)
        same = [t for t in rows if username_key(t.name) == wanted]
        if len(same) > 1:
            raise InvalidRequest(
                f"several teams are named {text!r} (managed by "
                f"{', '.join(t.managed_by for t in same)}): choose one on its team page",
                [FieldError("team", "ambiguous")],
            )
        if not same:
            raise NotFound(f"no team {text!r}")
        return same[0]

    # Writing

    def create(self, name: str, *, description: str | None = None, actor: Actor) -> TeamInfo:
        """A team an administrator makes (managed `local`, unless the configuration shares
        a team of this name with `local`: then that team). AlreadyExists if there is one."""
        name = _name(name)
        _check_description(description)
        ref = self._membership.ref(LOCAL, name)
        try:
            team = self._store.create(ref, description)
        except Conflict:
            existing = self.find_local(name)
            raise AlreadyExists(
                f"team {name!r} exists", id=existing.id if existing else None
            ) from None
        self._audit.record(
            AuditEvent("team.created", actor, _target(team), details={"after": _state(team)})
        )
        return team

    def update(
        self,
        team_id: str,
        *,
        if_match: str | None,
        actor: Actor,
        name: str | None = None,
        description: str | None = _UNSET,
    ) -> TeamInfo:
        """Rename or describe an administrator's team. `if_match` is the version read
        (RFC 9110 §13.1.1): required (428), compared in the write's transaction (412)."""
        if if_match is None:
            raise PreconditionRequired("send If-Match with the team's ETag")
        current = self.get(team_id)
        if current.managed_by != LOCAL:
            raise _managed_elsewhere(current, "change")
        if name is not None:
            name = _name(name)
            if self._membership.configured(current.name) and name != current.name:
                raise ReadOnly(
                    f"team {current.name!r} is configured (teams.{current.name}.sources), "
                    "and its sources find it by that name: rename it in the configuration",
                    managedBy="config:teams",
                )
        clear = description is None
        if description is not _UNSET:
            _check_description(description)
        try:
            changed = self._store.update(
                team_id,
                expected=if_match,
                name=name,
                description=None if description is _UNSET else description,
                clear_description=clear,
            )
        except StaleVersion:
            raise PreconditionFailed("the team changed since it was read; GET it again") from None
        except Conflict:
            raise AlreadyExists(f"another team is named {name!r}") from None
        if changed is None:
            raise NotFound(f"no team {team_id!r}")
        before, after = changed
        if _state(before) != _state(after):
            self._audit.record(
                AuditEvent(
                    "team.updated",
                    actor,
                    _target(after),
                    details={"before": _state(before), "after": _state(after)},
                )
            )
        return after

    def delete(self, team_id: str, *, actor: Actor) -> TeamInfo:
        """Delete an administrator's team, its memberships and its role bindings."""
        team = self.get(team_id)
        if team.managed_by != LOCAL:
            raise _managed_elsewhere(team, "delete")
        gone = self._store.delete(team_id)
        if gone is None:
            raise NotFound(f"no team {team_id!r}")
        self._audit.record(
            AuditEvent(
                "team.deleted",
                actor,
                _target(gone),
                details={"before": {**_state(gone), "memberCount": gone.member_count}},
            )
        )
        return gone

    # Members

    def members(self, team_id: str, page: PageRequest) -> Page[MemberRow]:
        """Members by username, each with the sources that hold the membership."""
        self.get(team_id)
        rows = self._store.members(team_id, after=_pair(page.after), limit=page.limit + 1)
        items = rows[: page.limit]
        last = items[-1] if items else None
        more = len(rows) > page.limit and last is not None
        cursor = (
            encode_cursor((username_key(last.username), last.user_id)) if more and last else None
        )
        return Page(items, cursor)

    def member(self, team_id: str, user_id: str) -> MemberRow:
        self.get(team_id)
        found = self._store.member(team_id, user_id)
        if found is None:
            raise NotFound(f"user {user_id!r} is not a member of team {team_id!r}")
        return found

    def add_member(self, team_id: str, user_id: str, *, actor: Actor) -> tuple[MemberRow, bool]:
        """An administrator's word that the user is in the team (idempotent); (the
        membership with every source holding it, whether the administrator's word is new)."""
        team = self.get(team_id)
        if self._storage.users.get(user_id) is None:
            raise NotFound(f"no user {user_id!r}")
        before = self._store.member(team_id, user_id)
        if before is not None and LOCAL in before.sources:
            return before, False
        if not self._membership.add_local_to(team_id, user_id):
            raise ReadOnly(
                f"team {team.name!r} is managed by {team.managed_by}, which does not share it "
                "with administrators (teams.<name>.sources): change its members there",
                managedBy=team.managed_by,
            )
        after = self._store.member(team_id, user_id)
        assert after is not None
        self._audit.record(
            AuditEvent(
                "team.member_added",
                actor,
                _target(team),
                details={"userId": user_id, "source": LOCAL, "sources": list(after.sources)},
            )
        )
        return after, True

    def remove_member(self, team_id: str, user_id: str, *, actor: Actor) -> MemberRow:
        """Withdraw the administrator's word; the returned membership lists the sources
        that still hold it (empty: no longer a member). NotFound, saying which sources hold
        it, when there was no administrator's word."""
        team = self.get(team_id)
        before = self._store.member(team_id, user_id)
        if before is None or LOCAL not in before.sources:
            held = f"; it is held by {', '.join(before.sources)}" if before else ""
            raise NotFound(
                f"no administrator's membership of user {user_id!r} in team {team.name!r}{held}",
                sources=list(before.sources) if before else [],
            )
        self._membership.remove_local(team_id, user_id)
        after = self._store.member(team_id, user_id)
        remaining = after.sources if after is not None else ()
        self._audit.record(
            AuditEvent(
                "team.member_removed",
                actor,
                _target(team),
                details={"userId": user_id, "source": LOCAL, "sources": list(remaining)},
            )
        )
        return MemberRow(user_id, before.username, remaining)


def _pair(after: tuple[str, ...] | None) -> tuple[str, str] | None:
    if after is None:
        return None
    if len(after) != 2:
        raise InvalidRequest("the cursor is malformed", [FieldError("cursor", "not a cursor")])
    return after[0], after[1]


def _check_description(description: str | None) -> None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(
            "the description is too long",
            [FieldError("description", f"at most {MAX_DESCRIPTION} characters")],
        )
