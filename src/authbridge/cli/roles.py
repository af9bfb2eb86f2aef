"""`authbridge roles` and `authbridge bindings`: the role catalog, granting and revoking
roles to users and teams at a scope, and listing bindings with their origin.

A thin client of `directory.roles.RoleBindings`, the service the admin API uses next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from authbridge.cli.options import ConfigOption, find_user
from authbridge.cli.wiring import Operator, open_operator
from authbridge.directory.roles import SYSTEM_SCOPE, EffectiveRoles, InvalidScope, UnknownRole
from authbridge.storage.errors import Conflict

__all__ = ["bindings_app", "grant_role", "role_lines", "roles_app"]

roles_app = typer.Typer(help="Roles and who holds them (operators only).", no_args_is_help=True)
bindings_app = typer.Typer(help="Role bindings (operators only).", no_args_is_help=True)
# emoji=False: a scope such as `workspace:x:` must print as written, never as an emoji.
out = Console(highlight=False, soft_wrap=True, emoji=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
UserOption = Annotated[str | None, typer.Option("--user", help="Username.")]
TeamOption = Annotated[str | None, typer.Option("--team", help="Team name or id.")]
ScopeOption = Annotated[
    str, typer.Option("--scope", help="system, or a platform scope such as workspace:ws1.")
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]{message}[/]", markup=True, highlight=False)
    return typer.Exit(code)


def role_lines(roles: EffectiveRoles) -> list[str]:
    """`system: admin, viewer`, then `<scope>: <roles>` per platform scope, sorted (system
    roles hold at every scope and are not repeated there)."""
    lines = [f"system: {', '.join(sorted(roles.system)) or 'none'}"]
    lines += [
        f"{scope}: {', '.join(sorted(names))}" for scope, names in sorted(roles.scoped.items())
    ]
    return lines


def _principal(operator: Operator, user: str | None, team: str | None) -> dict[str, str]:
    """`user_id=` or `team_id=` for the one of --user / --team given."""
    if (user is None) == (team is None):
        raise _fail("Give exactly one of --user or --team.", 2)
    if user is not None:
        return {"user_id": find_user(operator.storage, user).id}
    assert team is not None
    teams = operator.storage.bindings.teams_named(team)
    if not teams:
        raise _fail(f"No team {team!r}.")
    if len(teams) > 1:
        ids = ", ".join(t.id for t in teams)
        raise _fail(f"Several teams are named {team!r}; give one id: {ids}.")
    return {"team_id": teams[0].id}


@roles_app.command("list")
def list_roles(config: ConfigOption = None) -> None:
    """The roles that exist: built in, then defined under `roles:` in the configuration."""
    operator = open_operator(config)
    for role in operator.bindings.catalog.all():
        kind = "built-in" if role.builtin else "config"
        out.print(f"{role.name}  ({kind})  {role.description}", markup=False)
        out.print(f"  permissions: {', '.join(sorted(role.permissions)) or 'none'}")


def grant_role(
    role: str, user: str | None, team: str | None, scope: str, config: Path | None
) -> None:
    operator = open_operator(config)
    who = _principal(operator, user, team)
    try:
        added = operator.bindings.grant(role, scope=scope, origin="cli", **who)
    except (UnknownRole, InvalidScope) as exc:
        raise _fail(str(exc), 2) from None
    except Conflict:
        raise _fail("The user or team is gone.") from None
    target = user if user is not None else f"team {team}"
    state = "now has" if added else "already had"
    out.print(f"{target} {state} {role} at {scope}.", markup=False)


@roles_app.command("grant")
def grant(
    role: str,
    user: UserOption = None,
    team: TeamOption = None,
    scope: ScopeOption = SYSTEM_SCOPE,
    config: ConfigOption = None,
) -> None:
    """Give a role to a user or a team (all its members, whatever made the team) at a scope."""
    grant_role(role, user, team, scope, config)


@roles_app.command("revoke")
def revoke(
    role: str,
    user: UserOption = None,
    team: TeamOption = None,
    scope: ScopeOption = SYSTEM_SCOPE,
    config: ConfigOption = None,
) -> None:
    """Take a role binding away (tokens already issued keep it until they expire)."""
    operator = open_operator(config)
    who = _principal(operator, user, team)
    try:
        removed = operator.bindings.revoke(role, scope=scope, **who)
    except InvalidScope as exc:
        raise _fail(str(exc), 2) from None
    if not removed:
        raise _fail(f"No binding of {role} at {scope} to remove.")
    target = user if user is not None else f"team {team}"
    out.print(f"{target} no longer has {role} at {scope}.", markup=False)


@roles_app.command("effective")
def effective(user: str, config: ConfigOption = None) -> None:
    """A user's roles as their tokens carry them: their own bindings, their teams' and
    the team templates' (`scim.teamRoles`)."""
    operator = open_operator(config)
    roles = operator.bindings.effective_roles(find_user(operator.storage, user).id)
    for line in role_lines(roles):
        out.print(line, markup=False)


@bindings_app.command("list")
def list_bindings(
    user: UserOption = None,
    team: TeamOption = None,
    role: Annotated[str | None, typer.Option("--role")] = None,
    scope: Annotated[str | None, typer.Option("--scope")] = None,
    config: ConfigOption = None,
) -> None:
    """Stored bindings: role, scope, user or team, and origin (who made it: `cli`, `setup`,
    `scim:okta`, `config:authorizer.initialAdmins`, ...)."""
    operator = open_operator(config)
    who = _principal(operator, user, team) if user is not None or team is not None else {}
    catalog = operator.bindings.catalog
    for row in operator.bindings.find(role=role, scope=scope, **who):
        target = f"user {row.username}" if row.user_id is not None else f"team {row.team_name}"
        unknown = "" if row.role in catalog else "  (unknown role: grants nothing)"
        out.print(f"{row.role}  {row.scope}  {target}  origin: {row.origin}{unknown}", markup=False)
