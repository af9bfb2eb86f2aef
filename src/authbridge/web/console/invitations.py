"""`/admin/invitations`: invitations by status, inviting an email (optionally into teams and
with role bindings), resending a link and revoking one — through `admin.invitations`, with
the checks `/api/v1/invitations` makes (users.write; roles.write for role bindings and for a
team that gives roles).

The one-time link is shown once, in the answer to the POST that made it (`no-store`), and
only when it was not mailed (no `smtp:`); it is never in a URL, a log or an audit event.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest
from authbridge.admin.invitations import InvitationView
from authbridge.directory.invitations import Grant
from authbridge.directory.roles import SYSTEM_SCOPE
from authbridge.storage.invitations import STATUSES
from authbridge.web.console.common import next_link, page_request, problem_fields
from authbridge.web.console.guard import ConsoleUser, console_user, console_writer
from authbridge.web.console.shell import confirm, done, failed, notice_of, page, shown_once
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["router"]

router = APIRouter()
FormStr = Annotated[str, Form()]
PATH = "/admin/invitations"
SECTION = "invitations"
NOTICES = {
    "mailed": "The invitation was mailed.",
    "resent": "A new link was mailed; the old one no longer works.",
    "revoked": "The invitation was revoked; its link no longer works.",
}
# The form's fields, by the service's field names (`teams[2]`, `roleBindings[0].scope`).
FIELDS = {"email": "email", "teams": "teams", "roleBindings": "bindings"}


def _list_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    *,
    status: str = "",
    limit: str = "",
    cursor: str = "",
    status_code: int = 200,
    **context: Any,
) -> Response:
    admin = services.ready().admin
    try:
        found = admin.invitations.list(
            page_request(limit, cursor, key_size=2), status=status or None
        )
    except AdminError as exc:
        return failed(request, services, user, exc, back=PATH, section=SECTION)
    return page(
        request,
        services,
        user,
        "console/invitations.html",
        SECTION,
        status_code=status_code,
        invitations=found.items,
        status=status,
        statuses=STATUSES,
        next_url=next_link(PATH, found.next_cursor, status=status, limit=limit),
        notice=notice_of(request, NOTICES),
        mails=admin.invitations.mails,
        roles=admin.roles.list(),
        **context,
    )


@router.get(PATH, include_in_schema=False)
def invitations(
    request: Request, services: ServicesDep, status: str = "", limit: str = "", cursor: str = ""
) -> Response:
    user = console_user(request, services, "users.read")
    return _list_page(request, services, user, status=status, limit=limit, cursor=cursor)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _grants(text: str) -> list[Grant]:
    """One binding a line, as the CLI's `--role` takes them: `role` or `role@scope`."""
    grants = []
    for i, line in enumerate(_lines(text)):
        role, _, scope = line.partition("@")
        if len(line.split()) > 1:
            raise InvalidRequest(
                "a role binding is a role, or role@scope",
                [FieldError(f"roleBindings[{i}]", f"{line!r}: a role, or role@scope")],
            )
        grants.append(Grant(role, scope or SYSTEM_SCOPE))
    return grants


def _form_errors(exc: AdminError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for field, message in problem_fields(exc):
        name = FIELDS.get(field.split("[")[0].split(".")[0], "email")
        errors.setdefault(name, f"{field}: {message}" if field != name else message)
    return errors or {"email": exc.detail}


def _shown_once(
    request: Request,
    services: Services,
    user: ConsoleUser,
    view: InvitationView,
    *,
    renewed: bool,
) -> Response:
    """The link, this once (the console's shown-once page; render sets `no-store`)."""
    invitation = view.invitation
    facts = [
        ("Email", invitation.email),
        ("Delivery", "not mailed (no smtp: configured): pass the link on yourself"),
        ("Works", f"once, until {invitation.expires_at:%Y-%m-%d %H:%M} UTC"),
    ]
    if renewed:
        facts.append(("Previous link", "no longer works"))
    return shown_once(
        request,
        services,
        user,
        SECTION,
        status_code=200 if renewed else 201,
        title=f"Invitation link for {invitation.email}",
        label="One-time invitation link",
        secret=view.link,
        facts=facts,
        back=PATH,
        back_label="Back to invitations",
    )


@router.post(PATH, include_in_schema=False)
def create(
    request: Request,
    services: ServicesDep,
    email: FormStr = "",
    teams: FormStr = "",
    bindings: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    user = console_writer(request, services, "users.write", csrf_token)
    ready = services.ready()
    try:
        grants = _grants(bindings)
        names = _lines(teams)
        _demand_grants(services, user, bool(grants), names)
        view = ready.admin.invitations.create(user.actor, email, teams=names, grants=grants)
    except AdminError as exc:
        return _list_page(
            request,
            services,
            user,
            status_code=exc.status,
            form={"email": email, "teams": teams, "bindings": bindings},
            form_errors=_form_errors(exc),
        )
    if view.link is None:
        return done(PATH, "mailed")
    return _shown_once(request, services, user, view, renewed=False)


@router.post(f"{PATH}/{{invitation_id}}/resend", include_in_schema=False)
def resend(
    invitation_id: str, request: Request, services: ServicesDep, csrf_token: FormStr = ""
) -> Response:
    user = console_writer(request, services, "users.write", csrf_token)
    invitations = services.ready().admin.invitations
    try:
        invitation = invitations.get(invitation_id).invitation
        if not invitations.mails:
            # The new link is shown to the operator: whoever accepts it gets its roles.
            _demand_grants(services, user, bool(invitation.bindings), invitation.teams)
        view = invitations.resend(user.actor, invitation_id)
    except AdminError as exc:
        return failed(request, services, user, exc, back=PATH, section=SECTION)
    if view.link is None:
        return done(PATH, "resent")
    return _shown_once(request, services, user, view, renewed=True)


@router.post(f"{PATH}/{{invitation_id}}/revoke", include_in_schema=False)
def revoke(
    invitation_id: str,
    request: Request,
    services: ServicesDep,
    confirmed: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    user = console_writer(request, services, "users.write", csrf_token)
    admin = services.ready().admin
    try:
        view = admin.invitations.get(invitation_id)
        if confirmed != "yes":
            return confirm(
                request,
                services,
                user,
                title=f"Revoke the invitation of {view.invitation.email}?",
                message="Its link stops working; invite again to change your mind.",
                action=f"{PATH}/{view.invitation.id}/revoke",
                button="Revoke invitation",
                back=PATH,
                section=SECTION,
            )
        admin.invitations.revoke(user.actor, view.invitation.id)
    except AdminError as exc:
        return failed(request, services, user, exc, back=PATH, section=SECTION)
    return done(PATH, "revoked")


def _demand_grants(services: Services, user: ConsoleUser, bindings: bool, teams: list[str]) -> None:
    """roles.write for an invitation with role bindings or into a team that gives roles."""
    ready = services.ready()
    if bindings:
        user.demand("roles.write", "An invitation with role bindings")
    for name in teams:
        team = ready.admin.teams.find_local(name)
        found = (team.id, team.name, team.managed_by) if team else (None, name, "local")
        if ready.bindings.team_confers_roles(*found):
            user.demand("roles.write", f"An invitation into team {name!r}, which gives roles,")
