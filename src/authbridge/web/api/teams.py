"""`/api/v1/teams`: teams, and their members with the source of each membership (permissions
`teams.read`, `teams.write`); every act is `admin.teams.TeamAdmin`'s."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from authbridge.admin.paging import PageRequest
from authbridge.admin.teams import MAX_DESCRIPTION, TeamAdmin
from authbridge.directory.membership import MAX_TEAM_NAME
from authbridge.storage.team_admin import MemberRow, TeamInfo
from authbridge.web.api.auth import Caller, Permission, demand
from authbridge.web.api.camel import ApiModel, RequestModel
from authbridge.web.api.openapi import problems
from authbridge.web.api.preconditions import etag, if_match
from authbridge.web.dependencies import services_of

__all__ = ["MemberOut", "TeamOut", "router"]

PREFIX = "/api/v1/teams"
router = APIRouter(prefix=PREFIX, tags=["teams"])
TeamId = Annotated[str, Path(max_length=64)]
UserId = Annotated[str, Path(max_length=64)]
Limit = Annotated[int | None, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(max_length=512)]


class TeamOut(ApiModel):
    id: str
    name: str
    display_name: str = Field(description="The name people see (a SCIM group's displayName).")
    description: str | None
    managed_by: str = Field(
        description="The source that owns the team: `local`, `scim:<source>` or `idp:<connector>`."
    )
    external_id: str | None = Field(description="The SCIM group's externalId, if any.")
    member_count: int
    created_at: datetime

    @classmethod
    def of(cls, team: TeamInfo) -> TeamOut:
        return cls(
            id=team.id,
            name=team.name,
            display_name=team.name,
            description=team.description,
            managed_by=team.managed_by,
            external_id=team.external_id,
            member_count=team.member_count,
            created_at=team.created_at,
        )


class TeamList(ApiModel):
    items: list[TeamOut]
    next_cursor: str | None


class TeamCreate(RequestModel):
    name: str = Field(min_length=1, max_length=MAX_TEAM_NAME)
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


class TeamPatch(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=MAX_TEAM_NAME)
    description: str | None = Field(
        default=None, max_length=MAX_DESCRIPTION, description="null removes it."
    )


class MemberOut(ApiModel):
    user_id: str
    username: str
    sources: list[str] = Field(
        description="The sources whose word holds the membership (`scim:okta`, `idp:okta`, "
        "`local`); empty once none does."
    )

    @classmethod
    def of(cls, member: MemberRow) -> MemberOut:
        return cls(user_id=member.user_id, username=member.username, sources=list(member.sources))


class MemberList(ApiModel):
    items: list[MemberOut]
    next_cursor: str | None


def _teams(request: Request) -> TeamAdmin:
    return services_of(request).ready().admin.teams


def _one(response: Response, team: TeamInfo) -> TeamOut:
    response.headers["etag"] = etag(team.version)
    return TeamOut.of(team)


@router.get("", operation_id="listTeams", summary="List teams")
async def list_teams(
    request: Request,
    _caller: Annotated[Caller, Permission("teams.read")],
    q: Annotated[str | None, Query(max_length=256, description="A part of the name.")] = None,
    managed_by: Annotated[str | None, Query(alias="managedBy", max_length=160)] = None,
    limit: Limit = None,
    cursor: Cursor = None,
) -> TeamList:
    page = PageRequest.of(limit, cursor)
    found = await run_in_threadpool(_teams(request).list, page, q=q, managed_by=managed_by)
    return TeamList(items=[TeamOut.of(t) for t in found.items], next_cursor=found.next_cursor)


@router.post(
    "",
    operation_id="createTeam",
    summary="Create a team (managed local)",
    status_code=201,
    responses=problems(409),
)
async def create_team(
    body: TeamCreate,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("teams.write")],
) -> TeamOut:
    team = await run_in_threadpool(
        _teams(request).create, body.name, description=body.description, actor=caller.actor
    )
    response.headers["location"] = f"{PREFIX}/{team.id}"
    return _one(response, team)


@router.get("/{team_id}", operation_id="getTeam", summary="Get a team", responses=problems(404))
async def get_team(
    team_id: TeamId,
    request: Request,
    response: Response,
    _caller: Annotated[Caller, Permission("teams.read")],
) -> TeamOut:
    return _one(response, await run_in_threadpool(_teams(request).get, team_id))


@router.patch(
    "/{team_id}",
    operation_id="updateTeam",
    summary="Rename or describe a team (If-Match required)",
    responses=problems(404, 409, 412, 428),
)
async def update_team(
    team_id: TeamId,
    body: TeamPatch,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("teams.write")],
) -> TeamOut:
    changes: dict[str, str | None] = {}
    if "name" in body.model_fields_set and body.name is not None:
        changes["name"] = body.name
    if "description" in body.model_fields_set:
        changes["description"] = body.description
    if body.name is not None:
        await run_in_threadpool(_may_rename, request, caller, team_id, body.name)
    team = await run_in_threadpool(
        lambda: _teams(request).update(
            team_id, if_match=if_match(request), actor=caller.actor, **changes
        )
    )
    return _one(response, team)


@router.delete(
    "/{team_id}",
    operation_id="deleteTeam",
    summary="Delete a team an administrator manages",
    status_code=204,
    response_class=Response,
    responses=problems(404, 409),
)
async def delete_team(
    team_id: TeamId, request: Request, caller: Annotated[Caller, Permission("teams.write")]
) -> Response:
    await run_in_threadpool(_teams(request).delete, team_id, actor=caller.actor)
    return Response(status_code=204)


@router.get(
    "/{team_id}/members",
    operation_id="listTeamMembers",
    summary="List a team's members and the sources of each membership",
    responses=problems(404),
)
async def list_members(
    team_id: TeamId,
    request: Request,
    _caller: Annotated[Caller, Permission("teams.read")],
    limit: Limit = None,
    cursor: Cursor = None,
) -> MemberList:
    page = PageRequest.of(limit, cursor)
    found = await run_in_threadpool(_teams(request).members, team_id, page)
    return MemberList(items=[MemberOut.of(m) for m in found.items], next_cursor=found.next_cursor)


def _may_join(request: Request, caller: Caller, team_id: str) -> None:
    """Adding a member to a team that gives roles grants those roles: roles.write too."""
    ready = services_of(request).ready()
    team = ready.storage.teams.get(team_id)
    if team is not None and ready.bindings.team_confers_roles(team.id, team.name, team.managed_by):
        demand(
            request,
            caller,
            "roles.write",
            f"adding a member to team {team.name!r}, which gives roles,",
        )


def _may_rename(request: Request, caller: Caller, team_id: str, name: str) -> None:
    """A name a role template matches gives the team's members its roles: roles.write too."""
    ready = services_of(request).ready()
    team = ready.storage.teams.get(team_id)
    if team is not None and ready.bindings.team_confers_roles(team.id, name, team.managed_by):
        demand(request, caller, "roles.write", f"naming a team {name!r}, which gives roles,")


@router.put(
    "/{team_id}/members/{user_id}",
    operation_id="addTeamMember",
    summary="Add a member as an administrator (source local; idempotent)",
    responses={
        201: {"model": MemberOut, "description": "The administrator's membership is new."},
        **problems(404, 409),
    },
)
async def add_member(
    team_id: TeamId,
    user_id: UserId,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("teams.write")],
) -> MemberOut:
    await run_in_threadpool(_may_join, request, caller, team_id)
    member, added = await run_in_threadpool(
        _teams(request).add_member, team_id, user_id, actor=caller.actor
    )
    if added:
        response.status_code = 201
        response.headers["location"] = f"{PREFIX}/{team_id}/members/{user_id}"
    return MemberOut.of(member)


@router.delete(
    "/{team_id}/members/{user_id}",
    operation_id="removeTeamMember",
    summary="Withdraw an administrator's membership (other sources' stay)",
    responses=problems(404),
)
async def remove_member(
    team_id: TeamId,
    user_id: UserId,
    request: Request,
    caller: Annotated[Caller, Permission("teams.write")],
) -> MemberOut:
    """The membership as it remains: `sources` lists the sources that still hold it (empty:
    the user is no longer a member). 404, naming the sources that hold it, when there was
    no administrator's membership to withdraw."""
    member = await run_in_threadpool(
        _teams(request).remove_member, team_id, user_id, actor=caller.actor
    )
    return MemberOut.of(member)
