"""The membership engine (issue 12 part 3): SCIM groups, login groups and admins' teams under
one rule, replayed from Okta's payloads, on every backend.

`test_a_scim_group_named_like_a_login_team_is_its_own_team` failed on main: Okta's Group
Push of "Engineering" got a 409 forever once a login had made a team of that name.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authbridge.config.model import AuthorizerSettings, ScimSettings, TeamSettings
from authbridge.connectors.base import SignupPolicy
from authbridge.connectors.identity import Identity
from authbridge.directory.identities import IdentityLinker
from authbridge.directory.membership import MembershipEngine
from authbridge.scim.service import ListQuery, ScimService
from authbridge.storage import Storage
from authbridge.storage.models import TeamMember, TeamMemberSource
from tests.directory.vendor import login, payload
from tests.wiring import revocation_for

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SHARED = {"Engineering": TeamSettings(sources=["scim:okta", "idp:okta"])}


def okta_scim(storage: Storage, engine: MembershipEngine) -> ScimService:
    return ScimService(
        storage,
        ScimSettings(),
        source="okta",
        base_url="http://t/v1/scim/v2/okta",
        revocation=revocation_for(storage),
        membership=engine,
    )


def sign_in(storage: Storage, engine: MembershipEngine, identity: Identity) -> str:
    linker = IdentityLinker(storage, AuthorizerSettings(), ScimSettings(), engine)
    return linker.sign_in(identity, SignupPolicy()).id


def members(scim: ScimService, group_id: str) -> set[str]:
    return {m["value"] for m in scim.get_group(group_id).get("members", [])}


def replace_members(scim: ScimService, group_id: str, ids: list[str]) -> None:
    scim.patch_group(
        group_id,
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "replace", "path": "members", "value": [{"value": i} for i in ids]}
            ],
        },
        actor="okta",
    )


def test_a_scim_group_named_like_a_login_team_is_its_own_team(storage: Storage) -> None:
    engine = MembershipEngine(storage)
    scim = okta_scim(storage, engine)
    user = scim.create_user(payload("okta", "scim_user"), actor="okta")["id"]
    assert sign_in(storage, engine, login("okta")) == user
    login_team = {t.name: t for t in engine.teams_of(user)}["Engineering"]
    assert login_team.managed_by == "idp:okta"
    # Okta Group Push of the same name: created (201), not a 409 retried forever.
    group = scim.create_group(
        {**payload("okta", "scim_group"), "members": [{"value": user}]}, actor="okta"
    )
    assert group["id"] != login_team.id
    teams = {(t.name, t.managed_by): t.id for t in engine.teams_of(user)}
    assert teams[("Engineering", "scim:okta")] == group["id"]
    assert teams[("Engineering", "idp:okta")] == login_team.id
    # A later login without the group leaves the SCIM team alone, and the reverse.
    sign_in(storage, engine, _with_groups(login("okta"), []))
    assert [(t.name, t.managed_by) for t in engine.teams_of(user)] == [("Engineering", "scim:okta")]
    replace_members(scim, group["id"], [])
    assert engine.teams_of(user) == []


def _with_groups(identity: Identity, groups: list[str]) -> Identity:
    return Identity(**{**identity.__dict__, "groups": tuple(groups)})


def test_configured_sources_make_one_team_holding_the_union(storage: Storage) -> None:
    engine = MembershipEngine(storage, SHARED)
    scim = okta_scim(storage, engine)
    ada = scim.create_user(payload("okta", "scim_user"), actor="okta")["id"]
    bob = scim.create_user(
        {**payload("okta", "scim_user"), "userName": "bob@okta.local", "externalId": "00ubob"},
        actor="okta",
    )["id"]
    # The login comes first and makes the team, owned by the first configured source ...
    sign_in(storage, engine, login("okta"))
    (team,) = [t for t in engine.teams_of(ada) if t.name == "Engineering"]
    assert team.managed_by == "scim:okta"
    # ... and Okta's Group Push of that name joins it: one id.
    group = scim.create_group(
        {**payload("okta", "scim_group"), "members": [{"value": bob}]}, actor="okta"
    )
    assert group["id"] == team.id
    assert {t.id for t in engine.teams_of(bob)} == {team.id}
    # The group shows what SCIM pushed; the team holds both sources' members.
    assert members(scim, team.id) == {bob}
    replace_members(scim, team.id, [ada])  # SCIM now says ada, not bob
    assert team.id in {t.id for t in engine.teams_of(ada)}
    assert engine.teams_of(bob) == []
    replace_members(scim, team.id, [])  # SCIM drops ada; her login still says Engineering
    assert team.id in {t.id for t in engine.teams_of(ada)}
    # Entra's membership check by filter sees what SCIM pushed, not the login's word:
    # otherwise it would never push ada, and her next login without the group drops her.
    check = f'id eq "{team.id}" and members[value eq "{ada}"]'
    assert scim.list_groups(ListQuery(filter=check)).total == 0
    assert "groups" not in scim.get_user(ada)  # nor does her User show the group
    sign_in(storage, engine, _with_groups(login("okta"), []))
    assert team.id not in {t.id for t in engine.teams_of(ada)}


def test_deleting_a_group_that_only_feeds_a_team_keeps_the_team(storage: Storage) -> None:
    engine = MembershipEngine(
        storage,
        {"Engineering": TeamSettings(sources=["scim:okta", "idp:okta"], managed_by="idp:okta")},
    )
    scim = okta_scim(storage, engine)
    ada = scim.create_user(payload("okta", "scim_user"), actor="okta")["id"]
    group = scim.create_group(
        {**payload("okta", "scim_group"), "members": [{"value": ada}]}, actor="okta"
    )
    sign_in(storage, engine, login("okta"))
    scim.delete_group(group["id"], actor="okta")
    # The login's owner keeps the team and ada's membership from her login.
    assert [(t.id, t.managed_by) for t in engine.teams_of(ada) if t.name == "Engineering"] == [
        (group["id"], "idp:okta")
    ]


def test_local_membership_is_a_source_of_its_own(storage: Storage) -> None:
    engine = MembershipEngine(storage, {"Engineering": TeamSettings(sources=["idp:okta", "local"])})
    uid = sign_in(storage, engine, login("okta"))
    team = engine.add_local("Engineering", uid)
    assert team in {t.id for t in engine.teams_of(uid)}
    sign_in(storage, engine, _with_groups(login("okta"), []))
    assert team in {t.id for t in engine.teams_of(uid)}  # the admin's word stays
    engine.remove_local(team, uid)
    assert team not in {t.id for t in engine.teams_of(uid)}


def test_plan_login_shows_the_change_and_writes_nothing(storage: Storage) -> None:
    engine = MembershipEngine(storage, SHARED)
    uid = sign_in(storage, engine, _with_groups(login("okta"), ["Everyone"]))
    before = engine.teams_of(uid)
    plan = engine.plan_login(uid, login("okta"))
    assert [(t.name, t.managed_by, t.id) for t in plan.added] == [
        ("Engineering", "scim:okta", None)  # would be created, owned as configured
    ]
    assert plan.removed == []
    assert engine.teams_of(uid) == before
    assert storage.teams.find(engine.ref("idp:okta", "Engineering")) is None
    gone = engine.plan_login(uid, _with_groups(login("okta"), []))
    assert [t.name for t in gone.removed] == ["Everyone"]


# -- property: interleavings of sources give what each source's own order gives ----------

TEAMS = ("Engineering", "Data", "Ops")
Op = tuple[str, Any, Any]


def _ops() -> st.SearchStrategy[list[Op]]:
    users = st.integers(0, 2)
    groups = st.sampled_from(TEAMS[:2])  # SCIM pushes Engineering (shared) and Data
    names = st.sets(st.sampled_from(TEAMS), max_size=3)
    scim = st.tuples(st.just("scim"), groups, st.sets(users, max_size=3))
    logins = st.tuples(st.just("login"), users, names)
    local = st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from(TEAMS), users)
    return st.lists(st.one_of(scim, logins, local), max_size=12)


class World:
    """Three provisioned users and Okta's two groups, under fresh names per example (one
    database serves every example: nothing is shared between two worlds)."""

    def __init__(self, storage: Storage) -> None:
        self.tag = uuid.uuid4().hex[:8]
        teams = {self.team("Engineering"): TeamSettings(sources=["scim:okta", "idp:okta", "local"])}
        self.engine = MembershipEngine(storage, teams)
        self.scim = okta_scim(storage, self.engine)
        self.storage = storage
        self.users = [
            self.scim.create_user(
                {
                    "schemas": payload("okta", "scim_user")["schemas"],
                    "userName": f"{self.tag}-{i}@x",
                },
                actor="okta",
            )["id"]
            for i in range(3)
        ]
        self.groups: dict[str, str] = {}

    def team(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def apply(self, op: Op) -> None:
        kind, a, b = op
        if kind == "scim":
            if a not in self.groups:
                body = {
                    "schemas": payload("okta", "scim_group")["schemas"],
                    "displayName": self.team(a),
                }
                self.groups[a] = self.scim.create_group(body, actor="okta")["id"]
            replace_members(self.scim, self.groups[a], [self.users[i] for i in sorted(b)])
        elif kind == "login":
            identity = Identity(
                connector_id="okta",
                subject=f"{self.tag}-{a}",
                username=f"{self.tag}-{a}",
                groups=tuple(self.team(n) for n in sorted(b)),
            )
            self.engine.apply_login(self.users[a], identity)
        elif kind == "add":
            self.engine.add_local(self.team(a), self.users[b])
        else:
            for team in self.engine.teams_of(self.users[b]):
                if team.name == self.team(a):
                    self.engine.remove_local(team.id, self.users[b])

    def memberships(self) -> list[set[tuple[str, str]]]:
        return [
            {(t.name.removesuffix(f"-{self.tag}"), t.managed_by) for t in self.engine.teams_of(u)}
            for u in self.users
        ]


def _source(op: Op) -> str:
    return {"scim": "scim", "login": f"login{op[1]}"}.get(op[0], "local")


def _materialized_is_the_union(storage: Storage) -> None:
    with storage.db.session() as session:
        words = {(r.team_id, r.user_id) for r in session.query(TeamMemberSource)}
        rows = {(r.team_id, r.user_id) for r in session.query(TeamMember)}
    assert rows == words


@pytest.fixture
def shared_storage(storage: Storage) -> Storage:
    return storage


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=_ops(), data=st.data())
def test_any_interleaving_of_sources_gives_the_per_source_result(
    shared_storage: Storage, ops: list[Op], data: st.DataObject
) -> None:
    # A random interleaving that keeps each source's own order ...
    by_source: dict[str, list[Op]] = {}
    for op in ops:
        by_source.setdefault(_source(op), []).append(op)
    queues = {s: list(q) for s, q in by_source.items()}
    interleaved: list[Op] = []
    while queues:
        source = data.draw(st.sampled_from(sorted(queues)))
        interleaved.append(queues[source].pop(0))
        if not queues[source]:
            del queues[source]
    # ... against each source applied on its own, one source after the other.
    sequential = list(itertools.chain.from_iterable(by_source[s] for s in sorted(by_source)))
    mixed, ordered = World(shared_storage), World(shared_storage)
    for op in interleaved:
        mixed.apply(op)
    for op in sequential:
        ordered.apply(op)
    assert mixed.memberships() == ordered.memberships()
    _materialized_is_the_union(shared_storage)
