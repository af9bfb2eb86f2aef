"""SCIM Groups (RFC 7644 §3, RFC 7643 §4.2) of one provisioning source: the protocol side
over `authbridge.storage.scim.GroupStore` (the directory's Teams).

Bodies and PATCH operations are checked and parsed here; membership changes are pulled out
of a PATCH (`dialect.plan_patch`) so that the store applies them as set operations in SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from scim2_models import Context

from authbridge.scim.base import (
    ListQuery,
    Page,
    ResourceService,
    if_match_versions,
    storage_errors,
)
from authbridge.scim.dialect import plan_patch
from authbridge.scim.errors import InvalidValue
from authbridge.scim.resources import GroupModel
from authbridge.storage.scim.group_store import GroupFields, GroupStore, MemberChange
from authbridge.storage.scim.store import bounded
from authbridge.storage.teams import TeamRef

__all__ = ["GroupService"]


class GroupService(ResourceService):
    """Groups (Teams) of one provisioning source."""

    model = GroupModel
    store_type = GroupStore
    store: GroupStore

    def __init__(
        self, *args: Any, team_ref: Callable[[str, str], TeamRef] = TeamRef.own, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        # Which team a displayName means (the membership engine's rule, `teams.<name>`).
        self.store.team_ref = team_ref

    @staticmethod
    def _group_name(resource: Any) -> str:
        with storage_errors():
            bounded(getattr(resource, "external_id", None), "externalId", 512)
        name = getattr(resource, "display_name", None)
        if not isinstance(name, str) or not name.strip():
            raise InvalidValue("displayName is required")
        if len(name) > 256:
            raise InvalidValue("displayName is longer than 256 characters")
        return name

    def _fields(self, resource: Any, name: str | None = None) -> GroupFields:
        """The group as the store writes it (`name` already checked, or checked now)."""
        name = name or self._group_name(resource)
        return GroupFields(name, resource.external_id, self._dump(resource))

    @staticmethod
    def _member_ids(resource: Any) -> list[str]:
        if any(not m.value for m in resource.members or []):
            raise InvalidValue("every member needs a value")
        return [m.value for m in resource.members or []]

    def create(self, body: Any, *, actor: str) -> dict[str, Any]:
        """RFC 7644 §3.3: create a Group (a Team) with its members; 409 on a taken name."""
        resource = self._validate(body, Context.RESOURCE_CREATION_REQUEST)
        fields = self._fields(resource)
        member_ids = self._member_ids(resource)
        with storage_errors():
            return self.store.create(fields, member_ids, actor=actor)

    def get(self, team_id: str, *, with_members: bool = True) -> dict[str, Any]:
        """RFC 7644 §3.4.1: one Group (its members unless excluded, §3.4.2.5)."""
        with storage_errors():
            return self.store.get(team_id, with_members=with_members)

    def replace(
        self, team_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        """RFC 7644 §3.5.1: replace a Group, its members included."""
        resource = self._validate(body, Context.RESOURCE_REPLACEMENT_REQUEST)
        fields = self._fields(resource)
        members = [MemberChange("replace", values=self._member_ids(resource))]
        return self._write(team_id, actor, if_match, "replace", lambda _c: fields, members)

    def patch(
        self,
        team_id: str,
        body: Any,
        *,
        actor: str,
        if_match: str | None = None,
        with_members: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """RFC 7644 §3.5.2: modify a Group; membership changes run as set operations in SQL.
        `dry_run`: the same write, rolled back (`authbridge teams dry-run --scim`)."""
        plan = plan_patch(body, team_id, with_members=True, dialect=self.dialect)
        # Membership only: the attributes stay as they are (PatchOp refuses no operations).
        apply = (
            self._attribute_patch(plan.body)
            if plan.has_attribute_ops
            else GroupModel.model_validate
        )
        return self._write(
            team_id,
            actor,
            if_match,
            "patch",
            lambda current: self._fields(apply(current)),
            plan.members,
            with_members=with_members,
            dry_run=dry_run,
        )

    def _write(
        self,
        team_id: str,
        actor: str,
        if_match: str | None,
        action: str,
        change: Any,
        member_changes: list[MemberChange],
        *,
        with_members: bool = True,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        with storage_errors():
            return self.store.update(
                team_id,
                change,
                member_changes,
                actor=actor,
                action=action,
                expected=if_match_versions(if_match),
                with_members=with_members,
                dry_run=dry_run,
            )

    def delete(self, team_id: str, *, actor: str, if_match: str | None = None) -> None:
        """RFC 7644 §3.6: delete a Group (the Team); its members stay as Users."""
        self._delete(team_id, actor, if_match)

    def list(self, query: ListQuery) -> Page:
        """RFC 7644 §3.4.2: filtered, sorted, paginated Groups (members unless excluded)."""
        return self._list(query, with_related=query.with_members)
