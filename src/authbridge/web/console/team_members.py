"""A team's members and role bindings, changed from its page: adding a member (source
`local`: an administrator's word) and withdrawing it, granting a role to the team and
revoking one — through `admin.teams` and `admin.bindings`, as the API does.

Withdrawing is the administrator's word only: a membership SCIM or a login holds stays, and
one that only they hold is refused by the service (shown as it says, naming the sources).
Adding someone to a team that gives roles is a role grant: roles.write too (as
`PUT /api/v1/teams/{id}/members/{user}`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.directory.membership import LOCAL
from authbridge.web.console.common import source_label
from authbridge.web.console.guard import console_writer
from authbridge.web.console.roles import grant_binding, revoke_binding
from authbridge.web.console.shell import Ask, act
from authbridge.web.dependencies import ServicesDep

__all__ = ["router"]

router = APIRouter()
FormStr = Annotated[str, Form()]
PATH = "/admin/teams"
SECTION = "teams"


@router.post(f"{PATH}/{{team_id}}/members", include_in_schema=False)
def add_member(
    team_id: str,
    request: Request,
    services: ServicesDep,
    user: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "teams.write", csrf_token)
    ready = services.ready()

    def run() -> str:
        team = ready.admin.teams.get(team_id)
        person = ready.admin.users.find_person(user.strip())
        if ready.bindings.team_confers_roles(team.id, team.name, team.managed_by):
            operator.demand(
                "roles.write", f"Adding a member to team {team.name!r}, which gives roles,"
            )
        _member, added = ready.admin.teams.add_member(team.id, person.user.id, actor=operator.actor)
        return "member-added" if added else "member-kept"

    return act(request, services, operator, run, back=f"{PATH}/{team_id}", section=SECTION)


@router.post(f"{PATH}/{{team_id}}/members/remove", include_in_schema=False)
def remove_member(
    team_id: str,
    request: Request,
    services: ServicesDep,
    user: FormStr = "",
    confirmed: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "teams.write", csrf_token)
    admin = services.ready().admin

    def run() -> str | Ask:
        member = admin.teams.member(team_id, user)
        if LOCAL not in member.sources:
            # Only its sources hold it: the service's refusal says which, nothing to confirm.
            admin.teams.remove_member(team_id, member.user_id, actor=operator.actor)
        if confirmed != "yes":
            team = admin.teams.get(team_id)
            others = [source_label(s) for s in member.sources if s != LOCAL]
            stays = (
                f" They stay a member through {', '.join(others)}."
                if others
                else " They are then no longer a member."
            )
            return Ask(
                f"Remove {member.username} from {team.name}?",
                f"This withdraws the administrator's membership.{stays}",
                f"{PATH}/{team.id}/members/remove",
                "Remove member",
                {"user": member.user_id},
            )
        admin.teams.remove_member(team_id, member.user_id, actor=operator.actor)
        return "member-removed"

    return act(request, services, operator, run, back=f"{PATH}/{team_id}", section=SECTION)


@router.post(f"{PATH}/{{team_id}}/bindings", include_in_schema=False)
def grant(
    team_id: str,
    request: Request,
    services: ServicesDep,
    role: FormStr = "",
    scope: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "roles.write", csrf_token)
    admin = services.ready().admin

    def run() -> str:
        team = admin.teams.get(team_id)
        return grant_binding(admin, operator, role=role, person="", team=team.id, scope=scope)

    return act(request, services, operator, run, back=f"{PATH}/{team_id}", section=SECTION)


@router.post(f"{PATH}/{{team_id}}/bindings/{{binding_id}}/revoke", include_in_schema=False)
def revoke(
    team_id: str,
    binding_id: str,
    request: Request,
    services: ServicesDep,
    confirmed: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "roles.write", csrf_token)
    back = f"{PATH}/{team_id}"
    return revoke_binding(
        request,
        services,
        operator,
        binding_id,
        confirmed=confirmed,
        action=f"{back}/bindings/{binding_id}/revoke",
        back=back,
        section=SECTION,
        team_id=team_id,
    )
