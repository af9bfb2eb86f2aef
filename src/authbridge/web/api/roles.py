"""`/api/v1/roles`: the roles that exist and their permissions (permission `roles.read`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

from authbridge.directory.roles import Role
from authbridge.web.api.auth import Caller, Permission
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["RoleOut", "router"]

router = APIRouter(prefix="/api/v1/roles", tags=["roles"])


class RoleOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    description: str
    permissions: list[str]
    builtin: bool = Field(description="Built in (true) or defined under `roles:` (false).")

    @classmethod
    def of(cls, role: Role) -> RoleOut:
        return cls(
            name=role.name,
            description=role.description,
            permissions=sorted(role.permissions),
            builtin=role.builtin,
        )


class RoleList(BaseModel):
    items: list[RoleOut]


@router.get("", operation_id="listRoles", summary="List roles")
async def list_roles(
    request: Request, _caller: Annotated[Caller, Permission("roles.read")]
) -> RoleList:
    admin = services_of(request).ready().admin
    return RoleList(items=[RoleOut.of(r) for r in admin.roles.list()])


@router.get("/{name}", operation_id="getRole", summary="Get a role", responses=problems(404))
async def get_role(
    name: str, request: Request, _caller: Annotated[Caller, Permission("roles.read")]
) -> RoleOut:
    return RoleOut.of(services_of(request).ready().admin.roles.get(name))
