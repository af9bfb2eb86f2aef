"""`authbridge scim ...`: maintenance of SCIM provisioning's data, and each source's
credentials (`scim credentials list|add|retire SOURCE`), through the same admin service as
`/api/v1/scim/sources/...`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console

from authbridge.admin.errors import AdminError
from authbridge.cli.options import ConfigOption, cli_actor
from authbridge.cli.output import OutputFormat, OutputOption, admin_error, emit_list, emit_one, err
from authbridge.cli.wiring import open_operator
from authbridge.scim.reindex import reindex as reindex_values
from authbridge.storage import Storage
from authbridge.web.api.scim import CredentialOut, IssuedOut

__all__ = ["credentials_app", "scim_app"]

scim_app = typer.Typer(help="SCIM provisioning maintenance.", no_args_is_help=True)
credentials_app = typer.Typer(
    help="Each source's credentials: list, add (shown once), retire.", no_args_is_help=True
)
scim_app.add_typer(credentials_app, name="credentials")
out = Console(highlight=False, soft_wrap=True)

SourceArgument = Annotated[str, typer.Argument(help="okta (HTTP Basic) or microsoft (Bearer).")]
COLUMNS = ("id", "kind", "username", "state", "createdAt", "retiredAt", "lastUsedAt")


@credentials_app.command("list")
def list_credentials(
    source: SourceArgument, config: ConfigOption = None, output: OutputOption = OutputFormat.text
) -> None:
    """The source's credentials, the environment's (`env`) first, retired ones too."""
    admin = open_operator(config).admin
    try:
        known = admin.scim_credentials.list(source)
    except AdminError as exc:
        admin_error(exc)
    rows = [CredentialOut.of(k).model_dump(mode="json", by_alias=True) for k in known]
    emit_list(rows, output, COLUMNS, empty=f"{source} has no credential")


@credentials_app.command("add")
def add_credential(
    source: SourceArgument,
    username: Annotated[
        str | None, typer.Option(help="Basic sources: the username (generated if not given).")
    ] = None,
    expires_at: Annotated[
        datetime | None, typer.Option("--expires-at", help="When it stops working (UTC).")
    ] = None,
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Generate a credential; its secret is printed now and never again."""
    admin = open_operator(config).admin
    if expires_at is not None and expires_at.tzinfo is None:
        from datetime import UTC

        expires_at = expires_at.replace(tzinfo=UTC)
    try:
        issued = admin.scim_credentials.add(
            source, actor=cli_actor(), username=username, expires_at=expires_at
        )
    except AdminError as exc:
        admin_error(exc)
    document = IssuedOut.of_issued(issued).model_dump(mode="json", by_alias=True)
    if output is OutputFormat.json:
        emit_one(document, output)
        return
    credential = issued.credential
    out.print(f"added {source} credential {credential.id}", markup=False)
    if issued.password is not None:
        out.print(f"username: {credential.username}", markup=False)
        out.print(f"password: {issued.password}", markup=False)
    if issued.token is not None:
        out.print(f"token: {issued.token}", markup=False)
    err.print("Enter it at the IdP now: it is not shown again.", markup=False)


@credentials_app.command("retire")
def retire_credential(
    source: SourceArgument,
    credential_id: Annotated[str, typer.Argument(metavar="ID", help="`env`: the environment's.")],
    retire_after: Annotated[
        int, typer.Option("--retire-after", help="Seconds it stays valid (the IdP's switch).")
    ] = 0,
    force: Annotated[
        bool, typer.Option(help="Retire even the last active one (stops provisioning).")
    ] = False,
    config: ConfigOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Retire a credential, now or after --retire-after seconds."""
    admin = open_operator(config).admin
    try:
        known = admin.scim_credentials.retire(
            source, credential_id, actor=cli_actor(), retire_after=retire_after, force=force
        )
    except AdminError as exc:
        admin_error(exc)
    row = CredentialOut.of(known).model_dump(mode="json", by_alias=True)
    emit_one(row, output, f"{source} credential {known.id}: {row['state']} at {row['retiredAt']}")


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
