"""`authbridge teams ...`: teams listed, created and deleted, their members with the source
of each membership, and what a login or a SCIM change would do to a user's teams.

Every act is `admin.teams.TeamAdmin`'s (what `/api/v1/teams` calls): an administrator's
membership is the source `local`, beside SCIM's and logins', and audited alike.

`dry-run` runs the same code a real login or SCIM PATCH runs (the membership engine, the
SCIM group store) and writes nothing: a login is planned from its claims, a SCIM PATCH is
applied in a transaction that is rolled back. A login's plan shows the roles before and
after (bindings of the user and of the teams, and the `scim.teamRoles` templates).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from authbridge.admin.errors import AdminError
from authbridge.admin.paging import all_items
from authbridge.cli.options import ConfigOption, find_user
from authbridge.cli.output import (
    OutputFormat,
    OutputOption,
    admin_error,
    emit_list,
    emit_one,
)
from authbridge.cli.roles import role_lines
from authbridge.cli.wiring import Operator, open_operator
from authbridge.connectors.oidc import OidcConnector
from authbridge.connectors.registry import build_connectors
from authbridge.directory.identities import IdentityLinker
from authbridge.directory.membership import PlannedTeam
from authbridge.directory.roles import EffectiveRoles
from authbridge.scim.errors import ScimError
from authbridge.storage.team_admin import TeamInfo
from authbridge.web.api.teams import MemberOut, TeamOut

if TYPE_CHECKING:
    from authbridge.scim.service import ScimService

__all__ = ["teams_app"]

teams_app = typer.Typer(help="Teams and their membership sources.", no_args_is_help=True)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def _json_file(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        err.print(f"[red]{what} {path}[/]: {exc}", markup=True)
        raise typer.Exit(2) from None
    if not isinstance(value, dict):
        err.print(f"{what} {path}: expected a JSON object", markup=False)
        raise typer.Exit(2)
    return value


def _team(team: PlannedTeam) -> str:
    made = "new team" if team.id is None else team.id
    return f"{team.name}  (managedBy {team.managed_by}; {made})"


UserArgument = Annotated[str, typer.Argument(help="Username of the member.")]
TeamArgument = Annotated[str, typer.Argument(help="Team name (an admin's team, `local`).")]
TeamIdArgument = Annotated[str, typer.Argument(help="Team id, or name.")]


def _json(model: TeamOut | MemberOut) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)


def _resolve(operator: Operator, team: str) -> TeamInfo:
    """The team with this id, else the administrators' team of this name, else the only
    team of this name (exit 1 if none, or several, saying which)."""
    admin = operator.admin.teams
    found = operator.storage.team_admin.get(team) or admin.find_local(team)
    if found is not None:
        return found
    named = operator.storage.bindings.teams_named(team)
    if len(named) > 1:
        ids = ", ".join(t.id for t in named)
        err.print(f"Several teams are named {team!r}; give one id: {ids}.", markup=False)
        raise typer.Exit(1)
    if not named:
        err.print(f"No team {team!r}.", markup=False)
        raise typer.Exit(1)
    return admin.get(named[0].id)


@teams_app.command("list")
def list_teams(
    query: Annotated[str | None, typer.Option("--query", "-q", help="A part of the name.")] = None,
    managed_by: Annotated[
        str | None, typer.Option("--managed-by", help="local, scim:<source>, idp:<connector>.")
    ] = None,
    output: OutputOption = OutputFormat.text,
    config: ConfigOption = None,
) -> None:
    """Teams by name, with the source that manages each and their member count."""
    operator = open_operator(config)
    try:
        teams = all_items(
            lambda page: operator.admin.teams.list(page, q=query, managed_by=managed_by)
        )
    except AdminError as exc:
        admin_error(exc)
    finally:
        operator.storage.db.dispose()
    rows = [_json(TeamOut.of(t)) for t in teams]
    emit_list(rows, output, ("id", "name", "managedBy", "memberCount"), empty="(no teams)")


@teams_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The team's name.")],
    description: Annotated[str | None, typer.Option("--description")] = None,
    output: OutputOption = OutputFormat.text,
    config: ConfigOption = None,
) -> None:
    """Create a team administrators manage (`local`)."""
    operator = open_operator(config)
    try:
        team = operator.admin.teams.create(name, description=description, actor=operator.actor)
    except AdminError as exc:
        admin_error(exc)
    finally:
        operator.storage.db.dispose()
    emit_one(_json(TeamOut.of(team)), output, f"Created team {team.name} ({team.id}).")


@teams_app.command("delete")
def delete(team: TeamIdArgument, config: ConfigOption = None) -> None:
    """Delete a team administrators manage, with its memberships and role bindings (a team
    SCIM or an IdP manages is deleted there)."""
    operator = open_operator(config)
    try:
        found = _resolve(operator, team)
        operator.admin.teams.delete(found.id, actor=operator.actor)
    except AdminError as exc:
        admin_error(exc)
    finally:
        operator.storage.db.dispose()
    out.print(f"Deleted team {found.name} ({found.id}).", markup=False)


@teams_app.command("members")
def members(
    team: TeamIdArgument, output: OutputOption = OutputFormat.text, config: ConfigOption = None
) -> None:
    """A team's members, each with the sources that hold the membership."""
    operator = open_operator(config)
    try:
        found = _resolve(operator, team)
        found_members = all_items(lambda page: operator.admin.teams.members(found.id, page))
    except AdminError as exc:
        admin_error(exc)
    finally:
        operator.storage.db.dispose()
    rows = [_json(MemberOut.of(m)) for m in found_members]
    emit_list(rows, output, ("username", "userId", "sources"), empty="(no members)")


@teams_app.command("add-member")
def add_member(team: TeamArgument, username: UserArgument, config: ConfigOption = None) -> None:
    """Put a user in a team as an administrator (membership source `local`; the team is
    created, managed `local`, unless `teams.<name>.sources` lists `local` for a shared one).
    SCIM and login sources keep their own word: removing this one never removes theirs."""
    operator = open_operator(config)
    admin = operator.admin.teams
    try:
        user = find_user(operator.storage, username)
        found = admin.find_local(team) or admin.create(team, actor=operator.actor)
        admin.add_member(found.id, user.id, actor=operator.actor)
    except AdminError as exc:
        admin_error(exc)
    finally:
        operator.storage.db.dispose()
    out.print(f"{username} is in team {team} ({found.id}) by an administrator.", markup=False)


@teams_app.command("remove-member")
def remove_member(team: TeamArgument, username: UserArgument, config: ConfigOption = None) -> None:
    """Withdraw an administrator's membership (`local`); other sources' words stay."""
    operator = open_operator(config)
    admin = operator.admin.teams
    try:
        user = find_user(operator.storage, username)
        found = admin.find_local(team)
        if found is None:
            err.print(f"No team {team!r} an administrator manages.", markup=False)
            raise typer.Exit(1)
        left = admin.remove_member(found.id, user.id, actor=operator.actor)
    except AdminError as exc:
        admin_error(exc)
    finally:
        operator.storage.db.dispose()
    still = f" (still a member through another source: {', '.join(left.sources)})"
    suffix = still if left.sources else ""
    out.print(f"{username} removed from team {team} by an administrator{suffix}.", markup=False)


@teams_app.command("of")
def teams_of(
    username: UserArgument, output: OutputOption = OutputFormat.text, config: ConfigOption = None
) -> None:
    """A user's teams, with the source that manages each."""
    operator = open_operator(config)
    try:
        user = find_user(operator.storage, username)
        teams = [operator.admin.teams.get(t.id) for t in operator.membership.teams_of(user.id)]
    except AdminError as exc:
        admin_error(exc)
    finally:
        operator.storage.db.dispose()
    rows = [_json(TeamOut.of(t)) for t in teams]
    if output is OutputFormat.json:
        emit_list(rows, output, ())
        return
    for team in teams:
        out.print(f"{team.name}  (managedBy {team.managed_by}; {team.id})", markup=False)


@teams_app.command("dry-run")
def dry_run(
    login: Annotated[
        str | None, typer.Option("--login", help="Connector id of a login to plan.")
    ] = None,
    claims: Annotated[
        Path | None, typer.Option("--claims", help="JSON file: the login's ID token claims.")
    ] = None,
    scim: Annotated[
        str | None, typer.Option("--scim", help="SCIM source (okta, microsoft) of a PATCH.")
    ] = None,
    group: Annotated[str | None, typer.Option("--group", help="The Group id patched.")] = None,
    patch: Annotated[
        Path | None, typer.Option("--patch", help="JSON file: the SCIM PatchOp body.")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Show what a login (--login C --claims FILE) or a SCIM Group PATCH (--scim S --group
    ID --patch FILE) would do to users' teams, writing nothing."""
    if (login is None) == (scim is None):
        err.print("Give either --login with --claims, or --scim with --group and --patch.")
        raise typer.Exit(2)
    operator = open_operator(config)
    settings, storage, engine = operator.settings, operator.storage, operator.membership
    try:
        if login is not None:
            if claims is None:
                err.print("--login needs --claims FILE (the ID token's claims as JSON).")
                raise typer.Exit(2)
            _plan_login(operator, login, _json_file(claims, "claims"))
        else:
            if group is None or patch is None or scim not in ("okta", "microsoft"):
                err.print("--scim okta|microsoft needs --group ID and --patch FILE.")
                raise typer.Exit(2)
            # Here: `serve` imports this module, and scim2-models only when SCIM is used.
            from authbridge.scim.service import ScimService

            service = ScimService(
                storage,
                settings.scim,
                source=scim,
                base_url=f"{settings.server.issuer}/v1/scim/v2/{scim}",
                revocation=operator.revocation,
                membership=engine,
            )
            _plan_patch(operator, service, group, _json_file(patch, "patch"))
    finally:
        storage.db.dispose()


def _plan_login(operator: Operator, connector_id: str, claims: dict[str, Any]) -> None:
    engine = operator.membership
    connectors = build_connectors(operator.settings)
    try:
        connector = connectors.get(connector_id)
        if not isinstance(connector, OidcConnector):
            known = ", ".join(c.id for c in connectors.ordered if isinstance(c, OidcConnector))
            err.print(
                f"No OpenID Connect connector {connector_id!r}; configured: {known or 'none'}."
            )
            raise typer.Exit(2)
        identity = connector.identity(claims, None)
        linker = IdentityLinker(
            operator.storage, operator.settings.authorizer, operator.settings.scim, engine
        )
        user, how = linker.preview(identity, connector.signup)
        out.print(f"login {connector_id} / {identity.subject}: {how}", markup=False)
        if how.startswith("refused"):
            return
        if user is not None:
            out.print(f"account: {user.username} ({user.id})", markup=False)
        plan = engine.plan_login(user.id if user is not None else None, identity)
        _print_plan(plan.after, plan.added, plan.removed)
        bindings = operator.bindings
        if user is not None:
            out.print(f"roles before: {_roles(bindings.effective_roles(user.id))}", markup=False)
        after = bindings.planned_roles(
            user.id if user is not None else None,
            [(t.id, t.name, t.managed_by) for t in plan.after],
        )
        note = "" if user is not None else "  (a new account also gets its default roles)"
        out.print(f"roles after: {_roles(after)}{note}", markup=False)
    finally:
        connectors.close()


def _roles(roles: EffectiveRoles) -> str:
    """The roles on one line: `system: viewer; workspace:ws1: editor`."""
    return "; ".join(role_lines(roles))


def _print_plan(
    after: list[PlannedTeam], added: list[PlannedTeam], removed: list[PlannedTeam]
) -> None:
    for team in added:
        out.print(f"  + {_team(team)}", markup=False)
    for team in removed:
        out.print(f"  - {_team(team)}", markup=False)
    if not added and not removed:
        out.print("  (no change to teams)")
    out.print(f"teams after: {', '.join(t.name for t in after) or 'none'}", markup=False)


def _plan_patch(operator: Operator, service: ScimService, group: str, body: dict[str, Any]) -> None:
    try:
        result = service.groups.patch(group, body, actor="dry-run", dry_run=True)
    except ScimError as exc:
        err.print(f"The PATCH would fail: {exc.status} {exc}", markup=False)
        raise typer.Exit(1) from None
    out.print(f"group {result['displayName']} ({group}), managed as one team:", markup=False)
    for label, key in (("+", "teamMembersAdded"), ("-", "teamMembersRemoved")):
        for user_id in result.get(key, []):
            user = operator.storage.users.get(user_id)
            out.print(f"  {label} {user.username if user else user_id} ({user_id})", markup=False)
    if not result.get("teamMembersAdded") and not result.get("teamMembersRemoved"):
        out.print("  (no member's teams change)")
