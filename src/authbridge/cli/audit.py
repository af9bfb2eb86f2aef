"""`authbridge audit list`: the audit log, newest first, through the same service as
`GET /api/v1/audit/events` (`admin.audit.AuditAdmin`), with the same JSON shape.

`cli_actor()` is who a command acts as in the events it records: the operating-system user
(a command has no token; the database credentials are what let it in).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from authbridge.admin.errors import AdminError
from authbridge.admin.paging import PageRequest
from authbridge.cli.options import ConfigOption
from authbridge.cli.output import OutputFormat, OutputOption, admin_error, emit_list, emit_one, err
from authbridge.cli.wiring import open_operator
from authbridge.web.api.audit import AuditEventList, AuditEventOut

__all__ = ["audit_app"]

audit_app = typer.Typer(help="The audit log (operators only).", no_args_is_help=True)


def _when(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 time; without a zone it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        err.print(f"{option}: not an ISO 8601 time (e.g. 2026-01-31T12:00:00Z)", markup=False)
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@audit_app.command("list")
def list_events(
    actor: Annotated[str | None, typer.Option("--actor", help="The actor's id.")] = None,
    type: Annotated[
        str | None, typer.Option("--type", help="An event type, or a prefix ending in '.'.")
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="TYPE or TYPE:ID (user:<id>, client:<id>).")
    ] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601, inclusive.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="ISO 8601, exclusive.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    cursor: Annotated[
        str | None, typer.Option("--cursor", help="The next page (printed after a page).")
    ] = None,
    output: OutputOption = OutputFormat.text,
    config: ConfigOption = None,
) -> None:
    """Audit events, newest first: sign-ins, token events, SCIM writes, admin acts."""
    target_type, _, target_id = (target or "").partition(":")
    operator = open_operator(config)
    try:
        found = operator.admin.audit_events.query(
            actor=actor,
            target_type=target_type or None,
            target_id=target_id or None,
            type=type,
            since=_when(since, "--since"),
            until=_when(until, "--until"),
            page=PageRequest.of(limit, cursor),
        )
    except AdminError as exc:
        admin_error(exc)
    page = AuditEventList(
        items=[AuditEventOut.of(r) for r in found.items], next_cursor=found.next_cursor
    )
    if output is OutputFormat.json:
        emit_one(page.model_dump(mode="json", by_alias=True), output)
        return
    rows = [
        {
            "at": e.at.isoformat(timespec="seconds"),
            "type": e.type,
            "outcome": e.outcome,
            "actor": f"{e.actor.kind}:{e.actor.name or e.actor.id or '-'}",
            "target": f"{e.target.type}:{e.target.id}" if e.target is not None else None,
            "address": e.actor.address,
        }
        for e in page.items
    ]
    emit_list(rows, output, ["at", "type", "outcome", "actor", "target", "address"])
    if page.next_cursor is not None:
        err.print(f"More: --cursor {page.next_cursor}", markup=False)
