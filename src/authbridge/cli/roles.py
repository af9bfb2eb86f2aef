"""`authbridge roles`: the role catalog, granting and revoking roles to users and teams at a
scope (through `admin.bindings.BindingAdmin`, as `authbridge bindings` and the admin API
do), and a user's effective roles.
"""

from __future__ import annotations

from pathlib import Path

import typer

from authbridge.cli.bindings import (
    ScopeOption,
    TeamOption,
    UserOption,
    bindings_app,
    grant,
    grant_binding,
    revoke_binding,
)
from authbridge.cli.options import ConfigOption, find_user
from authbridge.cli.output import out
from authbridge.cli.wiring import open_operator
from authbridge.directory.roles import SYSTEM_SCOPE, EffectiveRoles

# `bindings_app` lives in cli/bindings.py; named here too, where `main` has always found it.
__all__ = ["bindings_app", "grant_role", "role_lines", "roles_app"]

roles_app = typer.Typer(help="Roles and who holds them (operators only).", no_args_is_help=True)


def role_lines(roles: EffectiveRoles) -> list[str]:
    """`system: admin, viewer`, then `<scope>: <roles>` per platform scope, sorted (system
    roles hold at every scope and are not repeated there)."""
    lines = [f"system: {', '.join(sorted(roles.system)) or 'none'}"]
    lines += [
        f"{scope}: {', '.join(sorted(names))}" for scope, names in sorted(roles.scoped.items())
    ]
    return lines


def grant_role(
    role: str, user: str | None, team: str | None, scope: str, config: Path | None
) -> None:
    """`roles grant` for other commands (`users grant`)."""
    grant_binding(open_operator(config), role, user, team, scope)


@roles_app.command("list")
def list_roles(config: ConfigOption = None) -> None:
    """The roles that exist: built in, then defined under `roles:` in the configuration."""
    operator = open_operator(config)
    for role in operator.bindings.catalog.all():
        kind = "built-in" if role.builtin else "config"
        out.print(f"{role.name}  ({kind})  {role.description}", markup=False)
        out.print(f"  permissions: {', '.join(sorted(role.permissions)) or 'none'}")


# The same command as `bindings grant` (one function, two spellings).
roles_app.command("grant")(grant)


@roles_app.command("revoke")
def revoke(
    role: str,
    user: UserOption = None,
    team: TeamOption = None,
    scope: ScopeOption = SYSTEM_SCOPE,
    config: ConfigOption = None,
) -> None:
    """Take a role binding away (tokens already issued keep it until they expire)."""
    revoke_binding(open_operator(config), role, user, team, scope)


@roles_app.command("effective")
def effective(user: str, config: ConfigOption = None) -> None:
    """A user's roles as their tokens carry them: their own bindings, their teams' and
    the team templates' (`scim.teamRoles`)."""
    operator = open_operator(config)
    roles = operator.bindings.effective_roles(find_user(operator.storage, user).id)
    for line in role_lines(roles):
        out.print(line, markup=False)
