"""`authbridge clients|service-accounts|robots`: operator commands for the OpenID Provider.

A client secret, a service account's secret and a robot token are printed once and stored
only as a digest (or, for robot tokens, only their id): copy them when they are shown.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from authbridge.cli.options import ConfigOption
from authbridge.cli.wiring import open_operator
from authbridge.clock import utcnow
from authbridge.directory.roles import RoleCatalog, UnknownRole
from authbridge.provider.clients import GRANT_TYPES, Client
from authbridge.provider.service import OpenIDProvider
from authbridge.storage.errors import Conflict

__all__ = ["clients_app", "parse_lifetime", "robots_app", "service_accounts_app"]

clients_app = typer.Typer(help="Manage OAuth clients of the OpenID Provider.", no_args_is_help=True)
service_accounts_app = typer.Typer(
    help="Service accounts: programs that get tokens with client_credentials.",
    no_args_is_help=True,
)
robots_app = typer.Typer(
    help="Robot tokens: long-lived tokens for automation.", no_args_is_help=True
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_lifetime(text: str) -> int:
    """`3600`, `90m`, `12h`, `30d`, `2w` -> seconds."""
    match = re.fullmatch(r"\s*(\d{1,7})\s*([smhdw]?)\s*", text.lower())
    if not match:
        raise typer.BadParameter("use a number of seconds or 90m, 12h, 30d, 2w")
    return int(match.group(1)) * UNITS[match.group(2) or "s"]


def _provider(config: Path | None) -> OpenIDProvider:
    return open_operator(config).provider


def _check_role(role: str, config: Path | None) -> None:
    """Exit 2 unless `role` is a built-in role or one the configuration defines."""
    from authbridge.cli.main import load_or_exit

    try:
        RoleCatalog.from_settings(load_or_exit(config)).get(role)
    except UnknownRole as exc:
        err.print(f"[red]{exc}[/]", highlight=False)
        raise typer.Exit(2) from None


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
    if client.access_token_lifetime is not None and not 60 <= client.access_token_lifetime <= 86400:
        err.print("[red]--access-token-lifetime must be between 1m and 24h.[/]")
        raise typer.Exit(2)
    try:
        created = _provider(config).add_client(client)
    except (ValueError, Conflict) as exc:
        err.print(f"[red]Cannot add client:[/] {exc}", markup=True)
        raise typer.Exit(1) from None
    out.print(f"Client {client_id} registered ({'public' if public else 'confidential'}).")
    if created.secret:
        out.print("Client secret (shown once, stored only as a digest):")
        out.print(created.secret, markup=False)


@clients_app.command("list")
def clients_list(config: ConfigOption = None) -> None:
    """Every client: from the config file, built in, and registered here."""
    for client in _provider(config).clients():
        kind = "public" if client.public else "confidential"
        uris = ", ".join(client.redirect_uris) or "-"
        out.print(
            f"{client.client_id}  {kind}  [{client.source}]  grants: "
            f"{', '.join(client.grant_types)}  redirect: {uris}",
            markup=False,
        )


@clients_app.command("remove")
def clients_remove(client_id: str, config: ConfigOption = None) -> None:
    """Remove a registered client and revoke every grant it holds."""
    provider = _provider(config)
    if client_id in provider.registry.static_ids():
        err.print(f"[red]{client_id} comes from the config file or is built in;[/] edit the file.")
        raise typer.Exit(1)
    if not provider.remove_client(client_id):
        err.print(f"[red]No registered client {client_id!r}.[/]")
        raise typer.Exit(1)
    out.print(f"Client {client_id} removed; its refresh tokens are revoked.")


@clients_app.command("rotate-secret")
def clients_rotate_secret(client_id: str, config: ConfigOption = None) -> None:
    """Give a registered confidential client (or a service account's, sa-<name>) a new
    secret, printed once. The old one stops working at once, on every replica."""
    try:
        secret = _provider(config).rotate_client_secret(client_id)
    except Conflict:
        err.print(f"[red]{client_id} comes from the config file;[/] change its secret there.")
        raise typer.Exit(1) from None
    if secret is None:
        err.print(f"[red]No registered confidential client {client_id!r}.[/]")
        raise typer.Exit(1)
    out.print(f"Client {client_id}: new secret (shown once, stored only as a digest):")
    out.print(secret, markup=False)


@service_accounts_app.command("add")
def service_accounts_add(
    name: str,
    role: Annotated[str, typer.Option(help="A role (authbridge roles list).")] = "viewer",
    lifetime: Annotated[str | None, typer.Option(help="Access token lifetime, e.g. 1h.")] = None,
    config: ConfigOption = None,
) -> None:
    """Create a service account and its client_credentials client (secret printed once)."""
    _check_role(role, config)
    seconds = parse_lifetime(lifetime) if lifetime else None
    if seconds is not None and not 60 <= seconds <= 86400:
        err.print("[red]--lifetime must be between 1m and 24h.[/]")
        raise typer.Exit(2)
    try:
        created = _provider(config).add_service_account(name, role, lifetime=seconds)
    except (ValueError, Conflict) as exc:
        err.print(f"[red]Cannot add service account:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(f"Service account {name} ({role}): client_id {created.client.client_id}")
    out.print("Client secret (shown once, stored only as a digest):")
    out.print(created.secret or "", markup=False)


@service_accounts_app.command("list")
def service_accounts_list(config: ConfigOption = None) -> None:
    operator = open_operator(config)
    provider = operator.provider
    for client in provider.store.clients():
        if client.service_user_id is None:
            continue
        user = provider.store.user(client.service_user_id)
        if user is None:
            continue
        roles = ", ".join(sorted(operator.bindings.effective_roles(user.id).system)) or "none"
        state = "active" if user.active else "disabled"
        out.print(f"{user.name}  client_id {client.client_id}  roles: {roles}  {state}")


@service_accounts_app.command("remove")
def service_accounts_remove(name: str, config: ConfigOption = None) -> None:
    """Disable the service account and remove its client: its tokens stop working."""
    operator = open_operator(config)
    provider = operator.provider
    client = provider.store.client(f"sa-{name}")
    if client is None or client.service_user_id is None:
        err.print(f"[red]No service account {name!r}.[/]")
        raise typer.Exit(1)
    provider.storage.users.set_active(client.service_user_id, False)
    operator.revocation.revoke_user(client.service_user_id)
    provider.remove_client(client.client_id)
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
    _check_role(role, config)
    seconds = parse_lifetime(lifetime)
    if not 60 <= seconds <= 365 * 86400:
        err.print("[red]--lifetime must be between 1m and 365d.[/]")
        raise typer.Exit(2)
    try:
        token, jti, expires = _provider(config).issue_robot_token(
            name, role, seconds, description[:256]
        )
    except Conflict as exc:
        err.print(f"[red]Cannot add robot:[/] {exc}")
        raise typer.Exit(1) from None
    out.print(f"Robot {name} ({role}), token id {jti}, expires {expires:%Y-%m-%d %H:%M} UTC.")
    out.print("Token (shown once):")
    out.print(token, markup=False)


@robots_app.command("list")
def robots_list(config: ConfigOption = None) -> None:
    now = utcnow()
    for row in _provider(config).store.robot_tokens():
        state = "revoked" if row.revoked_at else ("expired" if row.expires_at <= now else "active")
        out.print(
            f"{row.jti}  {row.username}  expires {row.expires_at:%Y-%m-%d %H:%M}  {state}",
            markup=False,
        )


@robots_app.command("revoke")
def robots_revoke(token_id: str, config: ConfigOption = None) -> None:
    """Revoke a robot token by its id (introspection and userinfo refuse it from now on, and
    services following the revocation feed within their bound).

    An id issued before ids became hex may start with `-`: pass it after `--`."""
    if not open_operator(config).revocation.revoke_robot_token(token_id):
        err.print(f"[red]No active robot token {token_id!r}.[/]")
        raise typer.Exit(1)
    out.print(f"Robot token {token_id} revoked.")
