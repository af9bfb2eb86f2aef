"""`/admin/users/{id}`: one person — identities (unlink), teams and the sources each
membership comes from, role bindings (revoke), browser sessions and refresh-token families
(each ended on its own), the latest audit events about and by them — and the acts on them:
disable, enable, revoke everything, reset password, delete.

Every act is the admin API's (`admin.users`, `admin.bindings`, `admin.audit_events`) with the
same permission: `users.read` to look, `users.write` to act, `roles.write` to revoke a role
binding. Destructive acts go through `confirm`; a password-reset link that is not mailed
(no `smtp:`) is rendered once in the POST's answer, never put in a URL.

(Somewhat over 400 lines: one short route per act, each with its own confirmation text;
they share the page they return to.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest
from authbridge.admin.paging import PageRequest
from authbridge.storage.user_admin import session_handle
from authbridge.web.console.guard import ConsoleUser, console_user, console_writer, demand_roles
from authbridge.web.console.shell import confirm, done, failed, notice_of, page
from authbridge.web.console.users import SECTION, source_label
from authbridge.web.dependencies import ServicesDep
from authbridge.web.services import Services

__all__ = ["router"]

router = APIRouter()
FormStr = Annotated[str, Form()]
# The latest events shown on the page; the audit section has the rest.
AUDIT_SHOWN = 5
NOTICES = {
    "created": "The user was created.",
    "disabled": "The user was disabled; every session and token they held ended.",
    "enabled": "The user was enabled.",
    "revoked": "Every session and token of the user ended.",
    "reset-mailed": "A password-reset link was mailed to the user.",
    "session-ended": "The session ended.",
    "token-revoked": "The refresh-token family was revoked.",
    "unlinked": "The identity was unlinked.",
    "binding-revoked": "The role binding was revoked.",
    "mfa-reset": "The user's second factors were removed; they enrol again at next sign-in.",
}


def _path(user_id: str) -> str:
    return f"/admin/users/{user_id}"


@router.get("/admin/users/{user_id}", include_in_schema=False)
def user_page(request: Request, services: ServicesDep, user_id: str) -> Response:
    operator = console_user(request, services, "users.read")
    return _detail(request, services, operator, user_id)


def _detail(
    request: Request,
    services: Services,
    operator: ConsoleUser,
    user_id: str,
    status_code: int = 200,
    **context: object,
) -> Response:
    admin = services.ready().admin
    try:
        row = admin.users.get(user_id[:64])
    except AdminError as exc:
        return failed(request, services, operator, exc, back="/admin/users", section=SECTION)
    uid = row.user.id
    bindings = (
        admin.bindings.list(PageRequest(200), user_id=uid) if operator.may("roles.read") else None
    )
    audit = None
    if operator.may("audit.read"):
        shown = PageRequest(AUDIT_SHOWN)
        audit = {
            "about": admin.audit_events.query(target_type="user", target_id=uid, page=shown).items,
            "by": admin.audit_events.query(actor=uid, page=shown).items,
        }
    return page(
        request,
        services,
        operator,
        "console/user.html",
        SECTION,
        status_code,
        row=row,
        source=source_label(row),
        identities=admin.users.identities(uid),
        teams=admin.users.teams(uid),
        bindings=bindings.items if bindings is not None else None,
        sessions=admin.users.sessions(uid),
        session_handle=session_handle,
        families=admin.users.refresh_tokens(uid),
        audit=audit,
        second_factor=admin.mfa.enrolled(uid),
        may_write=operator.may("users.write"),
        may_revoke_bindings=operator.may("roles.write"),
        is_self=uid == operator.user_id,
        notice=notice_of(request, NOTICES),
        **context,
    )


def _act(
    request: Request,
    services: Services,
    operator: ConsoleUser,
    user_id: str,
    act: Callable[[], object],
    slug: str,
) -> Response:
    try:
        act()
    except AdminError as exc:
        back = _path(user_id)
        return failed(request, services, operator, exc, back=back, section=SECTION)
    return done(_path(user_id), slug)


def _confirmed(
    request: Request,
    services: Services,
    operator: ConsoleUser,
    confirmed: str,
    *,
    user_id: str,
    action: str,
    title: str,
    message: str,
    button: str,
    fields: dict[str, str] | None = None,
) -> Response | None:
    """The confirmation page unless the form says `confirmed=yes` (then None: go on)."""
    if confirmed == "yes":
        return None
    return confirm(
        request,
        services,
        operator,
        title=title,
        message=message,
        action=action,
        fields=fields,
        button=button,
        back=_path(user_id),
        section=SECTION,
    )


def _name(services: Services, user_id: str) -> str:
    try:
        return services.ready().admin.users.get(user_id[:64]).user.username
    except AdminError:
        return user_id


@router.post("/admin/users/{user_id}/disable", include_in_schema=False)
def disable(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/disable",
        title="Disable this user?",
        message=f"{_name(services, user_id)} will not be able to sign in, and every session "
        "and token they hold ends now.",
        button="Disable",
    )
    users = services.ready().admin.users
    return asked or _act(
        request,
        services,
        operator,
        user_id,
        lambda: users.disable(operator.actor, user_id),
        "disabled",
    )


@router.post("/admin/users/{user_id}/enable", include_in_schema=False)
def enable(
    request: Request, services: ServicesDep, user_id: str, csrf_token: FormStr = ""
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    users = services.ready().admin.users
    return _act(
        request,
        services,
        operator,
        user_id,
        lambda: users.enable(operator.actor, user_id),
        "enabled",
    )


@router.post("/admin/users/{user_id}/revoke", include_in_schema=False)
def revoke_all(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/revoke",
        title="End every session and token?",
        message=f"{_name(services, user_id)} is signed out of every browser and every app; "
        "the account stays.",
        button="Sign out everywhere",
    )
    users = services.ready().admin.users
    return asked or _act(
        request,
        services,
        operator,
        user_id,
        lambda: users.revoke(operator.actor, user_id),
        "revoked",
    )


@router.post("/admin/users/{user_id}/reset-mfa", include_in_schema=False)
def reset_mfa(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    """Issue 16 part 5: remove a user's TOTP credential and recovery codes (they lost
    both); the same act as `POST /api/v1/users/{id}/mfa/reset`."""
    operator = console_writer(request, services, "users.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/reset-mfa",
        title="Remove the second factors?",
        message=f"{_name(services, user_id)} signs in next with the password alone (or "
        "enrols again where a second factor is required). Do this only once you know who "
        "asked.",
        button="Remove second factors",
    )
    mfa = services.ready().admin.mfa
    return asked or _act(
        request,
        services,
        operator,
        user_id,
        lambda: mfa.reset(operator.actor, user_id[:64]),
        "mfa-reset",
    )


@router.post("/admin/users/{user_id}/delete", include_in_schema=False)
def delete(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/delete",
        title="Delete this user?",
        message=f"{_name(services, user_id)} is deleted with their identities, team "
        "memberships and role bindings; every session and token ends. This cannot be undone.",
        button="Delete",
    )
    if asked is not None:
        return asked
    try:
        services.ready().admin.users.delete(operator.actor, user_id)
    except AdminError as exc:
        return failed(request, services, operator, exc, back=_path(user_id), section=SECTION)
    return done("/admin/users", "deleted")


@router.post("/admin/users/{user_id}/reset-password", include_in_schema=False)
def reset_password(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    """A reset link: mailed (then back to the page), or shown once in this answer."""
    operator = console_writer(request, services, "users.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/reset-password",
        title="Reset this user's password?",
        message=f"A one-time link lets {_name(services, user_id)} choose a new password; "
        "using it signs them out everywhere. Their current password works until then.",
        button="Make a reset link",
    )
    if asked is not None:
        return asked
    ready = services.ready()
    try:
        if not ready.admin.users.resets_mailed:
            # The link is shown to the operator, who then holds whatever the account holds.
            held = ready.bindings.held_roles(ready.admin.users.get(user_id[:64]).user.id)
            demand_roles(operator, held, "A password-reset link for a user with a role")
        link = ready.admin.users.reset_password(operator.actor, user_id)
    except AdminError as exc:
        return failed(request, services, operator, exc, back=_path(user_id), section=SECTION)
    if link is None:
        return done(_path(user_id), "reset-mailed")
    return _detail(request, services, operator, user_id, reset_link=link)


@router.post("/admin/users/{user_id}/sessions/end", include_in_schema=False)
def end_session(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    session: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/sessions/end",
        title="End this session?",
        message=f"That browser of {_name(services, user_id)} is signed out.",
        button="End session",
        fields={"session": session},
    )
    users = services.ready().admin.users
    return asked or _act(
        request,
        services,
        operator,
        user_id,
        lambda: users.end_session(operator.actor, user_id, session[:64]),
        "session-ended",
    )


@router.post("/admin/users/{user_id}/refresh-tokens/revoke", include_in_schema=False)
def revoke_family(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    family: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/refresh-tokens/revoke",
        title="Revoke this app's access?",
        message=f"The app loses the refresh token {_name(services, user_id)} gave it; "
        "they sign in to it again to give a new one.",
        button="Revoke",
        fields={"family": family},
    )
    users = services.ready().admin.users
    return asked or _act(
        request,
        services,
        operator,
        user_id,
        lambda: users.revoke_refresh_family(operator.actor, user_id, family[:64]),
        "token-revoked",
    )


def _int(name: str, value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 18:
        raise InvalidRequest(f"bad {name}", [FieldError(name, "a number")])
    return int(value)


@router.post("/admin/users/{user_id}/identities/unlink", include_in_schema=False)
def unlink(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    identity: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/identities/unlink",
        title="Unlink this identity?",
        message=f"{_name(services, user_id)} can no longer sign in through it (signing in "
        "there again may link it anew, as the provider's settings allow).",
        button="Unlink",
        fields={"identity": identity},
    )
    users = services.ready().admin.users
    return asked or _act(
        request,
        services,
        operator,
        user_id,
        lambda: users.unlink_identity(operator.actor, user_id, _int("identity", identity)),
        "unlinked",
    )


@router.post("/admin/users/{user_id}/bindings/revoke", include_in_schema=False)
def revoke_binding(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    binding: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "roles.write", csrf_token)
    asked = _confirmed(
        request,
        services,
        operator,
        confirmed,
        user_id=user_id,
        action=f"{_path(user_id)}/bindings/revoke",
        title="Revoke this role binding?",
        message=f"{_name(services, user_id)} loses the role (their next tokens no longer "
        "carry it).",
        button="Revoke",
        fields={"binding": binding},
    )
    bindings = services.ready().admin.bindings

    def act() -> None:
        found = bindings.get(_int("binding", binding))
        if found.user_id != user_id:
            raise InvalidRequest("that binding is not this user's", [FieldError("binding", "")])
        bindings.revoke(found.id, actor=operator.actor)

    return asked or _act(request, services, operator, user_id, act, "binding-revoked")
