"""`/api/v1/bindings`: role bindings of users and teams at scopes, and a user's effective
roles (permissions `roles.read`, `roles.write`); every act is `admin.bindings.BindingAdmin`'s."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from authbridge.admin.bindings import CONFIG_ORIGIN_PREFIX, BindingAdmin
from authbridge.admin.paging import PageRequest
from authbridge.directory.roles import SYSTEM_SCOPE
from authbridge.storage.bindings import BindingRow
from authbridge.tokens.claims import SCOPED_ROLES
from authbridge.web.api.auth import Caller, Permission
from authbridge.web.api.camel import ApiModel, RequestModel
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["BindingOut", "EffectiveRolesOut", "router"]

PREFIX = "/api/v1/bindings"
router = APIRouter(prefix=PREFIX, tags=["bindings"])
Id = Annotated[str, Query(max_length=64)]


class BindingOut(ApiModel):
    id: int
    role: str
    scope: str = Field(description="`system`, or a platform scope such as `workspace:ws1`.")
    user: str | None = Field(description="The user's id (bound to a user).")
    team: str | None = Field(description="The team's id (bound to a team).")
    username: str | None
    team_name: str | None
    origin: str = Field(
        description="Who made it: `api`, `cli`, `setup`, `scim:<source>`, `config:...`."
    )
    read_only: bool = Field(description="Made by the configuration: change it there.")
    created_at: datetime

    @classmethod
    def of(cls, row: BindingRow) -> BindingOut:
        return cls(
            id=row.id,
            role=row.role,
            scope=row.scope,
            user=row.user_id,
            team=row.team_id,
            username=row.username,
            team_name=row.team_name,
            origin=row.origin,
            read_only=row.origin.startswith(CONFIG_ORIGIN_PREFIX),
            created_at=row.created_at,
        )


class BindingList(ApiModel):
    items: list[BindingOut]
    next_cursor: str | None


class BindingCreate(RequestModel):
    role: str = Field(min_length=1, max_length=64)
    user: str | None = Field(default=None, max_length=64, description="A user's id.")
    team: str | None = Field(default=None, max_length=64, description="A team's id.")
    scope: str = Field(default=SYSTEM_SCOPE, min_length=1, max_length=256)


class EffectiveRolesOut(ApiModel):
    """What the user's access tokens carry, whole (never bounded like the token's claim)."""

    sub: str
    roles: list[str] = Field(description="Roles at system scope.")
    scoped_roles: dict[str, list[str]] = Field(
        alias=SCOPED_ROLES, description="Roles per platform scope (system roles not repeated)."
    )
    groups: list[str] = Field(description="The user's teams.")
    permissions: dict[str, list[str]] = Field(description="Permissions per scope.")


def _bindings(request: Request) -> BindingAdmin:
    return services_of(request).ready().admin.bindings


@router.get("", operation_id="listBindings", summary="List role bindings")
async def list_bindings(
    request: Request,
    _caller: Annotated[Caller, Permission("roles.read")],
    user: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    role: Annotated[str | None, Query(max_length=64)] = None,
    scope: Annotated[str | None, Query(max_length=256)] = None,
    origin: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int | None, Query(ge=1, le=200)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> BindingList:
    page = PageRequest.of(limit, cursor)
    found = await run_in_threadpool(
        lambda: _bindings(request).list(
            page, user_id=user, team_id=team, role=role, scope=scope, origin=origin
        )
    )
    return BindingList(items=[BindingOut.of(b) for b in found.items], next_cursor=found.next_cursor)


@router.post(
    "",
    operation_id="grantRole",
    summary="Bind a role to a user or a team at a scope (idempotent)",
    status_code=201,
    responses={
        200: {"model": BindingOut, "description": "The binding existed; it is returned as is."},
        **problems(),
    },
)
async def grant(
    body: BindingCreate,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("roles.write")],
) -> BindingOut:
    row, added = await run_in_threadpool(
        lambda: _bindings(request).grant(
            body.role, user_id=body.user, team_id=body.team, scope=body.scope, actor=caller.actor
        )
    )
    response.headers["location"] = f"{PREFIX}/{row.id}"
    if not added:
        response.status_code = 200
    return BindingOut.of(row)


@router.get(
    "/effective",
    operation_id="getEffectiveRoles",
    summary="A user's effective roles, as their tokens carry them",
    responses=problems(404),
)
async def effective(
    request: Request, _caller: Annotated[Caller, Permission("roles.read")], user: Id
) -> EffectiveRolesOut:
    document = await run_in_threadpool(_bindings(request).effective, user)
    return EffectiveRolesOut.model_validate(document)


@router.get(
    "/{binding_id:int}", operation_id="getBinding", summary="Get a binding", responses=problems(404)
)
async def get_binding(
    binding_id: Annotated[int, Path(ge=1, le=2**62)],
    request: Request,
    _caller: Annotated[Caller, Permission("roles.read")],
) -> BindingOut:
    return BindingOut.of(await run_in_threadpool(_bindings(request).get, binding_id))


@router.delete(
    "/{binding_id:int}",
    operation_id="revokeBinding",
    summary="Revoke a binding",
    status_code=204,
    response_class=Response,
    responses=problems(404, 409),
)
async def revoke(
    binding_id: Annotated[int, Path(ge=1, le=2**62)],
    request: Request,
    caller: Annotated[Caller, Permission("roles.write")],
) -> Response:
    """409 (`read-only`) for a binding the configuration makes; 403 (`forbidden`) for the
    last binding through which an active user is a system administrator."""
    await run_in_threadpool(_bindings(request).revoke, binding_id, actor=caller.actor)
    return Response(status_code=204)
