"""`authbridge connectors list`: the configured IdPs and the redirect URI to register at
each, through the same admin service as `/api/v1/connectors`. A command makes no call to
an IdP, so its statuses are `unknown`; the running server's are at the API."""

from __future__ import annotations

import typer

from authbridge.cli.options import ConfigOption
from authbridge.cli.output import OutputFormat, OutputOption, emit_list
from authbridge.cli.wiring import open_operator
from authbridge.web.api.connectors import ConnectorOut

__all__ = ["connectors_app"]

connectors_app = typer.Typer(help="Upstream identity providers.", no_args_is_help=True)


@connectors_app.command("list")
def list_connectors(config: ConfigOption = None, output: OutputOption = OutputFormat.text) -> None:
    """Each connector: id, type, enabled, the redirect URI to register, status."""
    views = open_operator(config).admin.connectors.list()
    rows = []
    for view in views:
        row = ConnectorOut.of(view).model_dump(mode="json", by_alias=True)
        if output is OutputFormat.text:
            row["status"] = row["status"]["status"]
        rows.append(row)
    emit_list(rows, output, ("id", "type", "enabled", "redirectUri", "status"))
