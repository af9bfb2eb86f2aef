"""The SCIM service (RFC 7644 §3): Users and Groups (Teams) over the directory's storage.

One instance serves one provisioning source (okta, microsoft). A source sees and changes
only the resources it provisioned, and its `externalId`s are its own. Every write is one
transaction that also records its audit row. Writes to one resource are serialised by
bumping `meta.version` first (`UPDATE ... RETURNING`): the row lock in PostgreSQL, the
write lock in SQLite, so concurrent PATCHes of one group lose no member and `If-Match`
(RFC 7644 §3.14) is checked against the version the write replaces.

Each resource type is its own module (`users`, `groups`) over what they share (`base`),
each over its store in `authbridge.storage.scim`; this class holds one of each for a source
and is what the HTTP glue calls.
"""

from __future__ import annotations

from typing import Any

from authbridge.config.model import ScimSettings
from authbridge.directory.membership import MembershipEngine
from authbridge.directory.revocation import UserCredentialRevoker
from authbridge.scim.base import ListQuery, Page, etag_matches, scim_error_from, weak_match
from authbridge.scim.dialect import dialect_for, policy_for
from authbridge.scim.groups import GroupService
from authbridge.scim.users import UserService
from authbridge.storage import Storage

__all__ = [
    "ListQuery",
    "Page",
    "ScimService",
    "etag_matches",
    "scim_error_from",
    "weak_match",
]


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
        membership: MembershipEngine | None = None,
    ) -> None:
        self.storage = storage
        self.settings = settings
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.policy = policy_for(source)
        self.dialect = dialect_for(source)
        shared: dict[str, Any] = {
            "source": source,
            "base_url": self.base_url,
            "policy": self.policy,
            "dialect": self.dialect,
        }
        self.users = UserService(storage, settings, revocation=revocation, **shared)
        # A group's team follows the one membership rule (shared teams, `teams.<name>`).
        engine = membership or MembershipEngine(storage)
        self.groups = GroupService(storage, settings, team_ref=engine.ref, **shared)

    # Users (RFC 7644 §3.3-§3.6)
    def create_user(self, body: Any, *, actor: str) -> dict[str, Any]:
        return self.users.create(body, actor=actor)

    def get_user(self, user_id: str) -> dict[str, Any]:
        return self.users.get(user_id)

    def replace_user(
        self, user_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        return self.users.replace(user_id, body, actor=actor, if_match=if_match)

    def patch_user(
        self, user_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        return self.users.patch(user_id, body, actor=actor, if_match=if_match)

    def delete_user(self, user_id: str, *, actor: str, if_match: str | None = None) -> None:
        self.users.delete(user_id, actor=actor, if_match=if_match)

    def list_users(self, query: ListQuery) -> Page:
        return self.users.list(query)

    # Groups
    def create_group(self, body: Any, *, actor: str) -> dict[str, Any]:
        return self.groups.create(body, actor=actor)

    def get_group(self, team_id: str, *, with_members: bool = True) -> dict[str, Any]:
        return self.groups.get(team_id, with_members=with_members)

    def replace_group(
        self, team_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        return self.groups.replace(team_id, body, actor=actor, if_match=if_match)

    def patch_group(
        self,
        team_id: str,
        body: Any,
        *,
        actor: str,
        if_match: str | None = None,
        with_members: bool = True,
    ) -> dict[str, Any]:
        return self.groups.patch(
            team_id, body, actor=actor, if_match=if_match, with_members=with_members
        )

    def delete_group(self, team_id: str, *, actor: str, if_match: str | None = None) -> None:
        self.groups.delete(team_id, actor=actor, if_match=if_match)

    def list_groups(self, query: ListQuery) -> Page:
        return self.groups.list(query)
