"""`authbridge bindings`: role bindings listed (with their origin), granted and revoked, and
the one way `authbridge roles grant|revoke` act too: `admin.bindings.BindingAdmin`, the
functions `/api/v1/bindings` calls, so the command line and the API grant, refuse and audit
alike (the configuration's bindings read only, the last system administrator kept).
"""

from __future__ import annotations

from typing import Annotated

import typer

from authbridge.admin.errors import AdminError
from authbridge.admin.paging import all_items
from authbridge.cli.options import ConfigOption, find_user
from authbridge.cli.output import (
    OutputFormat,
    OutputOption,
    admin_error,
    emit_list,
    err,
    out,
)
from authbridge.cli.wiring import Operator, open_operator
from authbridge.directory.roles import SYSTEM_SCOPE
from authbridge.storage.bindings import BindingRow
from authbridge.web.api.bindings import BindingOut

__all__ = [
    "ScopeOption",
    "TeamOption",
    "UserOption",
    "bindings_app",
    "grant_binding",
    "principal",
    "revoke_binding",
]

bindings_app = typer.Typer(help="Role bindings (operators only).", no_args_is_help=True)
UserOption = Annotated[str | None, typer.Option("--user", help="Username.")]
TeamOption = Annotated[str | None, typer.Option("--team", help="Team name or id.")]
ScopeOption = Annotated[
    str, typer.Option("--scope", help="system, or a platform scope such as workspace:ws1.")
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(message, markup=False)
    return typer.Exit(code)


def principal(operator: Operator, user: str | None, team: str | None) -> dict[str, str]:
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


def _who(row: BindingRow) -> str:
    return f"user {row.username}" if row.user_id is not None else f"team {row.team_name}"


def grant_binding(
    operator: Operator, role: str, user: str | None, team: str | None, scope: str
) -> None:
    """`BindingAdmin.grant`, said as a sentence (idempotent: `already had`)."""
    who = principal(operator, user, team)
    try:
        _row, added = operator.admin.bindings.grant(role, scope=scope, actor=operator.actor, **who)
    except AdminError as exc:
        admin_error(exc)
    target = user if user is not None else f"team {team}"
    state = "now has" if added else "already had"
    out.print(f"{target} {state} {role} at {scope}.", markup=False)


def revoke_binding(
    operator: Operator, role: str, user: str | None, team: str | None, scope: str
) -> None:
    """`BindingAdmin.revoke` of the binding of `role` at `scope` to the user or team."""
    who = principal(operator, user, team)
    try:
        operator.admin.bindings.revoke_matching(role, scope=scope, actor=operator.actor, **who)
    except AdminError as exc:
        admin_error(exc)
    target = user if user is not None else f"team {team}"
    out.print(f"{target} no longer has {role} at {scope}.", markup=False)


@bindings_app.command("list")
def list_bindings(
    user: UserOption = None,
    team: TeamOption = None,
    role: Annotated[str | None, typer.Option("--role")] = None,
    scope: Annotated[str | None, typer.Option("--scope")] = None,
    origin: Annotated[str | None, typer.Option("--origin")] = None,
    output: OutputOption = OutputFormat.text,
    config: ConfigOption = None,
) -> None:
    """Stored bindings: role, scope, user or team, and origin (who made it: `cli`, `api`,
    `setup`, `scim:okta`, `config:authorizer.initialAdmins`, ...)."""
    operator = open_operator(config)
    try:
        who = principal(operator, user, team) if user is not None or team is not None else {}
        rows = all_items(
            lambda page: operator.admin.bindings.list(
                page, role=role, scope=scope, origin=origin, **who
            )
        )
    except AdminError as exc:
        admin_error(exc)
    finally:
        operator.storage.db.dispose()
    rows.sort(key=lambda b: (b.scope, b.role, b.user_id or "", b.team_id or ""))
    if output is OutputFormat.json:
        documents = [BindingOut.of(b).model_dump(mode="json", by_alias=True) for b in rows]
        emit_list(documents, output, ())
        return
    catalog = operator.bindings.catalog
    for row in rows:
        unknown = "" if row.role in catalog else "  (unknown role: grants nothing)"
        out.print(
            f"{row.id}  {row.role}  {row.scope}  {_who(row)}  origin: {row.origin}{unknown}",
            markup=False,
        )
    if not rows:
        err.print("(no bindings)", markup=False)


@bindings_app.command("grant")
def grant(
    role: str,
    user: UserOption = None,
    team: TeamOption = None,
    scope: ScopeOption = SYSTEM_SCOPE,
    config: ConfigOption = None,
) -> None:
    """Give a role to a user or a team (all its members, whatever made the team) at a scope."""
    grant_binding(open_operator(config), role, user, team, scope)


@bindings_app.command("revoke")
def revoke(
    binding: Annotated[
        int | None, typer.Argument(help="The binding's id (as `bindings list` shows).")
    ] = None,
    role: Annotated[str | None, typer.Option("--role")] = None,
    user: UserOption = None,
    team: TeamOption = None,
    scope: ScopeOption = SYSTEM_SCOPE,
    config: ConfigOption = None,
) -> None:
    """Take a binding away, by id or by --role with --user or --team (tokens already
    issued keep it until they expire). The configuration's bindings are changed there."""
    operator = open_operator(config)
    if binding is None:
        if role is None:
            raise _fail("Give a binding id, or --role with --user or --team.", 2)
        revoke_binding(operator, role, user, team, scope)
        return
    try:
        row = operator.admin.bindings.revoke(binding, actor=operator.actor)
    except AdminError as exc:
        admin_error(exc)
    out.print(f"{_who(row)} no longer has {row.role} at {row.scope}.", markup=False)
