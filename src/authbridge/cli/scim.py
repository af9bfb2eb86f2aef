"""`authbridge scim ...`: maintenance of SCIM provisioning's data."""

from __future__ import annotations

import typer
from rich.console import Console

from authbridge.cli.options import ConfigOption
from authbridge.scim.reindex import reindex as reindex_values
from authbridge.storage import Storage

__all__ = ["scim_app"]

scim_app = typer.Typer(help="SCIM provisioning maintenance.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)


@scim_app.command()
def reindex(config: ConfigOption = None) -> None:
    """Rebuild scim_user_values (the index SCIM filters read) from every user's attributes.

    Start-up and `db upgrade` index a database that held SCIM users before the value index
    existed; run this when a release says what is indexed has changed.
    """
    from authbridge.cli.main import load_or_exit

    settings = load_or_exit(config)
    storage = Storage.open(settings.database.url)
    try:
        count = reindex_values(storage.db)
    finally:
        storage.db.dispose()
    out.print(f"reindexed {count} SCIM user{'s' if count != 1 else ''}")
