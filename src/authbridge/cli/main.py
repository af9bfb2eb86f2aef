"""The `authbridge` command: serve, config check, db upgrade, keys rotate|list."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from authbridge.cli import login as login_commands
from authbridge.cli.api import api as api_command
from authbridge.cli.audit import audit_app
from authbridge.cli.clients import clients_app, robots_app, service_accounts_app
from authbridge.cli.connectors import connectors_app
from authbridge.cli.doctor import doctor
from authbridge.cli.invitations import invitations_app
from authbridge.cli.options import ConfigOption, cli_actor
from authbridge.cli.output import OutputFormat, OutputOption, emit_list
from authbridge.cli.roles import bindings_app, roles_app
from authbridge.cli.scim import scim_app
from authbridge.cli.teams import teams_app
from authbridge.cli.users import users_app
from authbridge.config import ConfigError, Report, Settings, load_with_report, masked
from authbridge.config.workers import shares_changes, worker_count
from authbridge.provider.clients import check_configured_clients
from authbridge.storage import Storage

__all__ = ["app", "main"]

app = typer.Typer(
    help="authbridge: the authentication service of a data platform.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage token signing keys.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
app.add_typer(roles_app, name="roles")
app.add_typer(bindings_app, name="bindings")
app.add_typer(audit_app, name="audit")
app.add_typer(clients_app, name="clients")
app.add_typer(service_accounts_app, name="service-accounts")
app.add_typer(robots_app, name="robots")
app.add_typer(scim_app, name="scim")
app.add_typer(teams_app, name="teams")
app.add_typer(connectors_app, name="connectors")
app.add_typer(invitations_app, name="invitations")
app.command("login")(login_commands.login)
app.command("token")(login_commands.token)
app.command("logout")(login_commands.logout)
app.command("doctor")(doctor)
app.command("api")(api_command)

# soft_wrap: lines are data (YAML, key ids) that must survive a narrow terminal intact.
err = Console(stderr=True, highlight=False, soft_wrap=True)
out = Console(highlight=False, soft_wrap=True)


def load_or_exit(config: Path | None) -> Settings:
    """Load settings or stop with every problem named (exit 2), never a traceback."""
    return _load_with_report_or_exit(config)[0]


def _load_with_report_or_exit(config: Path | None) -> tuple[Settings, Report]:
    try:
        settings, report = load_with_report(config)
        check_configured_clients(settings)  # the one client validator, as `clients add`
        return settings, report
    except ConfigError as exc:
        err.print(
            f"[bold red]Configuration error[/] ({len(exc.issues)} problem"
            f"{'s' if len(exc.issues) != 1 else ''}):"
        )
        for issue in exc.issues:
            err.print(f"  - {issue}", markup=False)
        raise typer.Exit(2) from None


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="Override server.host.")] = None,
    port: Annotated[int | None, typer.Option(help="Override server.port.")] = None,
    workers: Annotated[
        str | None,
        typer.Option(
            help="Override server.workers: worker processes (a positive integer), or auto "
            "(the CPUs this process may use)."
        ),
    ] = None,
) -> None:
    """Run the service (with no config: SQLite file, local accounts, http://localhost:8080)."""
    from authbridge.directory.bootstrap import BootstrapAdmin, BootstrapError
    from authbridge.web.observability import configure_logging
    from authbridge.web.services import Services
    from authbridge.web.serving import run

    settings = load_or_exit(config)
    try:
        bootstrap = BootstrapAdmin.from_environ(os.environ)
    except BootstrapError as exc:
        err.print("[bold red]Configuration error:[/]", end=" ")
        err.print(str(exc), markup=False)
        raise typer.Exit(2) from None
    try:
        server = settings.server.listening_on(host, port, workers)
    except ValueError as exc:  # pydantic's ValidationError: --port is managementPort
        reasons = "; ".join(
            ".".join(["server", *map(str, e.get("loc", ()))])
            + ": "
            + str(e.get("msg", e)).removeprefix("Value error, ")
            for e in getattr(exc, "errors", list)()
        )
        err.print("[bold red]Configuration error:[/]", end=" ")
        err.print(reasons or f"server: {exc}", markup=False)
        raise typer.Exit(2) from None
    settings = settings.model_copy(update={"server": server})
    configure_logging(settings.logging.level, settings.logging.format)
    # Plain print: these lines are data (an IPv6 issuer's brackets are not markup), and
    # rendering them through Rich costs each worker about 1 MB of its caches.
    print(f"authbridge on {server.issuer} (listening on {server.host}:{server.port})", flush=True)
    if server.management_port is not None:
        print(
            f"health and metrics on {server.management_address}:{server.management_port} "
            "(/healthz, /readyz, /metrics)",
            flush=True,
        )
    # auto is one process on SQLite alone: workers there would not share their changes.
    shared = shares_changes(settings.database.url, settings.redis.url)
    processes = worker_count(server.workers, changes_shared=shared)
    if processes == 1:
        run(settings, Services(settings, bootstrap=bootstrap))
        return
    from authbridge.web.workers import run_workers

    out.print(f"{processes} worker processes (server.workers: {server.workers})")
    status = run_workers(settings, bootstrap, processes)
    if status:
        raise typer.Exit(status)


@config_app.command("check")
def config_check(config: ConfigOption = None) -> None:
    """Print the effective configuration with secrets masked; exit non-zero on errors."""
    settings, report = _load_with_report_or_exit(config)
    out.print(yaml.safe_dump(masked(settings), sort_keys=False).rstrip(), markup=False)
    for line in report.translated:
        err.print(f"translated: {line}", markup=False)
    for key in report.not_read:
        err.print(f"not read by authbridge: {key}", markup=False)
    err.print("[green]Configuration is valid.[/]")


@config_app.command("export")
def config_export(config: ConfigOption = None) -> None:
    """Print the configuration in authbridge's own keys (non-default keys; secrets left out)."""
    from authbridge.config.export import native

    settings = load_or_exit(config)
    tree, left_out = native(settings)
    out.print(yaml.safe_dump(tree, sort_keys=False).rstrip(), markup=False)
    for path in left_out:
        section, _, name = path.partition(".")
        if section == "environment":  # a process variable the file's env list carried
            err.print(f"left out: ${name} (set it in the process environment)", markup=False)
        else:
            err.print(
                f"secret left out: {path} (give it through the environment, a _FILE variable "
                "or AUTHBRIDGE_SECRETS_DIR)",
                markup=False,
            )


@config_app.command("reference")
def config_reference() -> None:
    """Print every configuration key with its environment variable, type, default and meaning
    (Markdown; docs/configuration.md is this output)."""
    from authbridge.config.reference import markdown

    sys.stdout.write(markdown())


@app.command("setup-link")
def setup_link(config: ConfigOption = None) -> None:
    """Print a new first-admin setup link (voiding the pending one) while no admin exists."""
    from authbridge.directory.bootstrap import SetupLinks

    settings = load_or_exit(config)
    storage = Storage.open(settings.database.url)
    try:
        token = SetupLinks(storage).renew()
    finally:
        storage.db.dispose()
    if token is None:
        err.print("An administrator exists already: sign in, or use `authbridge users grant`.")
        raise typer.Exit(1)
    out.print(f"{settings.server.issuer}/setup?token={token}", markup=False, soft_wrap=True)


@db_app.command("upgrade")
def db_upgrade(config: ConfigOption = None) -> None:
    """Apply database migrations (start-up does this too)."""
    from authbridge.scim.reindex import reindex_if_missing
    from authbridge.storage.database import Database

    settings = load_or_exit(config)
    db = Database(settings.database.url)
    try:
        db.upgrade()
        reindexed = reindex_if_missing(db)
    except Exception as exc:
        err.print(f"[red]Migration failed:[/] {type(exc).__name__}: {str(exc)[:300]}")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    if reindexed is not None:
        out.print(f"Indexed {reindexed} SCIM users for filtering (provisioned before 0003).")
    out.print("Database schema is up to date.")


@keys_app.command("rotate")
def keys_rotate(config: ConfigOption = None) -> None:
    """Publish a new signing key now; it signs after tokens.keyPublishAhead seconds, and the
    old key stays published until every token it signed has expired."""
    from authbridge.cli.wiring import open_operator

    key = open_operator(config).admin.keys.rotate(cli_actor())
    starts = key.signs_from.strftime("%Y-%m-%d %H:%M:%S")
    out.print(f"New key {key.kid} ({key.alg}) published; it signs from {starts} UTC.")


@keys_app.command("list")
def keys_list(output: OutputOption = OutputFormat.text, config: ConfigOption = None) -> None:
    """List signing keys, newest first (public facts only)."""
    from authbridge.cli.wiring import open_operator
    from authbridge.web.api.keys import KeyOut

    rows = []
    for key in open_operator(config).admin.keys.list():
        row = KeyOut.of(key).model_dump(mode="json", by_alias=True)
        if output is OutputFormat.text:
            row["signsFrom"] = f"signs from {key.signs_from:%Y-%m-%d %H:%M}"
            until = key.published_until
            row["publishedUntil"] = f"published until {until:%Y-%m-%d %H:%M}" if until else ""
        rows.append(row)
    emit_list(rows, output, ("kid", "alg", "state", "signsFrom", "publishedUntil"))


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
