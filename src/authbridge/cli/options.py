"""What every `authbridge` command shares: the `--config` option, and finding a user by the
name an operator types (exit 1 naming it when there is none)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from authbridge.storage import Storage
from authbridge.storage.models import User

__all__ = ["ConfigOption", "find_user"]

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
