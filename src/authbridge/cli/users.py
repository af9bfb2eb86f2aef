"""`authbridge users`: the operator's user commands. Each calls the same `UserAdmin` function
as the admin API's route (`/api/v1/users`), acting as `Actor("cli", id=<OS user>)`; JSON
output has the API's field names."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, TypeVar

import typer

from authbridge.admin.errors import AdminError
from authbridge.admin.paging import PageRequest
from authbridge.admin.users import UserAdmin, UserRow, user_filter
from authbridge.cli.options import ConfigOption, cli_actor
from authbridge.cli.output import (
    OutputFormat,
    OutputOption,
    admin_error,
    emit_list,
    err,
    out,
)
from authbridge.cli.roles import grant_role
from authbridge.cli.wiring import open_operator
from authbridge.directory.roles import SYSTEM_SCOPE, UnknownRole
from authbridge.web.api.users import SessionOut, UserOut

__all__ = ["users_app"]

T = TypeVar("T")
users_app = typer.Typer(help="Manage users (operators only).", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("add")
def add(
    email: str,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    role: Annotated[str, typer.Option(help="A role (authbridge roles list).")] = "viewer",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Create a local account. An operator may create admins (unlike self-service sign-up)."""
    operator = open_operator(config)
    try:
        operator.bindings.catalog.get(role)
    except UnknownRole as exc:
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    try:
        row = operator.admin.users.create(
            cli_actor(),
            email=email,
            password=_read_password(password_stdin),
            display_name=name,
            role=role,
        )
    except AdminError as exc:
        err.print(exc.detail, markup=False)
        raise typer.Exit(1) from None
    out.print(f"Created {row.user.username} ({role}).", markup=False)


@users_app.command("list")
def list_users(
    q: Annotated[
        str | None, typer.Option("--search", "-q", help="Prefix of username, email or name.")
    ] = None,
    team: Annotated[str | None, typer.Option(help="A team id.")] = None,
    role: Annotated[str | None, typer.Option(help="Holds this role at system scope.")] = None,
    source: Annotated[
        str | None, typer.Option(help="local, a connector id, or scim:<source>.")
    ] = None,
    status: Annotated[str | None, typer.Option(help="active or disabled.")] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many (default: all).")] = None,
    output: OutputOption = OutputFormat.text,
    config: ConfigOption = None,
) -> None:
    """List users with their system roles (`roles effective <user>` shows scoped ones)."""
    operator = open_operator(config)
    rows: list[UserRow] = []
    cursor: str | None = None
    try:
        filters = user_filter(q=q, team=team, role=role, source=source, status=status)
        while True:
            size = min(limit - len(rows), 200) if limit is not None else 200
            page = operator.admin.users.search(filters, PageRequest.of(size, cursor))
            rows.extend(page.items)
            cursor = page.next_cursor
            if cursor is None or (limit is not None and len(rows) >= limit):
                break
    except AdminError as exc:
        admin_error(exc)
    documents = [UserOut.of(r).model_dump(mode="json", by_alias=True) for r in rows]
    if output is OutputFormat.json:
        emit_list(documents, output, [])
        return
    lines = [
        {
            "username": d["username"],
            "roles": ",".join(sorted(operator.bindings.effective_roles(d["id"]).system))
            + ("" if d["active"] else "  (disabled)"),
        }
        for d in documents
    ]
    emit_list(lines, output, ["username", "roles"], empty="(no users)")


@users_app.command("grant", hidden=True)
def grant(username: str, role: str, config: ConfigOption = None) -> None:
    """Give a user a role at system scope (the older spelling of `roles grant --user`)."""
    grant_role(role, username, None, SYSTEM_SCOPE, config)


def _act(config: ConfigOption, username: str, act: Callable[[UserAdmin, str], T]) -> T:
    """Run one `UserAdmin` act on the named user as this OS user; a refusal exits."""
    operator = open_operator(config)
    try:
        return act(operator.admin.users, operator.admin.users.find(username).user.id)
    except AdminError as exc:
        admin_error(exc)


@users_app.command("disable")
def disable(username: str, config: ConfigOption = None) -> None:
    """Disable a user and revoke every session and token they hold, at once."""
    _, revoked = _act(config, username, lambda users, uid: users.disable(cli_actor(), uid))
    out.print(f"{username} disabled; {revoked} credential(s) revoked.", markup=False)


@users_app.command("enable")
def enable(username: str, config: ConfigOption = None) -> None:
    """Enable a disabled user (they sign in again; nothing they held comes back)."""
    _act(config, username, lambda users, uid: users.enable(cli_actor(), uid))
    out.print(f"{username} enabled.", markup=False)


@users_app.command("remove")
def remove(
    username: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    config: ConfigOption = None,
) -> None:
    """Delete a user after ending every session and token they hold."""
    if not yes and not typer.confirm(f"Delete {username} for good?"):
        raise typer.Exit(1)
    _act(config, username, lambda users, uid: users.delete(cli_actor(), uid))
    out.print(f"{username} removed.", markup=False)


@users_app.command("revoke")
def revoke(username: str, config: ConfigOption = None) -> None:
    """End every session and refresh token of a user; the account stays."""
    revoked = _act(config, username, lambda users, uid: users.revoke(cli_actor(), uid))
    out.print(f"{username}: {revoked} credential(s) revoked.", markup=False)


@users_app.command("sessions")
def sessions(
    username: str,
    end: Annotated[str | None, typer.Option(help="End the session with this id.")] = None,
    output: OutputOption = OutputFormat.text,
    config: ConfigOption = None,
) -> None:
    """A user's browser sessions (id, created, last seen, address, user agent); `--end ID`
    ends one."""
    if end is not None:
        _act(config, username, lambda users, uid: users.end_session(cli_actor(), uid, end))
        out.print(f"Session {end} ended.", markup=False)
        return
    rows = _act(config, username, lambda users, uid: users.sessions(uid))
    documents = [SessionOut.of(s).model_dump(mode="json", by_alias=True) for s in rows]
    emit_list(
        documents,
        output,
        ["id", "createdAt", "lastSeenAt", "address", "userAgent"],
        empty="(no sessions)",
    )


@users_app.command("reset-mfa")
def reset_mfa(username: str, config: ConfigOption = None) -> None:
    """Remove a user's second factors (TOTP, recovery codes, passkeys), audited: they sign in with
    their password and enrol again where a second factor is required."""
    operator = open_operator(config)
    try:
        user_id = operator.admin.users.find(username).user.id
        removed = operator.admin.mfa.reset(cli_actor(), user_id)
    except AdminError as exc:
        admin_error(exc)
    said = "second factors removed" if removed else "had no second factor"
    out.print(f"{username}: {said}.", markup=False)
