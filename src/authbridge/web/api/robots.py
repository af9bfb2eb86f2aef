"""`/api/v1/robots`: robot tokens, long-lived access tokens of a robot principal
(permissions `clients.read`, `clients.write`). A token appears once, in the response that
issued it; it is never stored (only its id)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Response
from pydantic import Field
from starlette.requests import Request

from authbridge.admin.paging import PageRequest
from authbridge.admin.robots import MAX_ROBOT_LIFETIME, robot_state
from authbridge.clock import utcnow
from authbridge.storage.provider_store import RobotTokenRow
from authbridge.web.api.auth import Caller, Permission, demand_roles
from authbridge.web.api.camel import ApiModel, RequestModel
from authbridge.web.api.clients import TEXT, Cursor, Limit
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["RobotOut", "router"]

router = APIRouter(prefix="/api/v1/robots", tags=["robots"])


class RobotOut(ApiModel):
    id: str = Field(description="The token's id (`jti`).")
    user_id: str
    username: str
    description: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    state: Literal["active", "expired", "revoked"]

    @classmethod
    def of(cls, row: RobotTokenRow, now: datetime) -> RobotOut:
        return cls(
            id=row.jti,
            user_id=row.user_id,
            username=row.username,
            description=row.description,
            created_at=row.created_at,
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            state=robot_state(row, now),
        )


class RobotList(ApiModel):
    items: list[RobotOut]
    next_cursor: str | None


class RobotIssued(RobotOut):
    token: str = Field(description="The access token: shown in this response only.")


class RobotIn(RequestModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
    role: str = Field(default="viewer", min_length=1, max_length=128)
    lifetime: int = Field(default=30 * 86400, ge=60, le=MAX_ROBOT_LIFETIME, description="Seconds.")
    description: TEXT = ""


@router.get("", operation_id="listRobots", summary="List robot tokens")
async def list_robots(
    request: Request,
    _caller: Annotated[Caller, Permission("clients.read")],
    limit: Limit = None,
    cursor: Cursor = None,
) -> RobotList:
    page = services_of(request).ready().admin.robots.list(PageRequest.of(limit, cursor))
    now = utcnow()
    return RobotList(items=[RobotOut.of(r, now) for r in page.items], next_cursor=page.next_cursor)


@router.post(
    "",
    operation_id="issueRobot",
    summary="Issue a robot token (shown once)",
    status_code=201,
    responses=problems(409),
)
async def issue_robot(
    body: RobotIn,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("clients.write")],
) -> RobotIssued:
    demand_roles(request, caller, [body.role], "a robot token with a role")
    issued = (
        services_of(request)
        .ready()
        .admin.robots.issue(caller.actor, body.name, body.role, body.lifetime, body.description)
    )
    response.headers["location"] = f"{router.prefix}/{issued.robot.jti}"
    response.headers["cache-control"] = "no-store"
    out = RobotOut.of(issued.robot, utcnow())
    return RobotIssued(**out.model_dump(), token=issued.token)


@router.delete(
    "/{robot_id}",
    operation_id="revokeRobot",
    summary="Revoke a robot token",
    status_code=204,
    response_class=Response,
    responses=problems(404),
)
async def revoke_robot(
    robot_id: str, request: Request, caller: Annotated[Caller, Permission("clients.write")]
) -> Response:
    services_of(request).ready().admin.robots.revoke(caller.actor, robot_id)
    return Response(status_code=204)
