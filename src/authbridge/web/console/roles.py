"""`/admin/roles`: the roles (built in and configured) with their permissions, and the role
bindings, filtered by subject (a user or a team) and by scope; granting and revoking
(`roles.write`, as `POST`/`DELETE /api/v1/bindings` need), through `admin.bindings`.

The team page grants to and revokes from its team through `grant_binding` and
`revoke_binding` here, so there is one way to do each in the console.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest, NotFound
from authbridge.admin.service import Admin
from authbridge.directory.roles import SYSTEM_SCOPE
from authbridge.web.console.common import next_link, page_request
from authbridge.web.console.guard import ConsoleUser, console_user, console_writer
from authbridge.web.console.shell import Ask, act, failed, notice_of, page
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["grant_binding", "revoke_binding", "router"]

router = APIRouter()
FormStr = Annotated[str, Form()]
PATH = "/admin/roles"
SECTION = "roles"
NOTICES = {
    "granted": "The role was granted.",
    "existed": "That binding existed already; nothing changed.",
    "revoked": "The binding was revoked.",
}
MAX_BINDING_ID = 18  # digits: ids are 64-bit


def grant_binding(
    admin: Admin, user: ConsoleUser, *, role: str, person: str, team: str, scope: str
) -> str:
    """Bind `role` at `scope` to the user (username, email or id) or the team (name or id)
    an operator typed: `admin.bindings.grant`, which refuses both or neither. Its notice:
    `granted`, or `existed` when the binding was there already."""
    user_id = admin.users.find_person(person.strip()).user.id if person.strip() else None
    team_id = admin.teams.find_named(team).id if team.strip() else None
    _row, added = admin.bindings.grant(
        role.strip(),
        user_id=user_id,
        team_id=team_id,
        scope=scope.strip() or SYSTEM_SCOPE,
        actor=user.actor,
    )
    return "granted" if added else "existed"


def _binding_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_BINDING_ID:
        raise NotFound(f"no binding {text[:40]!r}")
    return int(text)


def revoke_binding(
    request: Request,
    services: Services,
    user: ConsoleUser,
    binding_id: str,
    *,
    confirmed: str,
    action: str,
    back: str,
    section: str,
    team_id: str | None = None,
    user_id: str | None = None,
) -> Response:
    """Revoke after the confirmation step; the service's refusals (a configuration's
    binding, the last administrator) shown as they are. `team_id` / `user_id`: only that
    team's or that user's (the binding's id is then a form field, carried to the step)."""
    admin = services.ready().admin

    def run() -> str | Ask:
        row = admin.bindings.get(_binding_id(binding_id))
        if team_id is not None and row.team_id != team_id:
            raise NotFound(f"team {team_id!r} has no binding {row.id}")
        if user_id is not None and row.user_id != user_id:
            raise InvalidRequest("that binding is not this user's", [FieldError("binding", "")])
        if confirmed != "yes":
            whom = f"user {row.username}" if row.user_id else f"team {row.team_name}"
            return Ask(
                "Revoke this role binding?",
                f"{whom} loses the role {row.role} at scope {row.scope}.",
                action,
                "Revoke binding",
                {"binding": binding_id} if user_id is not None else None,
            )
        admin.bindings.revoke(row.id, actor=user.actor)
        return "revoked" if user_id is None else "binding-revoked"

    return act(request, services, user, run, back=back, section=section)


@router.get(PATH, include_in_schema=False)
def roles(
    request: Request,
    services: ServicesDep,
    user: str = "",
    team: str = "",
    role: str = "",
    scope: str = "",
    limit: str = "",
    cursor: str = "",
) -> Response:
    operator = console_user(request, services, "roles.read")
    admin = services.ready().admin
    try:
        user_id = admin.users.find_person(user.strip()).user.id if user.strip() else None
        team_id = admin.teams.find_named(team).id if team.strip() else None
        found = admin.bindings.list(
            page_request(limit, cursor, key_size=1),
            user_id=user_id,
            team_id=team_id,
            role=role or None,
            scope=scope.strip() or None,
        )
    except AdminError as exc:
        return failed(request, services, operator, exc, back=PATH, section=SECTION)
    filters = {"user": user, "team": team, "role": role, "scope": scope, "limit": limit}
    return page(
        request,
        services,
        operator,
        "console/roles.html",
        SECTION,
        roles=admin.roles.list(),
        bindings=found.items,
        filters=filters,
        filtered=any(v for k, v in filters.items() if k != "limit"),
        next_url=next_link(PATH, found.next_cursor, **filters),
        notice=notice_of(request, NOTICES),
    )


@router.post(f"{PATH}/bindings", include_in_schema=False)
def grant(
    request: Request,
    services: ServicesDep,
    role: FormStr = "",
    user: FormStr = "",
    team: FormStr = "",
    scope: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "roles.write", csrf_token)
    admin = services.ready().admin
    run = partial(grant_binding, admin, operator, role=role, person=user, team=team, scope=scope)
    return act(request, services, operator, run, back=PATH, section=SECTION)


@router.post(f"{PATH}/bindings/{{binding_id}}/revoke", include_in_schema=False)
def revoke(
    binding_id: str,
    request: Request,
    services: ServicesDep,
    confirmed: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "roles.write", csrf_token)
    return revoke_binding(
        request,
        services,
        operator,
        binding_id,
        confirmed=confirmed,
        action=f"{PATH}/bindings/{binding_id}/revoke",
        back=PATH,
        section=SECTION,
    )
