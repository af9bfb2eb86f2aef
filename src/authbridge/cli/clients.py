"""`authbridge clients|service-accounts|robots`: operator commands for the OpenID Provider.

Each command calls the same admin service function as the admin API's route (`admin/`), with
the operating-system user as the audited actor. A client secret, a service account's secret
and a robot token are printed once and stored only as a digest (or, for robot tokens, only
their id): copy them when they are shown. `--output json` prints what the API answers.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from authbridge.admin.clients import DEFAULT_PREVIOUS_SECRET_SECONDS
from authbridge.admin.errors import AdminError
from authbridge.admin.paging import all_items
from authbridge.cli.options import ConfigOption, cli_actor
from authbridge.cli.output import OutputFormat, OutputOption, admin_error, emit_list, out
from authbridge.cli.wiring import open_operator
from authbridge.clock import utcnow
from authbridge.provider.clients import GRANT_TYPES, Client

__all__ = [
    "clients_app",
    "parse_lifetime",
    "robots_app",
    "service_accounts_app",
]

clients_app = typer.Typer(help="Manage OAuth clients of the OpenID Provider.", no_args_is_help=True)
service_accounts_app = typer.Typer(
    help="Service accounts: programs that get tokens with client_credentials.",
    no_args_is_help=True,
)
robots_app = typer.Typer(
    help="Robot tokens: long-lived tokens for automation.", no_args_is_help=True
)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_lifetime(text: str) -> int:
    """`3600`, `90m`, `12h`, `30d`, `2w` -> seconds."""
    match = re.fullmatch(r"\s*(\d{1,7})\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise typer.BadParameter("use a number of seconds or 90m, 12h, 30d, 2w")
    return int(match.group(1)) * UNITS[match.group(2) or "s"]


@clients_app.command("add")
def clients_add(
    client_id: str,
    redirect_uri: Annotated[
        list[str] | None, typer.Option("--redirect-uri", help="Exact redirect URI (repeatable).")
    ] = None,
    public: Annotated[
        bool, typer.Option("--public", help="No secret (SPA, native app); PKCE S256 required.")
    ] = False,
    grant: Annotated[
        list[str] | None,
        typer.Option("--grant", help="Grant type (repeatable): " + ", ".join(GRANT_TYPES)),
    ] = None,
    post_logout_uri: Annotated[list[str] | None, typer.Option("--post-logout-uri")] = None,
    connector: Annotated[
        list[str] | None, typer.Option("--connector", help="Allowed connector id (repeatable).")
    ] = None,
    name: Annotated[str, typer.Option(help="Name shown to users.")] = "",
    access_token_lifetime: Annotated[str | None, typer.Option(help="e.g. 15m, 1h")] = None,
    refresh_token_lifetime: Annotated[str, typer.Option(help="Absolute, e.g. 30d")] = "30d",  # noqa: S107
    refresh_idle_timeout: Annotated[str, typer.Option(help="e.g. 7d")] = "7d",
    config: ConfigOption = None,
) -> None:
    """Register a client. A confidential client's secret is printed once: copy it now."""
    grants = grant or ["authorization_code", "refresh_token"]
    aliases = {"device_code": "urn:ietf:params:oauth:grant-type:device_code"}
    client = Client(
        client_id=client_id,
        name=name or client_id,
        public=public,
        redirect_uris=tuple(redirect_uri or ()),
        post_logout_redirect_uris=tuple(post_logout_uri or ()),
        grant_types=tuple(aliases.get(g, g) for g in grants),
        allowed_connectors=tuple(connector or ()),
        access_token_lifetime=(
            parse_lifetime(access_token_lifetime) if access_token_lifetime else None
        ),
        refresh_token_lifetime=parse_lifetime(refresh_token_lifetime),
        refresh_token_idle_timeout=parse_lifetime(refresh_idle_timeout),
        source="database",
    )
    try:
        created = open_operator(config).admin.clients.create(cli_actor(), client)
    except AdminError as exc:
        admin_error(exc)
    out.print(f"Client {client_id} registered ({'public' if public else 'confidential'}).")
    if created.secret:
        out.print("Client secret (shown once, stored only as a digest):")
        out.print(created.secret, markup=False)


@clients_app.command("list")
def clients_list(output: OutputOption = OutputFormat.text, config: ConfigOption = None) -> None:
    """Every client: from the config file, built in, and registered here."""
    from authbridge.web.api.clients import ClientOut

    clients = open_operator(config).admin.clients
    rows = []
    now = utcnow()
    for client in all_items(clients.list):
        row = ClientOut.of(client, now).model_dump(mode="json", by_alias=True)
        row["kind"] = "public" if client.public else "confidential"
        row["sourceTag"] = f"[{client.source}]"
        row["grants"] = "grants: " + ", ".join(client.grant_types)
        row["redirect"] = "redirect: " + (", ".join(client.redirect_uris) or "-")
        rows.append(row)
    if output is OutputFormat.json:
        for row in rows:
            for extra in ("kind", "sourceTag", "grants", "redirect"):
                del row[extra]
    emit_list(rows, output, ("clientId", "kind", "sourceTag", "grants", "redirect"))


@clients_app.command("remove")
def clients_remove(client_id: str, config: ConfigOption = None) -> None:
    """Remove a registered client and revoke every grant it holds."""
    try:
        open_operator(config).admin.clients.delete(cli_actor(), client_id)
    except AdminError as exc:
        admin_error(exc)
    out.print(f"Client {client_id} removed; its refresh tokens are revoked.")


@clients_app.command("rotate-secret")
def clients_rotate_secret(
    client_id: str,
    previous_expires_in: Annotated[
        str,
        typer.Option(
            "--previous-expires-in",
            help="How long the old secret keeps working (0 = stop now; at most 30d).",
        ),
    ] = f"{DEFAULT_PREVIOUS_SECRET_SECONDS}s",
    config: ConfigOption = None,
) -> None:
    """Give a registered confidential client (or a service account's, sa-<name>) a new
    secret, printed once. The old one keeps working until --previous-expires-in has passed
    (default 1h), on every replica; then it is refused."""
    seconds = parse_lifetime(previous_expires_in)
    try:
        rotated = open_operator(config).admin.clients.rotate_secret(cli_actor(), client_id, seconds)
    except AdminError as exc:
        admin_error(exc)
    if rotated.previous_expires_at is None:
        out.print(f"Client {client_id}: the old secret is refused from now on.")
    else:
        until = f"{rotated.previous_expires_at:%Y-%m-%d %H:%M:%S}"
        out.print(f"Client {client_id}: the old secret keeps working until {until} UTC.")
    out.print("New secret (shown once, stored only as a digest):")
    out.print(rotated.secret, markup=False)


@service_accounts_app.command("add")
def service_accounts_add(
    name: str,
    role: Annotated[str, typer.Option(help="A role (authbridge roles list).")] = "viewer",
    lifetime: Annotated[str | None, typer.Option(help="Access token lifetime, e.g. 1h.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create a service account and its client_credentials client (secret printed once)."""
    seconds = parse_lifetime(lifetime) if lifetime else None
    try:
        created = open_operator(config).admin.service_accounts.create(
            cli_actor(), name, role, access_token_lifetime=seconds
        )
    except AdminError as exc:
        admin_error(exc)
    out.print(f"Service account {name} ({role}): client_id {created.account.client_id}")
    out.print("Client secret (shown once, stored only as a digest):")
    out.print(created.secret, markup=False)


@service_accounts_app.command("list")
def service_accounts_list(
    output: OutputOption = OutputFormat.text, config: ConfigOption = None
) -> None:
    from authbridge.web.api.service_accounts import ServiceAccountOut

    accounts = open_operator(config).admin.service_accounts
    rows = []
    for account in all_items(accounts.list):
        row = ServiceAccountOut.of(account).model_dump(mode="json", by_alias=True)
        if output is OutputFormat.text:
            row["clientId"] = f"client_id {account.client_id}"
            row["roles"] = "roles: " + (", ".join(account.roles) or "none")
            row["state"] = "active" if account.active else "disabled"
        rows.append(row)
    emit_list(rows, output, ("name", "clientId", "roles", "state"))


@service_accounts_app.command("remove")
def service_accounts_remove(name: str, config: ConfigOption = None) -> None:
    """Disable the service account and remove its client: its tokens stop working."""
    try:
        open_operator(config).admin.service_accounts.delete(cli_actor(), name)
    except AdminError as exc:
        admin_error(exc)
    out.print(f"Service account {name} disabled and its client removed.")


@robots_app.command("add")
def robots_add(
    name: str,
    role: Annotated[str, typer.Option(help="A role (authbridge roles list).")] = "viewer",
    lifetime: Annotated[str, typer.Option(help="e.g. 30d (at most 365d).")] = "30d",
    description: Annotated[str, typer.Option()] = "",
    config: ConfigOption = None,
) -> None:
    """Issue a robot token: a long-lived access token of a new robot principal."""
    try:
        issued = open_operator(config).admin.robots.issue(
            cli_actor(), name, role, parse_lifetime(lifetime), description[:256]
        )
    except AdminError as exc:
        admin_error(exc)
    robot = issued.robot
    out.print(
        f"Robot {name} ({role}), token id {robot.jti}, "
        f"expires {robot.expires_at:%Y-%m-%d %H:%M} UTC."
    )
    out.print("Token (shown once):")
    out.print(issued.token, markup=False)


@robots_app.command("list")
def robots_list(output: OutputOption = OutputFormat.text, config: ConfigOption = None) -> None:
    from authbridge.web.api.robots import RobotOut

    robots = open_operator(config).admin.robots
    now = utcnow()
    rows = []
    for robot in all_items(robots.list):
        row = RobotOut.of(robot, now).model_dump(mode="json", by_alias=True)
        if output is OutputFormat.text:
            row["expiresAt"] = f"expires {robot.expires_at:%Y-%m-%d %H:%M}"
        rows.append(row)
    emit_list(rows, output, ("id", "username", "expiresAt", "state"))


@robots_app.command("revoke")
def robots_revoke(token_id: str, config: ConfigOption = None) -> None:
    """Revoke a robot token by its id (introspection and userinfo refuse it from now on, and
    services following the revocation feed within their bound).

    An id issued before ids became hex may start with `-`: pass it after `--`."""
    try:
        open_operator(config).admin.robots.revoke(cli_actor(), token_id)
    except AdminError as exc:
        admin_error(exc)
    out.print(f"Robot token {token_id} revoked.")
