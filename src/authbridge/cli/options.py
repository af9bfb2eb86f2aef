"""What every `authbridge` command shares: the `--config` option, and finding a user by the
name an operator types (exit 1 naming it when there is none)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from authbridge.audit.events import Actor
from authbridge.storage import Storage
from authbridge.storage.models import User

__all__ = ["ConfigOption", "cli_actor", "find_user"]

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML or JSON file.", envvar="AUTHBRIDGE_CONFIG"),
]

_err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def find_user(storage: Storage, username: str) -> User:
    """The user named `username` (case-insensitive, as sign-in), or exit 1 saying so."""
    user = storage.users.by_username(username)
    if user is None:
        _err.print(f"No user {username!r}.", markup=False)
        raise typer.Exit(1)
    return user


def cli_actor() -> Actor:
    """Who a command acts as in the audit events it records: the operating-system user."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a container's uid)
        name = None
    return Actor("cli", id=name, name=name)
