"""Roles, bindings and effective roles (scopes, team templates from every source), and
initialAdmins and principalDomain after OpenMetadata's authorizer."""

from __future__ import annotations

import pytest

from authbridge.config.model import (
    AuthorizerSettings,
    RoleSettings,
    ScimSettings,
    ScimTeamRoleRule,
    Settings,
)
from authbridge.directory.roles import (
    CONFIG_ADMINS_ORIGIN,
    InvalidScope,
    RoleBindings,
    RoleCatalog,
    RoleResolver,
    UnknownRole,
    domain_allowed,
    is_initial_admin,
)
from authbridge.storage import Storage
from authbridge.storage.bindings import Grants, TeamRef
from authbridge.storage.models import Team, TeamMember, User
from authbridge.storage.scim_models import ScimGroup

OM = AuthorizerSettings(
    initial_admins=["admin", "user1", "boss@corp.example"], principal_domain="open-metadata.org"
)


def test_local_part_entries_match_within_principal_domain_only() -> None:
    assert is_initial_admin("admin@open-metadata.org", "admin@open-metadata.org", OM)
    assert not is_initial_admin("admin@evil.example", "admin@evil.example", OM)
    assert not is_initial_admin("administrator@open-metadata.org", None, OM)


def test_full_email_entries_match_exactly_case_insensitively() -> None:
    assert is_initial_admin("x", "Boss@Corp.Example", OM)
    assert not is_initial_admin("x", "boss@corp.example.evil", OM)


def test_principal_domain() -> None:
    assert domain_allowed("john.doe@Open-Metadata.org", OM)
    assert not domain_allowed("john.doe@open-metadata.org.evil.example", OM)
    assert not domain_allowed(None, OM)
    assert domain_allowed("anyone@anywhere.example", AuthorizerSettings())


# Roles, bindings and effective roles ---------------------------------------------------

SETTINGS = Settings(
    roles={"deployer": RoleSettings(description="Deploys", permissions=["deployments.create"])},
    scim=ScimSettings(
        team_roles=[
            ScimTeamRoleRule(match="platform-admins", roles=["admin"]),
            ScimTeamRoleRule(match="ws-*", roles=["editor"], scope="workspace:{displayName}"),
            ScimTeamRoleRule(match="deploy*", roles=["deployer"], scope="deployment:{externalId}"),
        ]
    ),
)


def _team(
    storage: Storage, team_id: str, name: str, source: str, member: str, external: str | None
) -> None:
    """A team as each source makes it: SCIM (with a scim_groups row), an IdP login's
    connector, or an admin (`local`)."""
    with storage.db.session() as session:
        session.add(Team(id=team_id, name=name, name_key=name.casefold(), source=source))
        session.flush()
        session.add(TeamMember(team_id=team_id, user_id=member))
        if source.startswith("scim:"):
            session.add(
                ScimGroup(team_id=team_id, source=source[5:], external_id=external, attributes={})
            )


def test_builtin_roles_and_configured_roles_form_one_catalog() -> None:
    catalog = RoleCatalog.from_settings(SETTINGS)
    assert [r.name for r in catalog.all()] == ["admin", "editor", "viewer", "deployer"]
    assert catalog.get("viewer").permissions < catalog.get("editor").permissions
    assert catalog.get("editor").permissions < catalog.get("admin").permissions
    assert catalog.get("deployer").permissions == {"deployments.create"}
    with pytest.raises(UnknownRole, match="did you mean editor"):
        catalog.get("editr")


def test_unknown_template_roles_are_refused_never_created() -> None:
    bad = Settings(scim=ScimSettings(team_roles=[ScimTeamRoleRule(match="x", roles=["god"])]))
    with pytest.raises(ValueError, match=r"scim\.teamRoles\.0\.roles\.0: unknown role 'god'"):
        RoleResolver.from_settings(bad)


def test_templates_apply_to_teams_from_every_source_with_their_scope(storage: Storage) -> None:
    """A SCIM team, a team from IdP login claims and an admin's team: the templates give
    each its roles at the scope filled from the team."""
    ada = storage.users.create(username="ada", roles=["viewer"])
    _team(storage, "t-scim", "Platform-Admins", "scim:okta", ada.id, "00g1")
    _team(storage, "t-login", "ws-analytics", "okta", ada.id, None)
    _team(storage, "t-local", "deployers", "local", ada.id, None)  # no externalId: no scope
    _team(storage, "t-scim2", "deploy-etl", "scim:microsoft", ada.id, "dep-42")
    roles = RoleBindings(storage, RoleResolver.from_settings(SETTINGS)).effective_roles(ada.id)
    assert roles.system == {"admin", "viewer"}
    assert roles.scoped == {
        "deployment:dep-42": {"deployer"},
        "workspace:ws-analytics": {"editor"},
    }
    assert roles.teams == ("deploy-etl", "deployers", "Platform-Admins", "ws-analytics")


def test_team_bindings_apply_to_members_whatever_made_the_team(storage: Storage) -> None:
    ada = storage.users.create(username="ada", roles=[])
    service = RoleBindings(storage, RoleResolver.from_settings(SETTINGS))
    for team_id, source in (("a", "scim:okta"), ("b", "github"), ("c", "local")):
        _team(storage, team_id, f"team-{team_id}", source, ada.id, f"ext-{team_id}")
        service.grant("viewer", team_id=team_id, scope=f"workspace:{team_id}", origin="cli")
    assert service.effective_roles(ada.id).scoped == {
        "workspace:a": {"viewer"},
        "workspace:b": {"viewer"},
        "workspace:c": {"viewer"},
    }


def test_a_scope_filled_with_a_value_outside_the_pattern_binds_nothing() -> None:
    resolver = RoleResolver.from_settings(SETTINGS)
    spaced = Grants(teams=(TeamRef("t", "ws-data team"),))
    assert resolver.effective(spaced).scoped == {}


def test_system_roles_hold_at_every_scope_and_are_not_repeated() -> None:
    resolver = RoleResolver.builtin()
    grants = Grants(bindings=(("editor", "system"), ("editor", "workspace:a"), ("x", "system")))
    roles = resolver.effective(grants)
    assert roles.system == {"editor"} and roles.scoped == {}  # `x` is no role: nothing
    assert roles.at("workspace:zzz") == {"editor"}


def test_grant_checks_role_and_scope_and_revoke_undoes_it(storage: Storage) -> None:
    ada = storage.users.create(username="ada", roles=[])
    service = RoleBindings(storage, RoleResolver.from_settings(SETTINGS))
    with pytest.raises(UnknownRole):
        service.grant("god", user_id=ada.id, origin="cli")
    for bad in ("workspace", "workspace:", "Workspace:a", "workspace:a b", 'ws:"x"', "sys"):
        with pytest.raises(InvalidScope):
            service.grant("viewer", user_id=ada.id, scope=bad, origin="cli")
    assert storage.bindings.count() == 0
    assert service.grant("deployer", user_id=ada.id, scope="deployment:d1", origin="cli")
    assert service.allows(ada.id, "deployments.create", "deployment:d1")
    assert not service.allows(ada.id, "deployments.create", "deployment:d2")
    assert service.revoke("deployer", user_id=ada.id, scope="deployment:d1")
    assert service.effective_roles(ada.id).scoped == {}


def test_initial_admins_are_bindings_made_at_start_up_for_verified_emails(
    storage: Storage,
) -> None:
    verified = storage.users.create(
        username="boss", email="boss@corp.example", email_verified=True, roles=["viewer"]
    )
    local = storage.users.create(
        username="admin@open-metadata.org", email="admin@open-metadata.org"
    )
    other = storage.users.create(
        username="admin2", email="admin@open-metadata.org.evil", email_verified=True
    )
    service = RoleBindings(storage, RoleResolver.builtin())
    assert service.sync_config_admins(OM) == (1, 0)
    admins = service.find(role="admin")
    assert [(r.user_id, r.origin) for r in admins] == [(verified.id, CONFIG_ADMINS_ORIGIN)]
    assert "admin" not in service.effective_roles(local.id).system  # unverified address
    assert "admin" not in service.effective_roles(other.id).system
    # Removed from the configuration: removed at the next start.
    assert service.sync_config_admins(AuthorizerSettings()) == (0, 1)
    assert service.effective_roles(verified.id).system == {"viewer"}


def _pushed_over_scim(
    storage: Storage, settings: Settings, group: str, external_id: str | None = None
) -> str:
    """A user Okta's SCIM pushed, in a Group it pushed (the real SCIM service)."""
    from tests.wiring import scim_service

    scim = scim_service(storage, settings.scim, source="okta", base_url="http://t/scim")
    pushed = scim.create_user(
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bo@x.example"},
        actor="okta",
    )["id"]
    body: dict[str, object] = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": group,
        "members": [{"value": pushed}],
    }
    if external_id is not None:
        body["externalId"] = external_id
    scim.create_group(body, actor="okta")
    return str(pushed)


def _signed_in_with_groups(storage: Storage, username: str, *groups: str) -> User:
    """A first GitHub login whose claims name `groups` (the real identity linker)."""
    from authbridge.connectors.base import SignupPolicy
    from authbridge.connectors.identity import Identity
    from authbridge.directory.identities import IdentityLinker

    login = Identity(
        connector_id="github",
        subject=f"gh-{username}",
        username=username,
        email=f"{username}@x.example",
        email_verified=True,
        groups=groups,
    )
    return IdentityLinker(storage, AuthorizerSettings()).sign_in(login, SignupPolicy())


def test_templates_and_team_bindings_reach_teams_made_by_scim_and_by_logins(
    storage: Storage,
) -> None:
    """The real paths: a Group pushed over SCIM, and groups claimed at an IdP login (a team
    from login claims had no role at all before role bindings)."""
    pushed = _pushed_over_scim(storage, SETTINGS, "deploy-etl", external_id="dep-9")
    cy = _signed_in_with_groups(storage, "cy", "ws-analytics", "readers")
    service = RoleBindings(storage, RoleResolver.from_settings(SETTINGS))
    readers = storage.bindings.teams_named("readers")[0]
    service.grant("deployer", team_id=readers.id, scope="deployment:d1", origin="cli")

    assert service.effective_roles(pushed).scoped == {"deployment:dep-9": {"deployer"}}
    assert service.effective_roles(cy.id).scoped == {
        "deployment:d1": {"deployer"},
        "workspace:ws-analytics": {"editor"},
    }


def test_a_template_limited_to_sources_ignores_teams_others_manage(storage: Storage) -> None:
    """Where users can create groups at an IdP, a login's group named like a template's
    pattern must not give them its roles: `sources` limits the rule to the teams those
    sources manage (a SCIM group of the same name is another team, managed by SCIM)."""
    limited = Settings(
        scim=ScimSettings(
            team_roles=[
                ScimTeamRoleRule(
                    match="ws-*",
                    roles=["editor"],
                    scope="workspace:{displayName}",
                    sources=["scim:okta"],
                )
            ]
        )
    )
    pushed = _pushed_over_scim(storage, limited, "ws-prod")
    eve = _signed_in_with_groups(storage, "eve", "ws-prod")  # a group eve made herself
    service = RoleBindings(storage, RoleResolver.from_settings(limited))
    assert service.effective_roles(pushed).scoped == {"workspace:ws-prod": {"editor"}}
    assert service.effective_roles(eve.id).scoped == {}


def test_a_template_source_must_be_a_membership_source() -> None:
    with pytest.raises(ValueError, match="scim:oktaa"):
        ScimTeamRoleRule(match="x", roles=["viewer"], sources=["scim:oktaa"])
