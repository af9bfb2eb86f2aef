"""`POST /api/v1/users/{id}/mfa/reset`: remove a user's second factors (TOTP, recovery
codes and passkeys), as `POST /api/v1/users/{id}/revoke` ends their credentials. Glue
only: the act is `admin.mfa.reset` (`authbridge.admin.mfa.MfaAdmin`), which the CLI's
`users reset-mfa` calls too; it needs `users.write` and is audited."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import Field

from authbridge.web.api.auth import Caller, Permission, demand_roles
from authbridge.web.api.camel import ApiModel
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["MfaReset", "router"]

router = APIRouter(prefix="/api/v1/users", tags=["users"])

UserId = Annotated[str, Path(max_length=64, description="The user's id.")]
Write = Annotated[Caller, Permission("users.write")]


class MfaReset(ApiModel):
    removed: bool = Field(description="Whether the user had a second factor to remove.")


@router.post(
    "/{user_id}/mfa/reset",
    operation_id="resetUserMfa",
    summary="Remove a user's second factors (TOTP, recovery codes, passkeys)",
    responses=problems(404),
)
def reset_mfa(user_id: UserId, request: Request, caller: Write) -> MfaReset:
    ready = services_of(request).ready()
    user = ready.storage.users.get(user_id)
    if user is not None:
        # Taking a factor off an account with roles leaves its password alone between
        # whoever knows it and those roles: what granting them needs.
        roles = ready.bindings.held_roles(user.id)
        demand_roles(request, caller, roles, "resetting the second factor of a user with a role")
    return MfaReset(removed=ready.admin.mfa.reset(caller.actor, user_id))
