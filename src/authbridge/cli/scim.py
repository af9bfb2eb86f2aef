"""`authbridge scim ...`: maintenance of SCIM provisioning's data."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from authbridge.scim.resources import USER_SCHEMA, UserModel
from authbridge.storage import Storage
from authbridge.storage.scim import reindex_user_values
from authbridge.storage.scim.values import value_rows

__all__ = ["scim_app"]

scim_app = typer.Typer(help="SCIM provisioning maintenance.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)
ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML or JSON file.", envvar="AUTHBRIDGE_CONFIG"),
]


def user_rows(attributes: dict[str, Any]) -> list[dict[str, Any]]:
    """A user's value-index rows, built as every SCIM write builds them."""
    return value_rows(UserModel, USER_SCHEMA, attributes)


@scim_app.command()
def reindex(config: ConfigOption = None) -> None:
    """Rebuild scim_user_values (the index SCIM filters read) from every user's attributes.

    Run it once after upgrading a database that held SCIM users before the value index
    existed (migration 0003_scim_values creates the table only), or when a release says so.
    """
    from authbridge.cli.main import load_or_exit

    settings = load_or_exit(config)
    storage = Storage.open(settings.database.url)
    try:
        count = reindex_user_values(storage.db, user_rows)
    finally:
        storage.db.dispose()
    out.print(f"reindexed {count} SCIM user{'s' if count != 1 else ''}")
