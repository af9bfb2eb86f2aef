"""`/api/v1/invitations`: invite an email (with teams and role bindings), list, resend,
revoke (permissions `users.read` / `users.write`). The one-time link is in a response only
when it was not mailed (no `smtp:`): it is shown that once and stored only as a digest."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from authbridge.admin.invitations import InvitationView
from authbridge.admin.paging import MAX_LIMIT, PageRequest
from authbridge.directory.invitations import MAX_BINDINGS, MAX_TEAMS, Grant
from authbridge.storage.teams import LOCAL
from authbridge.web.api.auth import Caller, Permission, demand
from authbridge.web.api.camel import ApiModel, RequestModel
from authbridge.web.api.openapi import problems
from authbridge.web.dependencies import services_of

__all__ = ["InvitationIn", "InvitationOut", "router"]

router = APIRouter(prefix="/api/v1/invitations", tags=["invitations"])


class BindingIn(RequestModel):
    role: str = Field(min_length=1, max_length=64)
    scope: str = Field(default="system", min_length=1, max_length=256)


class InvitationIn(RequestModel):
    email: str = Field(min_length=3, max_length=320)
    teams: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(
        default_factory=list, max_length=MAX_TEAMS
    )
    role_bindings: list[BindingIn] = Field(default_factory=list, max_length=MAX_BINDINGS)


class BindingOut(ApiModel):
    role: str
    scope: str


class InvitationOut(ApiModel):
    id: str
    email: str
    teams: list[str]
    role_bindings: list[BindingOut]
    status: str = Field(description="pending, accepted, revoked or expired.")
    emailed: bool = Field(description="The link was mailed (else returned once, as `link`).")
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    accepted_by: str | None = Field(description="The id of the account that accepted.")
    link: str | None = Field(
        default=None,
        description="The one-time link, only in the answer that made it and only when it "
        "was not mailed.",
    )

    @classmethod
    def of(cls, view: InvitationView) -> InvitationOut:
        row = view.invitation
        return cls(
            id=row.id,
            email=row.email,
            teams=list(row.teams),
            role_bindings=[BindingOut(role=b["role"], scope=b["scope"]) for b in row.bindings],
            status=view.status,
            emailed=row.emailed,
            invited_by=row.invited_by,
            created_at=row.created_at,
            expires_at=row.expires_at,
            ended_at=row.ended_at,
            accepted_by=row.accepted_by,
            link=view.link,
        )


class InvitationList(ApiModel):
    items: list[InvitationOut]
    next_cursor: str | None = None


@router.get(
    "",
    operation_id="listInvitations",
    summary="List invitations, newest first",
    response_model_by_alias=True,
)
def list_invitations(
    request: Request,
    _caller: Annotated[Caller, Permission("users.read")],
    limit: Annotated[int | None, Query(ge=1, le=MAX_LIMIT)] = None,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
    status: Annotated[
        str | None,
        Query(max_length=16, description="pending, accepted, expired or revoked."),
    ] = None,
) -> InvitationList:
    admin = services_of(request).ready().admin
    page = admin.invitations.list(PageRequest.of(limit, cursor), status=status)
    return InvitationList(
        items=[InvitationOut.of(v) for v in page.items], next_cursor=page.next_cursor
    )


@router.post(
    "",
    operation_id="createInvitation",
    summary="Invite an email",
    status_code=201,
    response_model_by_alias=True,
    responses=problems(),
)
def create_invitation(
    body: InvitationIn,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("users.write")],
) -> InvitationOut:
    ready = services_of(request).ready()
    _demand_grants(request, caller, bool(body.role_bindings), body.teams)
    admin = ready.admin
    view = admin.invitations.create(
        caller.actor,
        body.email,
        teams=body.teams,
        grants=[Grant(b.role, b.scope) for b in body.role_bindings],
    )
    response.headers["location"] = f"{router.prefix}/{view.invitation.id}"
    response.headers["cache-control"] = "no-store"  # it may carry the link
    return InvitationOut.of(view)


@router.get(
    "/{invitation_id}",
    operation_id="getInvitation",
    summary="Get an invitation",
    response_model_by_alias=True,
    responses=problems(404),
)
def get_invitation(
    invitation_id: Annotated[str, Path(max_length=64)],
    request: Request,
    _caller: Annotated[Caller, Permission("users.read")],
) -> InvitationOut:
    return InvitationOut.of(services_of(request).ready().admin.invitations.get(invitation_id))


@router.post(
    "/{invitation_id}/resend",
    operation_id="resendInvitation",
    summary="Send a new link (the old one stops working)",
    response_model_by_alias=True,
    responses=problems(404),
)
def resend_invitation(
    invitation_id: Annotated[str, Path(max_length=64)],
    request: Request,
    response: Response,
    caller: Annotated[Caller, Permission("users.write")],
) -> InvitationOut:
    admin = services_of(request).ready().admin
    # A new link comes back to the caller (without smtp:): whoever accepts it gets the
    # invitation's roles, so resending needs what creating it needed.
    invitation = admin.invitations.get(invitation_id).invitation
    if not admin.invitations.mails:
        _demand_grants(request, caller, bool(invitation.bindings), invitation.teams)
    response.headers["cache-control"] = "no-store"
    return InvitationOut.of(admin.invitations.resend(caller.actor, invitation_id))


def _demand_grants(request: Request, caller: Caller, bindings: bool, teams: list[str]) -> None:
    """roles.write for an invitation with role bindings or into a team that gives roles."""
    ready = services_of(request).ready()
    if bindings:
        demand(request, caller, "roles.write", "an invitation with role bindings")
    for name in teams:
        row = ready.storage.teams.find(ready.membership.ref(LOCAL, name.strip()))
        team = (row.id, row.name, row.managed_by) if row else (None, name.strip(), LOCAL)
        if ready.bindings.team_confers_roles(*team):
            demand(
                request,
                caller,
                "roles.write",
                f"an invitation into team {name!r}, which gives roles,",
            )


@router.delete(
    "/{invitation_id}",
    operation_id="revokeInvitation",
    summary="Revoke a pending invitation",
    status_code=204,
    responses=problems(404),
)
def revoke_invitation(
    invitation_id: Annotated[str, Path(max_length=64)],
    request: Request,
    caller: Annotated[Caller, Permission("users.write")],
) -> Response:
    services_of(request).ready().admin.invitations.revoke(caller.actor, invitation_id)
    return Response(status_code=204)
