"""The console's frame: its sections, the page renderer that fills the navigation, the
confirmation step of destructive acts, notices after a write, and its error pages.

Every console page is server-rendered and works without JavaScript. A write is a POST form
with the session's CSRF token; a destructive one first answers a confirmation page that
repeats the form with `confirmed=yes`, so nothing is lost to a stray click. After a write the
browser is sent back with `?done=<slug>` (Post/Redirect/Get) and the page says what happened
from a fixed table of texts: no text from the URL is ever shown. What must be shown once (a
new client secret, a robot token) is rendered in the POST's answer with `no-store` instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from authbridge.admin.errors import AdminError
from authbridge.web.console.guard import (
    ConsoleDenied,
    ConsoleSecondFactorNeeded,
    ConsoleSignInNeeded,
    ConsoleUser,
)
from authbridge.web.errors import error_response
from authbridge.web.rendering import render
from authbridge.web.services import Services

__all__ = [
    "SECTIONS",
    "Ask",
    "Section",
    "act",
    "confirm",
    "done",
    "failed",
    "install",
    "notice_of",
    "page",
    "shown_once",
]

log = structlog.get_logger("authbridge.console")


@dataclass(frozen=True, slots=True)
class Section:
    slug: str
    label: str
    path: str
    permission: str
    summary: str


SECTIONS = (
    Section("users", "Users", "/admin/users", "users.read", "Search, disable, sign out, reset."),
    Section("teams", "Teams", "/admin/teams", "teams.read", "Members and where each comes from."),
    Section("roles", "Roles and bindings", "/admin/roles", "roles.read", "Who holds what, where."),
    Section("invitations", "Invitations", "/admin/invitations", "users.read", "Invite by email."),
    Section("clients", "OAuth clients", "/admin/clients", "clients.read", "Apps and secrets."),
    Section(
        "service-accounts",
        "Service accounts",
        "/admin/service-accounts",
        "clients.read",
        "Programs with client credentials.",
    ),
    Section("robots", "Robot tokens", "/admin/robots", "clients.read", "Long-lived tokens."),
    Section("keys", "Signing keys", "/admin/keys", "keys.read", "Age, next rotation, rotate."),
    Section(
        "connectors",
        "Identity providers",
        "/admin/connectors",
        "connectors.read",
        "Status, checks, redirect URIs.",
    ),
    Section("scim", "SCIM sources", "/admin/scim", "scim.read", "Credentials and activity."),
    Section("audit", "Audit log", "/admin/audit", "audit.read", "Who did what, when."),
)


def page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    template: str,
    section: str | None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    """A console page: `section` is highlighted in the navigation, which lists only what
    `user` may read."""
    return render(
        request,
        services,
        template,
        status_code,
        console_sections=[s for s in SECTIONS if user.may(s.permission)],
        console_section=section,
        operator=user,
        **context,
    )


def shown_once(
    request: Request,
    services: Services,
    user: ConsoleUser,
    section: str,
    *,
    title: str,
    label: str,
    secret: str | None,
    facts: list[tuple[str, str]],
    back: str,
    back_label: str,
    status_code: int = 201,
) -> Response:
    """The answer to the POST that made a secret (a client secret, a robot token, an
    invitation link): `secret` shown this once with the `facts` that name it, and the way
    back; never in a URL or a redirect."""
    return page(
        request,
        services,
        user,
        "console/secret.html",
        section,
        status_code,
        title=title,
        label=label,
        secret=secret,
        facts=facts,
        back=back,
        back_label=back_label,
    )


def notice_of(request: Request, notices: Mapping[str, str]) -> str | None:
    """The text for `?done=<slug>` from the page's own table (never text from the URL)."""
    return notices.get(request.query_params.get("done", ""))


def done(path: str, slug: str) -> RedirectResponse:
    """Post/Redirect/Get back to `path`, saying `slug` happened."""
    separator = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{separator}done={slug}", status_code=303)


def confirm(
    request: Request,
    services: Services,
    user: ConsoleUser,
    *,
    title: str,
    message: str,
    action: str,
    fields: Mapping[str, str] | None = None,
    button: str = "Confirm",
    back: str = "/admin",
    section: str | None = None,
) -> Response:
    """The confirmation step of a destructive act: the same form again, with `confirmed=yes`
    and the fields it carried, and a way back that changes nothing."""
    return page(
        request,
        services,
        user,
        "console/confirm.html",
        section,
        title=title,
        message=message,
        action=action,
        fields=dict(fields or {}),
        button=button,
        back=back,
    )


def failed(
    request: Request,
    services: Services,
    user: ConsoleUser,
    error: AdminError,
    *,
    back: str,
    section: str | None = None,
) -> Response:
    """An act the admin services refused (not found, conflict, invalid): its status and its
    detail, and the way back; nothing changed."""
    log.info("console_act_refused", path=request.url.path, problem=error.slug)
    return page(
        request,
        services,
        user,
        "console/failed.html",
        section,
        status_code=error.status,
        title=error.title,
        detail=error.detail,
        errors=list(error.extensions.get("errors", [])),
        back=back,
    )


@dataclass(frozen=True, slots=True)
class Ask:
    """The confirmation an act asks for first: what the page says, where its form posts
    again (with `confirmed=yes` and `fields`)."""

    title: str
    message: str
    action: str
    button: str = "Confirm"
    fields: Mapping[str, str] | None = None


def act(
    request: Request,
    services: Services,
    user: ConsoleUser,
    run: Callable[[], str | Ask | Response],
    *,
    back: str,
    section: str | None = None,
    to: str | None = None,
) -> Response:
    """One act of a console form: `run` answers an `Ask` (the confirmation page, nothing
    changed) or does the act and answers its notice slug (Post/Redirect/Get to `to`, by
    default `back`) or the page that shows its result once; a refusal of the admin
    services is the `failed` page."""
    try:
        outcome = run()
    except AdminError as exc:
        return failed(request, services, user, exc, back=back, section=section)
    if isinstance(outcome, Response):
        return outcome
    if isinstance(outcome, Ask):
        return confirm(
            request,
            services,
            user,
            title=outcome.title,
            message=outcome.message,
            action=outcome.action,
            fields=outcome.fields,
            button=outcome.button,
            back=back,
            section=section,
        )
    return done(to or back, outcome)


def install(app: FastAPI) -> None:
    """The console's answers to "not signed in" and "not allowed"."""

    @app.exception_handler(ConsoleSignInNeeded)
    async def sign_in_first(_request: Request, exc: ConsoleSignInNeeded) -> Response:
        return RedirectResponse(exc.next_url, status_code=303)

    @app.exception_handler(ConsoleSecondFactorNeeded)
    async def second_factor_first(request: Request, _exc: ConsoleSecondFactorNeeded) -> Response:
        log.warning("console_denied", path=request.url.path, reason="admin_mfa_not_confirmed")
        return error_response(
            request,
            403,
            "Administrators must sign in with a second factor, and this session was started "
            "without one.",
            "Sign out, then sign in again: you will be asked for your code (or to set one up).",
            "forbidden",
        )

    @app.exception_handler(ConsoleDenied)
    async def denied(request: Request, exc: ConsoleDenied) -> Response:
        log.warning("console_denied", path=request.url.path, permission=exc.permission)
        what = exc.why or "This page"
        return error_response(
            request,
            403,
            f"{what} needs the {exc.permission} permission, which your account does not have.",
            "Ask an administrator for a role that grants it.",
            "forbidden",
        )
