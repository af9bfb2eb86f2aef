"""`--output text|json` for every listing command, and the one way commands print results
and admin errors.

JSON output is what the admin API answers for the same resource (the same field names, the
API's models' `model_dump(mode="json", by_alias=True)`), one document on standard output,
so scripts can switch between the CLI and `curl` without translating.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from authbridge.admin.errors import AdminError

__all__ = ["OutputFormat", "OutputOption", "admin_error", "emit_list", "emit_one", "err", "out"]

out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option("--output", "-o", help="text (for people) or json (the admin API's shape)."),
]


def _json(value: Any) -> None:
    # Plain print: Rich would wrap and colour a document scripts parse.
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def emit_list(
    rows: Sequence[Mapping[str, Any]],
    fmt: OutputFormat,
    columns: Sequence[str],
    *,
    empty: str = "(none)",
) -> None:
    """Rows as `{"items": [...]}` (json) or one line per row of the named columns (text)."""
    if fmt is OutputFormat.json:
        _json({"items": list(rows)})
        return
    if not rows:
        err.print(empty, markup=False)
        return
    for row in rows:
        out.print("  ".join(_cell(row.get(column)) for column in columns), markup=False)


def emit_one(row: Mapping[str, Any], fmt: OutputFormat, text: str | None = None) -> None:
    """One resource: the document (json), or `text` (or `key: value` lines)."""
    if fmt is OutputFormat.json:
        _json(row)
        return
    if text is not None:
        out.print(text, markup=False)
        return
    for key, value in row.items():
        out.print(f"{key}: {_cell(value)}", markup=False)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def admin_error(exc: AdminError) -> NoReturn:
    """Print an admin service's refusal and exit: 2 for invalid input, 1 otherwise."""
    err.print(f"{exc.title}: {exc.detail}", markup=False)
    raise typer.Exit(2 if exc.status == 400 else 1)
