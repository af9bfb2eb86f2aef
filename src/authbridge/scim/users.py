"""SCIM Users (RFC 7644 §3, RFC 7643 §4.1 with the enterprise extension §4.3) of one
provisioning source: the protocol side over `authbridge.storage.scim.UserStore`.

Bodies are checked and parsed here (scim2-models), the store writes them; deactivating or
deleting a User revokes its credentials through the one revocation point.
"""

from __future__ import annotations

from typing import Any

from scim2_models import Context

from authbridge.directory.revocation import UserCredentialRevoker
from authbridge.scim.base import (
    ListQuery,
    Page,
    ResourceService,
    if_match_versions,
    storage_errors,
)
from authbridge.scim.dialect import plan_patch
from authbridge.scim.resources import UserModel
from authbridge.storage.scim.user_store import UserStore

__all__ = ["UserService"]


class UserService(ResourceService):
    """Users of one provisioning source."""

    model = UserModel
    store_type = UserStore
    store: UserStore

    def __init__(self, *args: Any, revocation: UserCredentialRevoker, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.revocation = revocation

    def create(self, body: Any, *, actor: str) -> dict[str, Any]:
        """RFC 7644 §3.3: create a User; 409 if its userName or externalId is taken."""
        resource = self._validate(body, Context.RESOURCE_CREATION_REQUEST)
        with storage_errors():
            return self.store.create(self._dump(resource), actor=actor)

    def get(self, user_id: str) -> dict[str, Any]:
        """RFC 7644 §3.4.1: one User."""
        with storage_errors():
            return self.store.get(user_id)

    def replace(
        self, user_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        """RFC 7644 §3.5.1: replace a User's attributes."""
        dumped = self._dump(self._validate(body, Context.RESOURCE_REPLACEMENT_REQUEST))
        return self._write(user_id, actor, if_match, "replace", lambda _current: dumped)

    def patch(
        self, user_id: str, body: Any, *, actor: str, if_match: str | None = None
    ) -> dict[str, Any]:
        """RFC 7644 §3.5.2: modify a User with add/remove/replace operations."""
        plan = plan_patch(body, user_id, with_members=False, dialect=self.dialect)
        apply = self._attribute_patch(plan.body)
        return self._write(
            user_id, actor, if_match, "patch", lambda current: self._dump(apply(current))
        )

    def _write(
        self, user_id: str, actor: str, if_match: str | None, action: str, change: Any
    ) -> dict[str, Any]:
        with storage_errors():
            after = self.store.update(
                user_id, change, actor=actor, action=action, expected=if_match_versions(if_match)
            )
        if after.get("active") is False:
            # RFC 7644 §3.5.2 lets a client deactivate with active=false: every session and
            # refresh token of the user ends now, through the one revocation point.
            self.revocation.revoke_user(user_id)
        return after

    def delete(self, user_id: str, *, actor: str, if_match: str | None = None) -> None:
        """RFC 7644 §3.6: delete a User; its credentials are revoked first."""
        self._delete(user_id, actor, if_match)
        self.revocation.revoke_user(user_id)

    def list(self, query: ListQuery) -> Page:
        """RFC 7644 §3.4.2: filtered, sorted, paginated Users, filtered by the database."""
        return self._list(query, with_related=True)
