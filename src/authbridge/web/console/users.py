"""`/admin/users`: search people by username, email or name, filter by team, role, source
and status, a page at a time (keyset cursors: page 2,000 costs what page 1 does), and the
form that creates a local account.

Every read and write is `admin.users` (`authbridge.admin.users.UserAdmin`), the service the
admin API's `/api/v1/users` and the CLI call: reads need `users.read`, creating needs
`users.write`, and a role beyond viewer for the new account needs `roles.write` too (as
`POST /api/v1/users` demands).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError, InvalidRequest
from authbridge.admin.paging import PageRequest
from authbridge.admin.users import UserFilter, user_filter
from authbridge.config.model import SCIM_SOURCES
from authbridge.directory.passwords import policy_summary
from authbridge.web.console.common import user_source_label
from authbridge.web.console.guard import BASE_ROLE, ConsoleUser, console_user, console_writer
from authbridge.web.console.guard import demand_roles as demand_console_roles
from authbridge.web.console.shell import done, failed, notice_of, page
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["PAGE_SIZE", "Option", "router"]

router = APIRouter()
FormStr = Annotated[str, Form()]
PAGE_SIZE = 50
SECTION = "users"
NOTICES = {"deleted": "The user was deleted, and everything they held ended."}
# What a filter's query value may be at most (the API's bounds: `q` 320, the others 160).
MAX_FILTER = 320


@dataclass(frozen=True, slots=True)
class Option:
    value: str
    label: str


def _filter_options(services: Services, filters: UserFilter) -> dict[str, list[Option]]:
    """The choices of the filter form: roles, sources, and the first teams by name (a
    filtered team that is not among them is added, so the form shows what is applied)."""
    admin = services.ready().admin
    teams = [Option(t.id, f"{t.name} ({t.managed_by})") for t in admin.users.team_choices()]
    if filters.team_id and all(t.value != filters.team_id for t in teams):
        try:
            team = admin.teams.get(filters.team_id)
            teams.insert(0, Option(team.id, f"{team.name} ({team.managed_by})"))
        except AdminError:
            teams.insert(0, Option(filters.team_id, f"unknown team {filters.team_id}"))
    sources = [Option("local", "Local accounts")]
    sources += [
        Option(c.id, f"{c.display_name} (identity provider)") for c in admin.connectors.list()
    ]
    sources += [Option(f"scim:{s}", f"SCIM: {s}") for s in SCIM_SOURCES]
    if filters.source and all(s.value != filters.source for s in sources):
        sources.append(Option(filters.source, filters.source))
    roles = [Option(r.name, r.name) for r in admin.roles.list()]
    return {"teams": teams, "sources": sources, "roles": roles}


def _query(filters: UserFilter, cursor: str | None = None) -> str:
    """The list's URL query for these filters (and a cursor), empty values left out."""
    status = None if filters.active is None else ("active" if filters.active else "disabled")
    values = {
        "q": filters.q,
        "team": filters.team_id,
        "role": filters.role,
        "source": filters.source,
        "status": status,
        "cursor": cursor,
    }
    return urlencode({k: v for k, v in values.items() if v})


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


@router.get("/admin/users", include_in_schema=False)
def users_list(
    request: Request,
    services: ServicesDep,
    q: str | None = None,
    team: str | None = None,
    role: str | None = None,
    source: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
) -> Response:
    user = console_user(request, services, "users.read")
    users = services.ready().admin.users
    try:
        values = [q, team, role, source, status]
        if any(v is not None and len(v) > MAX_FILTER for v in values):
            raise InvalidRequest("a filter is too long", [])
        filters = user_filter(
            q=_blank(q),
            team=_blank(team),
            role=_blank(role),
            source=_blank(source),
            status=_blank(status),
        )
        found = users.search(filters, PageRequest.of(PAGE_SIZE, _blank(cursor), key_size=1))
    except AdminError as exc:
        return failed(request, services, user, exc, back="/admin/users", section=SECTION)
    filtered = any(v is not None for v in (filters.q, filters.team_id, filters.role))
    filtered = filtered or filters.source is not None or filters.active is not None
    return page(
        request,
        services,
        user,
        "console/users.html",
        SECTION,
        rows=[(r, user_source_label(r)) for r in found.items],
        filters=filters,
        filtered=filtered,
        status=(request.query_params.get("status") or "").strip(),
        options=_filter_options(services, filters),
        next_query=_query(filters, found.next_cursor) if found.next_cursor else None,
        first_query=_query(filters) if cursor else None,
        notice=notice_of(request, NOTICES),
    )


def _create_form(
    request: Request,
    services: Services,
    user: ConsoleUser,
    status_code: int = 200,
    **context: object,
) -> Response:
    roles = [r.name for r in services.ready().admin.roles.list()]
    return page(
        request,
        services,
        user,
        "console/user_new.html",
        SECTION,
        status_code,
        roles=roles,
        may_grant=user.may("roles.write"),
        base_role=BASE_ROLE,
        policy=policy_summary(),
        **context,
    )


@router.get("/admin/users/new", include_in_schema=False)
def new_user_form(request: Request, services: ServicesDep) -> Response:
    user = console_user(request, services, "users.write")
    return _create_form(request, services, user, values={"role": BASE_ROLE})


@router.post("/admin/users/new", include_in_schema=False)
def create_user(
    request: Request,
    services: ServicesDep,
    csrf_token: FormStr = "",
    email: FormStr = "",
    display_name: FormStr = "",
    password: FormStr = "",
    role: FormStr = BASE_ROLE,
) -> Response:
    user = console_writer(request, services, "users.write", csrf_token)
    role = role.strip() or BASE_ROLE
    demand_console_roles(user, [role], "Giving a new user a role beyond viewer")
    values = {"email": email, "display_name": display_name, "role": role}
    try:
        created = services.ready().admin.users.create(
            user.actor,
            email=email[:320],
            password=password[:1024],
            display_name=_blank(display_name[:256]),
            role=None if role == BASE_ROLE else role,
        )
    except AdminError as exc:
        fields = [e["field"] for e in exc.extensions.get("errors", []) if e.get("field")]
        field = next((f for f in fields if f in ("email", "password", "role")), "email")
        return _create_form(
            request, services, user, exc.status, values=values, error=exc.detail, field=field
        )
    return done(f"/admin/users/{created.user.id}", "created")
