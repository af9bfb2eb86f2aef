"""`authbridge users`: operator commands to create, list, grant roles to and disable users."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from authbridge.cli.options import ConfigOption, find_user
from authbridge.cli.roles import grant_role
from authbridge.cli.wiring import open_operator
from authbridge.config import Settings
from authbridge.directory.accounts import AccountError, LocalAccounts
from authbridge.directory.passwords import PasswordHashing
from authbridge.directory.roles import ADMIN, DEFAULT_ROLE, SYSTEM_SCOPE, UnknownRole
from authbridge.storage import Storage

__all__ = ["users_app"]

users_app = typer.Typer(help="Manage users (operators only).", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _open(config: Path | None) -> tuple[Settings, Storage]:
    from authbridge.cli.main import load_or_exit

    settings = load_or_exit(config)
    return settings, Storage.open(settings.database.url)


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
        err.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None
    settings, storage = operator.settings, operator.storage
    local = settings.auth.local
    hashing = PasswordHashing(
        local.password_hash.memory_cost,
        local.password_hash.time_cost,
        local.password_hash.parallelism,
    )
    accounts = LocalAccounts(storage, hashing, local, settings.authorizer)
    try:
        user = accounts.sign_up(
            email=email,
            password=_read_password(password_stdin),
            name=name,
            admin=role == ADMIN,
            self_service=False,
            origin="cli",
        )
    except AccountError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    if role not in (ADMIN, DEFAULT_ROLE):
        operator.bindings.grant(role, user_id=user.id, origin="cli")
    out.print(f"Created {user.username} ({role}).")


@users_app.command("list")
def list_users(config: ConfigOption = None) -> None:
    """List users with their system roles (`roles effective <user>` shows scoped ones)."""
    operator = open_operator(config)
    for user in operator.storage.users.all():
        state = "" if user.active else "  (disabled)"
        roles = ",".join(sorted(operator.bindings.effective_roles(user.id).system))
        out.print(f"{user.username}  {roles}{state}")


@users_app.command("grant", hidden=True)
def grant(username: str, role: str, config: ConfigOption = None) -> None:
    """Give a user a role at system scope (the older spelling of `roles grant --user`)."""
    grant_role(role, username, None, SYSTEM_SCOPE, config)


@users_app.command("disable")
def disable(username: str, config: ConfigOption = None) -> None:
    """Disable a user and revoke every session and token they hold, at once."""
    operator = open_operator(config)
    user_id = find_user(operator.storage, username).id
    operator.storage.users.set_active(user_id, False)
    revoked = operator.revocation.revoke_user(user_id)
    out.print(f"{username} disabled; {revoked} credential(s) revoked.")
