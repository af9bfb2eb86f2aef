"""`authbridge doctor [--config F] [--output text|json]`: one line per check, exit 1 on any
failure (what Pachyderm users otherwise read from crash-looping pod logs)."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from authbridge.cli.options import ConfigOption
from authbridge.doctor import diagnose, exit_code

__all__ = ["doctor"]

# emoji=False: a message such as "host:8080:" must print as written.
out = Console(highlight=False, soft_wrap=True, emoji=False)
COLOURS = {"ok": "green", "warn": "yellow", "fail": "bold red"}


class Output(StrEnum):
    text = "text"
    json = "json"


def doctor(
    config: ConfigOption = None,
    output: Annotated[
        Output, typer.Option("--output", "-o", help="text, or json (a stable list).")
    ] = Output.text,
) -> None:
    """Check each configured IdP (through the configured proxy) and authbridge itself."""
    from authbridge.cli.main import load_or_exit

    checks = diagnose(load_or_exit(config))
    if output is Output.json:
        typer.echo(json.dumps([c.as_json() for c in checks], indent=2))
    else:
        for check in checks:
            colour = COLOURS[check.status]
            out.print(f"[{colour}]{check.status:<4}[/]", end="  ")
            out.print(check.text(), markup=False)
    raise typer.Exit(exit_code(checks))
