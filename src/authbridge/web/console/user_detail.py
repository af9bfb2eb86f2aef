"""`/admin/users/{id}`: one person — identities (unlink), teams and the sources each
membership comes from, role bindings (revoke), browser sessions and refresh-token families
(each ended on its own), the latest audit events about and by them — and the acts on them:
disable, enable, revoke everything, reset password, delete.

Every act is the admin API's (`admin.users`, `admin.bindings`, `admin.audit_events`) with the
same permission: `users.read` to look, `users.write` to act, `roles.write` to revoke a role
binding (the roles section's `revoke_binding`). Each act is `shell.act`: destructive ones ask
first; a password-reset link that is not mailed (no `smtp:`) is rendered once in the POST's
answer, never put in a URL.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from authbridge.admin.errors import AdminError, FieldError, InvalidRequest
from authbridge.admin.paging import PageRequest
from authbridge.storage.user_admin import session_handle
from authbridge.web.console.common import user_source_label
from authbridge.web.console.guard import ConsoleUser, console_user, console_writer, demand_roles
from authbridge.web.console.roles import revoke_binding
from authbridge.web.console.shell import Ask, act, failed, notice_of, page
from authbridge.web.console.users import SECTION
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
        source=user_source_label(row),
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
    do: Callable[[], object],
    slug: str,
    *,
    ask: Ask | None = None,
    confirmed: str = "",
    to: str | None = None,
) -> Response:
    """`ask` first (if any) unless the form says `confirmed=yes`; then `do`, and back to the
    user's page saying `slug`."""

    def run() -> str | Ask:
        if ask is not None and confirmed != "yes":
            return ask
        do()
        return slug

    return act(request, services, operator, run, back=_path(user_id), section=SECTION, to=to)


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
    ask = Ask(
        "Disable this user?",
        f"{_name(services, user_id)} will not be able to sign in, and every session "
        "and token they hold ends now.",
        f"{_path(user_id)}/disable",
        "Disable",
    )
    users = services.ready().admin.users
    do = partial(users.disable, operator.actor, user_id)
    return _act(request, services, operator, user_id, do, "disabled", ask=ask, confirmed=confirmed)


@router.post("/admin/users/{user_id}/enable", include_in_schema=False)
def enable(
    request: Request, services: ServicesDep, user_id: str, csrf_token: FormStr = ""
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    users = services.ready().admin.users
    do = partial(users.enable, operator.actor, user_id)
    return _act(request, services, operator, user_id, do, "enabled")


@router.post("/admin/users/{user_id}/revoke", include_in_schema=False)
def revoke_all(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    ask = Ask(
        "End every session and token?",
        f"{_name(services, user_id)} is signed out of every browser and every app; "
        "the account stays.",
        f"{_path(user_id)}/revoke",
        "Sign out everywhere",
    )
    users = services.ready().admin.users
    do = partial(users.revoke, operator.actor, user_id)
    return _act(request, services, operator, user_id, do, "revoked", ask=ask, confirmed=confirmed)


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
    ask = Ask(
        "Remove the second factors?",
        f"{_name(services, user_id)} signs in next with the password alone (or "
        "enrols again where a second factor is required). Do this only once you know who "
        "asked.",
        f"{_path(user_id)}/reset-mfa",
        "Remove second factors",
    )
    mfa = services.ready().admin.mfa
    do = partial(mfa.reset, operator.actor, user_id[:64])
    return _act(request, services, operator, user_id, do, "mfa-reset", ask=ask, confirmed=confirmed)


@router.post("/admin/users/{user_id}/delete", include_in_schema=False)
def delete(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "users.write", csrf_token)
    ask = Ask(
        "Delete this user?",
        f"{_name(services, user_id)} is deleted with their identities, team "
        "memberships and role bindings; every session and token ends. This cannot be undone.",
        f"{_path(user_id)}/delete",
        "Delete",
    )
    do = partial(services.ready().admin.users.delete, operator.actor, user_id)
    return _act(
        request,
        services,
        operator,
        user_id,
        do,
        "deleted",
        ask=ask,
        confirmed=confirmed,
        to="/admin/users",
    )


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
    ready = services.ready()

    def run() -> str | Ask | Response:
        if confirmed != "yes":
            return Ask(
                "Reset this user's password?",
                f"A one-time link lets {_name(services, user_id)} choose a new password; "
                "using it signs them out everywhere. Their current password works until then.",
                f"{_path(user_id)}/reset-password",
                "Make a reset link",
            )
        if not ready.admin.users.resets_mailed:
            # The link is shown to the operator, who then holds whatever the account holds.
            held = ready.bindings.held_roles(ready.admin.users.get(user_id[:64]).user.id)
            demand_roles(operator, held, "A password-reset link for a user with a role")
        link = ready.admin.users.reset_password(operator.actor, user_id)
        if link is None:
            return "reset-mailed"
        return _detail(request, services, operator, user_id, reset_link=link)

    return act(request, services, operator, run, back=_path(user_id), section=SECTION)


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
    ask = Ask(
        "End this session?",
        f"That browser of {_name(services, user_id)} is signed out.",
        f"{_path(user_id)}/sessions/end",
        "End session",
        {"session": session},
    )
    users = services.ready().admin.users
    do = partial(users.end_session, operator.actor, user_id, session[:64])
    return _act(
        request, services, operator, user_id, do, "session-ended", ask=ask, confirmed=confirmed
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
    ask = Ask(
        "Revoke this app's access?",
        f"The app loses the refresh token {_name(services, user_id)} gave it; "
        "they sign in to it again to give a new one.",
        f"{_path(user_id)}/refresh-tokens/revoke",
        "Revoke",
        {"family": family},
    )
    users = services.ready().admin.users
    do = partial(users.revoke_refresh_family, operator.actor, user_id, family[:64])
    return _act(
        request, services, operator, user_id, do, "token-revoked", ask=ask, confirmed=confirmed
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
    ask = Ask(
        "Unlink this identity?",
        f"{_name(services, user_id)} can no longer sign in through it (signing in "
        "there again may link it anew, as the provider's settings allow).",
        f"{_path(user_id)}/identities/unlink",
        "Unlink",
        {"identity": identity},
    )
    users = services.ready().admin.users

    def do() -> None:
        users.unlink_identity(operator.actor, user_id, _int("identity", identity))

    return _act(request, services, operator, user_id, do, "unlinked", ask=ask, confirmed=confirmed)


@router.post("/admin/users/{user_id}/bindings/revoke", include_in_schema=False)
def revoke_user_binding(
    request: Request,
    services: ServicesDep,
    user_id: str,
    csrf_token: FormStr = "",
    binding: FormStr = "",
    confirmed: FormStr = "",
) -> Response:
    operator = console_writer(request, services, "roles.write", csrf_token)
    return revoke_binding(
        request,
        services,
        operator,
        binding,
        confirmed=confirmed,
        action=f"{_path(user_id)}/bindings/revoke",
        back=_path(user_id),
        section=SECTION,
        user_id=user_id,
    )
