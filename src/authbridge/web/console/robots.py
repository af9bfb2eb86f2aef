"""`/admin/robots`: robot tokens (Pachyderm's long-lived tokens of a robot principal) — list
(name, who issued it, roles, expiry), issue (the token shown once, in the POST's answer) and
revoke (onto the revocation feed until it would have expired). The acts are `admin.robots`,
the API's; a role beyond viewer needs roles.write, as the API's route demands.

A robot token is verified by its signature and the revocation feed, without a database read,
so its last use is not recorded and not shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError
from authbridge.admin.paging import PageRequest
from authbridge.admin.robots import IssuedRobot, robot_state
from authbridge.clock import utcnow
from authbridge.storage.provider_store import RobotTokenRow
from authbridge.web.console.clients import CLIENT_FIELDS
from authbridge.web.console.common import created_or_errors
from authbridge.web.console.guard import (
    BASE_ROLE,
    ConsoleUser,
    console_user,
    console_writer,
    demand_roles,
)
from authbridge.web.console.shell import Ask, act, failed, notice_of, page, shown_once
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["LIFETIME_CHOICES", "router"]

router = APIRouter()
SECTION = "robots"
PATH = "/admin/robots"
FormStr = Annotated[str, Form(max_length=256)]
NOTICES = {"revoked": "The robot token was revoked; it is refused from now on."}
LIFETIME_CHOICES = ((86400, "1 day"), (30 * 86400, "30 days"), (90 * 86400, "90 days"))
DEFAULT_LIFETIME = 30 * 86400


@dataclass(frozen=True)
class _Robot:
    row: RobotTokenRow
    name: str
    roles: tuple[str, ...]
    state: str
    issued_by: str | None


def _issued_by(services: Services, user: ConsoleUser, jti: str) -> str | None:
    """Who issued it, from its `robot.issued` audit event: shown to those who may read the
    audit log only."""
    if not user.may("audit.read"):
        return None
    events = services.ready().admin.audit_events.query(
        target_type="robot_token", target_id=jti, type="robot.issued", page=PageRequest(1)
    )
    return next((e.actor_name or e.actor_id for e in events.items), None)


def _view(services: Services, user: ConsoleUser, row: RobotTokenRow, now: datetime) -> _Robot:
    roles = services.ready().bindings.effective_roles(row.user_id).system
    return _Robot(
        row=row,
        name=row.username.removeprefix("robot:"),
        roles=tuple(sorted(roles)),
        state=robot_state(row, now),
        issued_by=_issued_by(services, user, row.jti),
    )


def _list_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    cursor: str | None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> Response:
    admin = services.ready().admin
    try:
        found = admin.robots.list(PageRequest.of(None, cursor, key_size=2))
    except AdminError as exc:
        return failed(request, services, user, exc, back=PATH, section=SECTION)
    now = utcnow()
    return page(
        request,
        services,
        user,
        "console/robots.html",
        SECTION,
        status_code,
        robots=[_view(services, user, row, now) for row in found.items],
        next_cursor=found.next_cursor,
        notice=notice_of(request, NOTICES),
        roles=admin.roles.list(),
        lifetimes=LIFETIME_CHOICES,
        form=form or {"role": BASE_ROLE, "lifetime": str(DEFAULT_LIFETIME)},
        errors=errors or {},
    )


@router.get(PATH, include_in_schema=False)
def list_robots(request: Request, services: ServicesDep, cursor: str | None = None) -> Response:
    user = console_user(request, services, "clients.read")
    return _list_page(request, services, user, cursor)


@router.post(PATH, include_in_schema=False)
def issue_robot(
    request: Request,
    services: ServicesDep,
    csrf_token: FormStr = "",
    name: FormStr = "",
    role: FormStr = BASE_ROLE,
    lifetime: FormStr = str(DEFAULT_LIFETIME),
    description: FormStr = "",
) -> Response:
    user = console_writer(request, services, "clients.write", csrf_token)
    demand_roles(user, [role], "A robot token with a role")
    form = {"name": name, "role": role, "lifetime": lifetime, "description": description}
    issued: IssuedRobot | None = None
    errors: dict[str, str] = {}
    try:
        seconds = int(lifetime)
    except ValueError:
        errors["lifetime"] = "a number of seconds"
    if not errors:
        robots = services.ready().admin.robots
        issued, errors = created_or_errors(
            lambda: robots.issue(user.actor, name.strip(), role, seconds, description.strip()),
            CLIENT_FIELDS,
            taken="a robot with this name exists already",
        )
    if issued is None:
        return _list_page(request, services, user, None, 400, form, errors)
    return shown_once(
        request,
        services,
        user,
        SECTION,
        title=f"Robot token for {name.strip()} issued",
        label="Robot token",
        secret=issued.token,
        facts=[
            ("Token id", issued.robot.jti),
            ("Role", role),
            ("Expires", f"{issued.robot.expires_at:%Y-%m-%d %H:%M} UTC"),
            ("Use", "Authorization: Bearer <token>"),
        ],
        back=PATH,
        back_label="Back to robot tokens",
    )


@router.post(PATH + "/{jti}/revoke", include_in_schema=False)
def revoke_robot(
    request: Request,
    services: ServicesDep,
    jti: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    user = console_writer(request, services, "clients.write", csrf_token)
    robots = services.ready().admin.robots

    def run() -> str | Ask:
        robot = robots.get(jti)
        if confirmed != "yes":
            return Ask(
                f"Revoke the token of {robot.username.removeprefix('robot:')}?",
                "Every program using this token is refused from now on.",
                f"{PATH}/{robot.jti}/revoke",
                "Revoke token",
            )
        robots.revoke(user.actor, jti)
        return "revoked"

    return act(request, services, user, run, back=PATH, section=SECTION)
