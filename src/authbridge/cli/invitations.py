"""`authbridge invitations list|create|resend|revoke`: the same admin service the API's
`/api/v1/invitations` calls (`admin/invitations.py`), the same JSON with `--output json`.
The link is printed only when it was not mailed (no `smtp:`), once."""

from __future__ import annotations

from typing import Annotated

import typer

from authbridge.admin.errors import AdminError
from authbridge.admin.invitations import InvitationView
from authbridge.admin.paging import PageRequest
from authbridge.cli.options import ConfigOption, cli_actor
from authbridge.cli.output import (
    OutputFormat,
    OutputOption,
    admin_error,
    emit_list,
    emit_one,
    err,
)
from authbridge.cli.wiring import Operator, open_operator
from authbridge.directory.invitations import Grant
from authbridge.web.api.invitations import InvitationOut

__all__ = ["invitations_app"]

invitations_app = typer.Typer(help="Invite people by email (operators only).", no_args_is_help=True)
COLUMNS = ("id", "email", "status", "expiresAt", "teams", "link")


def _finish(operator: Operator, invitation_id: str) -> None:
    # The mail thread delivers before the process exits (a failure is logged and audited).
    mailer = operator.mailer
    if mailer is not None:
        mailer.close()
        if mailer.failures:
            err.print(
                "The invitation was made but its mail could not be sent (see the log); fix "
                f"smtp: and run `authbridge invitations resend {invitation_id}`.",
                markup=False,
            )
            raise typer.Exit(1)


def _issued(operator: Operator, view: InvitationView, output: OutputFormat) -> None:
    """After create or resend: the mail delivered (or failed, audited), then the result."""
    _finish(operator, view.invitation.id)
    doc = _doc(InvitationOut.of(view))
    emit_one(doc, output, _text(doc))


def _doc(out: InvitationOut) -> dict[str, object]:
    return out.model_dump(mode="json", by_alias=True)


def _grant(text: str) -> Grant:
    role, _, scope = text.partition("@")
    return Grant(role.strip(), scope.strip() or "system")


@invitations_app.command("list")
def invitations_list(
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.text,
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    cursor: Annotated[str | None, typer.Option("--cursor", help="From a previous page.")] = None,
    status: Annotated[
        str | None,
        typer.Option("--status", help="Only pending, accepted, expired or revoked ones."),
    ] = None,
) -> None:
    operator = open_operator(config)
    try:
        page = operator.admin.invitations.list(PageRequest.of(limit, cursor), status=status)
    except AdminError as exc:
        admin_error(exc)
    rows = [_doc(InvitationOut.of(v)) for v in page.items]
    emit_list(rows, output, COLUMNS, empty="No invitations.")
    if page.next_cursor and output is OutputFormat.text:
        typer.echo(f"more: --cursor {page.next_cursor}", err=True)


@invitations_app.command("create")
def invitations_create(
    email: str,
    team: Annotated[list[str] | None, typer.Option("--team", help="A team (repeatable).")] = None,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", help="role or role@scope, e.g. editor@workspace:ws1 (repeatable)."),
    ] = None,
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    operator = open_operator(config)
    try:
        view = operator.admin.invitations.create(
            cli_actor(), email, teams=team or [], grants=[_grant(r) for r in role or []]
        )
    except AdminError as exc:
        admin_error(exc)
    _issued(operator, view, output)


@invitations_app.command("resend")
def invitations_resend(
    invitation_id: str, config: ConfigOption = None, output: OutputOption = OutputFormat.text
) -> None:
    operator = open_operator(config)
    try:
        view = operator.admin.invitations.resend(cli_actor(), invitation_id)
    except AdminError as exc:
        admin_error(exc)
    _issued(operator, view, output)


@invitations_app.command("revoke")
def invitations_revoke(invitation_id: str, config: ConfigOption = None) -> None:
    operator = open_operator(config)
    try:
        operator.admin.invitations.revoke(cli_actor(), invitation_id)
    except AdminError as exc:
        admin_error(exc)
    typer.echo(f"Revoked invitation {invitation_id}.")


def _text(doc: dict[str, object]) -> str:
    lines = [f"Invitation {doc['id']} for {doc['email']}, valid until {doc['expiresAt']}."]
    if doc.get("link"):
        lines.append(f"Pass this one-time link on (it is not shown again):\n  {doc['link']}")
    else:
        lines.append("The link was mailed to the invited address.")
    return "\n".join(lines)
