"""`/admin/teams`: teams (search, pagination), creating an administrator's team, and a
team's page (members with the source of each membership, role bindings, rename and
describe, delete), through `admin.teams` as `/api/v1/teams` does.

Renaming carries the version the page was read at (a hidden field) as `If-Match`: the
service compares it in the write's transaction, so a change made meanwhile (another
operator, a SCIM rename) is refused (412) instead of silently overwritten. A name a role
template matches makes the team's members holders of roles: roles.write too, as in the API.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError
from authbridge.admin.paging import MAX_LIMIT, PageRequest
from authbridge.directory.membership import LOCAL
from authbridge.web.console.common import field_errors, next_link, page_request, source_label
from authbridge.web.console.guard import ConsoleUser, console_user, console_writer
from authbridge.web.console.shell import Ask, act, done, failed, notice_of, page
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["router", "team_page"]

router = APIRouter()
FormStr = Annotated[str, Form()]
PATH = "/admin/teams"
SECTION = "teams"
NOTICES = {
    "created": "The team was created.",
    "deleted": "The team was deleted, with its memberships and role bindings.",
    "updated": "The team was saved.",
    "member-added": "The member was added.",
    "member-kept": "That user was a member by an administrator's word already.",
    "member-removed": "The administrator's membership was withdrawn.",
    "granted": "The role was granted to the team.",
    "existed": "The team had that binding already; nothing changed.",
    "revoked": "The binding was revoked.",
}


def _list_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    *,
    q: str = "",
    limit: str = "",
    cursor: str = "",
    status_code: int = 200,
    **context: Any,
) -> Response:
    admin = services.ready().admin
    try:
        found = admin.teams.list(page_request(limit, cursor, key_size=2), q=q.strip() or None)
    except AdminError as exc:
        return failed(request, services, user, exc, back=PATH, section=SECTION)
    return page(
        request,
        services,
        user,
        "console/teams.html",
        SECTION,
        status_code=status_code,
        teams=found.items,
        q=q,
        next_url=next_link(PATH, found.next_cursor, q=q, limit=limit),
        notice=notice_of(request, NOTICES),
        label=source_label,
        **context,
    )


@router.get(PATH, include_in_schema=False)
def teams(
    request: Request, services: ServicesDep, q: str = "", limit: str = "", cursor: str = ""
) -> Response:
    user = console_user(request, services, "teams.read")
    return _list_page(request, services, user, q=q, limit=limit, cursor=cursor)


@router.post(PATH, include_in_schema=False)
def create(
    request: Request,
    services: ServicesDep,
    name: FormStr = "",
    description: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    user = console_writer(request, services, "teams.write", csrf_token)
    try:
        team = services.ready().admin.teams.create(
            name, description=description.strip() or None, actor=user.actor
        )
    except AdminError as exc:
        return _list_page(
            request,
            services,
            user,
            status_code=exc.status,
            form={"name": name, "description": description},
            form_errors=field_errors(exc) or {"name": exc.detail},
        )
    return done(f"{PATH}/{team.id}", "created")


def team_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    team_id: str,
    *,
    limit: str = "",
    cursor: str = "",
) -> Response:
    """A team: its facts, a page of members, its bindings and the forms its operator may use."""
    admin = services.ready().admin
    try:
        team = admin.teams.get(team_id)
        members = admin.teams.members(team_id, page_request(limit, cursor, key_size=2))
        bindings = admin.bindings.list(PageRequest(MAX_LIMIT), team_id=team_id)
    except AdminError as exc:
        return failed(request, services, user, exc, back=PATH, section=SECTION)
    return page(
        request,
        services,
        user,
        "console/team.html",
        SECTION,
        team=team,
        local=team.managed_by == LOCAL,
        members=members.items,
        next_url=next_link(f"{PATH}/{team.id}", members.next_cursor, limit=limit),
        bindings=bindings.items,
        more_bindings=bindings.next_cursor is not None,
        roles=admin.roles.list(),
        label=source_label,
        notice=notice_of(request, NOTICES),
    )


@router.get(f"{PATH}/{{team_id}}", include_in_schema=False)
def team(
    team_id: str, request: Request, services: ServicesDep, limit: str = "", cursor: str = ""
) -> Response:
    user = console_user(request, services, "teams.read")
    return team_page(request, services, user, team_id, limit=limit, cursor=cursor)


@router.post(f"{PATH}/{{team_id}}/edit", include_in_schema=False)
def edit(
    team_id: str,
    request: Request,
    services: ServicesDep,
    name: FormStr = "",
    description: FormStr = "",
    version: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    user = console_writer(request, services, "teams.write", csrf_token)
    ready = services.ready()

    def run() -> str:
        current = ready.admin.teams.get(team_id)
        new_name = name.strip()
        renamed = bool(new_name) and new_name != current.name
        if renamed and ready.bindings.team_confers_roles(current.id, new_name, current.managed_by):
            user.demand("roles.write", f"Naming a team {new_name!r}, which gives roles,")
        ready.admin.teams.update(
            team_id,
            if_match=version or None,
            actor=user.actor,
            name=name if name.strip() else None,
            description=description.strip() or None,
        )
        return "updated"

    return act(request, services, user, run, back=f"{PATH}/{team_id}", section=SECTION)


@router.post(f"{PATH}/{{team_id}}/delete", include_in_schema=False)
def delete(
    team_id: str,
    request: Request,
    services: ServicesDep,
    confirmed: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    user = console_writer(request, services, "teams.write", csrf_token)
    admin = services.ready().admin

    def run() -> str | Ask:
        found = admin.teams.get(team_id)
        if confirmed != "yes":
            return Ask(
                f"Delete team {found.name}?",
                f"Its {found.member_count} memberships and its role bindings are "
                "deleted with it; its members lose the roles it gave them.",
                f"{PATH}/{found.id}/delete",
                "Delete team",
            )
        admin.teams.delete(found.id, actor=user.actor)
        return "deleted"

    return act(request, services, user, run, back=f"{PATH}/{team_id}", section=SECTION, to=PATH)
