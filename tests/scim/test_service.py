"""Users and Groups through the service: queries (RFC 7644 §3.4.2), ETags (§3.14), the
team→role template, the audit trail, and nothing half-done on a failed write."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from authbridge.config.model import RoleSettings, ScimSettings, ScimTeamRoleRule, Settings
from authbridge.scim.errors import Conflict, InvalidValue, NotFound, PreconditionFailed
from authbridge.scim.service import ListQuery, ScimService
from authbridge.storage import Storage
from authbridge.storage.scim import audit
from tests.wiring import scim_service, system_roles

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
RULES = [
    ScimTeamRoleRule(match="platform-admins", roles=["admin"]),
    ScimTeamRoleRule(match="data-*", roles=["editor", "airflow-deployer"]),
]


SETTINGS = Settings(
    roles={"airflow-deployer": RoleSettings(permissions=["deployments.create"])},
    scim=ScimSettings(team_roles=RULES),
)


@pytest.fixture
def service(storage: Storage) -> ScimService:
    return scim_service(storage, SETTINGS.scim, source="okta", base_url="http://t/v1/scim/v2/okta")


def _user(service: ScimService, username: str, **extra: object) -> str:
    body = {"schemas": [USER], "userName": username, **extra}
    return str(service.create_user(body, actor="okta:test")["id"])


def _ids(page_resources: list[dict[str, object]]) -> list[object]:
    return [r["userName"] for r in page_resources]


def test_filters_cover_the_grammar(service: ScimService) -> None:
    _user(
        service,
        "Alice@Example.com",
        name={"givenName": "Alice", "familyName": "Liddell"},
        emails=[{"value": "alice@example.com", "type": "work"}],
        externalId="a1",
        displayName="Alice L",
    )
    _user(service, "bob@example.org", name={"givenName": "Bob"}, active=False, externalId="b2")
    _user(service, "carol@example.com", title="CTO")

    def names(expression: str) -> list[object]:
        return sorted(_ids(service.list_users(ListQuery(filter=expression)).resources))

    assert names('userName eq "ALICE@example.COM"') == ["Alice@Example.com"]  # caseExact=false
    assert names('userName ne "alice@example.com"') == ["bob@example.org", "carol@example.com"]
    assert names('userName co "EXAMPLE.COM"') == ["Alice@Example.com", "carol@example.com"]
    assert names('userName sw "b"') == ["bob@example.org"]
    assert names('userName ew ".org"') == ["bob@example.org"]
    assert names('externalId eq "A1"') == []  # externalId is caseExact
    assert names("name.givenName pr") == ["Alice@Example.com", "bob@example.org"]
    assert names('userName gt "b" and userName lt "c"') == ["bob@example.org"]
    assert names('userName ge "carol@example.com" or userName le "alice@example.com"') == [
        "Alice@Example.com",
        "carol@example.com",
    ]
    assert names("active eq false") == ["bob@example.org"]
    assert names("not (active eq false)") == ["Alice@Example.com", "carol@example.com"]
    assert names('emails[value co "alice" and value ew ".com"]') == ["Alice@Example.com"]
    assert names('emails.value eq "ALICE@example.com"') == ["Alice@Example.com"]
    assert names('(userName sw "a" or userName sw "b") and not (externalId eq "b2")') == [
        "Alice@Example.com"
    ]
    assert names('meta.created gt "2000-01-01T00:00:00Z"') == names("userName pr")
    assert names('userName co "%" or userName co "_"') == []  # LIKE wildcards are escaped


def test_sorting_and_pagination_are_stable(service: ScimService) -> None:
    for i in range(7):
        _user(service, f"user{6 - i}@example.com")
    query = ListQuery(sort_by="userName", count=3)
    pages = [
        service.list_users(ListQuery(sort_by="userName", count=3, start_index=s)) for s in (1, 4, 7)
    ]
    assert [p.total for p in pages] == [7, 7, 7]
    assert [len(p.resources) for p in pages] == [3, 3, 1]
    seen = [n for p in pages for n in _ids(p.resources)]
    assert seen == sorted(seen) and len(set(seen)) == 7
    down = service.list_users(ListQuery(sort_by="userName", descending=True, count=1))
    assert _ids(down.resources) == ["user6@example.com"]
    assert service.list_users(ListQuery(count=0)).resources == [] and query.count == 3
    with pytest.raises(InvalidValue):
        service.list_users(ListQuery(sort_by="members"))


def test_if_match_protects_against_lost_updates(service: ScimService) -> None:
    uid = _user(service, "dave@example.com")
    first = service.get_user(uid)["meta"]["version"]
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "x"}]}
    second = service.patch_user(uid, body, actor="t", if_match=first)["meta"]["version"]
    assert second != first
    with pytest.raises(PreconditionFailed):
        service.patch_user(uid, body, actor="t", if_match=first)
    with pytest.raises(PreconditionFailed):
        service.delete_user(uid, actor="t", if_match=first)
    service.delete_user(uid, actor="t", if_match=second)
    with pytest.raises(NotFound):
        service.get_user(uid)


def test_team_roles_template_grants_roles_through_membership(
    service: ScimService, storage: Storage
) -> None:
    uid = _user(service, "erin@example.com")
    assert system_roles(storage, uid, SETTINGS) == ["viewer"]  # roles before any login
    group = service.create_group(
        {"schemas": [GROUP], "displayName": "Data-Engineers", "members": [{"value": uid}]},
        actor="t",
    )["id"]
    assert system_roles(storage, uid, SETTINGS) == ["airflow-deployer", "editor", "viewer"]
    rename = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "displayName", "value": "platform-admins"}],
    }
    service.patch_group(group, rename, actor="t")
    assert system_roles(storage, uid, SETTINGS) == ["admin", "viewer"]
    leave = {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]}
    service.patch_group(group, leave, actor="t")
    assert system_roles(storage, uid, SETTINGS) == ["viewer"]
    assert storage.users.teams(uid) == []


def test_every_change_is_audited_with_before_and_after(
    service: ScimService, storage: Storage
) -> None:
    uid = _user(service, "frank@example.com")
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": False}]}
    service.patch_user(uid, body, actor="okta:provisioner")
    service.delete_user(uid, actor="okta:provisioner")
    trail = audit.trail(storage, uid)
    # The trail is the audit log's: one event per change, the source as the actor.
    assert [(r.type, r.actor_id, r.actor_name, r.target_type) for r in trail] == [
        ("scim.user.created", "okta", "okta:test", "user"),
        ("scim.user.patched", "okta", "okta:provisioner", "user"),
        ("scim.user.deleted", "okta", "okta:provisioner", "user"),
    ]
    assert trail[0].details["before"] is None and trail[2].details["after"] is None
    assert trail[1].details["before"].get("active") in (None, True)
    assert trail[1].details["after"]["active"] is False
    assert "password" not in str(trail[0].details)


def test_a_failed_write_changes_nothing(service: ScimService, storage: Storage) -> None:
    uid = _user(service, "gina@example.com")
    group = service.create_group({"schemas": [GROUP], "displayName": "g"}, actor="t")["id"]
    body = {
        "schemas": [PATCH],
        "Operations": [
            {"op": "add", "path": "members", "value": [{"value": uid}]},
            {"op": "replace", "path": "displayName", "value": ""},  # refused inside the write
        ],
    }
    with pytest.raises(InvalidValue):
        service.patch_group(group, body, actor="t")
    after = service.get_group(group)
    assert after["displayName"] == "g" and "members" not in after
    assert after["meta"]["version"] == 'W/"1"'
    assert [r.type for r in audit.trail(storage, group)] == ["scim.group.created"]
    with pytest.raises(InvalidValue):
        service.create_user({"schemas": [USER], "userName": ""}, actor="t")
    assert storage.users.count() == 1


def test_a_create_that_clashes_names_the_taken_attribute_and_writes_nothing(
    service: ScimService, storage: Storage
) -> None:
    # RFC 7644 §3.3: 409 with scimType "uniqueness" when a unique attribute is taken.
    first = _user(service, "hana@example.com", externalId="h1")
    with pytest.raises(Conflict, match=r"userName 'HANA@example\.com' is already") as clash:
        _user(service, "HANA@example.com", externalId="h2")  # userName is caseExact=false
    assert clash.value.scim_type == "uniqueness"
    with pytest.raises(Conflict, match="externalId 'h1' is already"):
        _user(service, "other@example.com", externalId="h1")
    other_source = scim_service(
        storage, ScimSettings(), source="microsoft", base_url="http://t/v1/scim/v2/microsoft"
    )
    other_source.create_user(  # externalId is unique per source only
        {"schemas": [USER], "userName": "third@example.com", "externalId": "h1"}, actor="t"
    )
    assert storage.users.count() == 2
    assert [r.type for r in audit.trail(storage, first)] == ["scim.user.created"]
    assert service.list_users(ListQuery(filter='externalId eq "h2"')).total == 0
    assert service.list_users(ListQuery(filter='emails pr or userName sw "other"')).total == 0


def test_adding_members_is_idempotent_and_skips_strangers(
    service: ScimService, storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    # RFC 7644 §3.5.2.1: adding a value already present changes nothing (no error).
    ids = [_user(service, f"m{i}@example.com") for i in range(3)]
    group = service.create_group({"schemas": [GROUP], "displayName": "m"}, actor="t")["id"]

    def add(values: list[str]) -> dict[str, object]:
        op = {"op": "add", "path": "members", "value": [{"value": v} for v in values]}
        return service.patch_group(group, {"schemas": [PATCH], "Operations": [op]}, actor="t")

    add(ids[:2])
    add([ids[1], ids[2], ids[2]])  # one already a member, one given twice
    members = service.get_group(group)["members"]
    assert sorted(m["value"] for m in members) == sorted(ids)
    # An unknown id is skipped, the rest applied, and the skip recorded (audit row, log):
    # a 400 would be retried by the IdP until it quarantines the whole provisioning job.
    stranger = "4f1c2d9e-0000-4000-8000-000000000000"
    fourth = _user(service, "m3@example.com")
    with capture_logs() as logs:
        add([ids[0], stranger, fourth])
    assert sorted(m["value"] for m in service.get_group(group)["members"]) == sorted([*ids, fourth])
    row = audit.trail(storage, group)[-1].details["after"]
    assert row is not None
    assert row["membersSkipped"] == [stranger]
    assert row["membersAdded"] == [ids[0], fourth]
    assert row["warnings"]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["scim_members_skipped"]
    # The same for a PUT's member list and a create's.
    replace = {"schemas": [GROUP], "displayName": "m", "members": [{"value": stranger}]}
    assert "members" not in service.replace_group(group, replace, actor="t")
    assert audit.trail(storage, group)[-1].details["after"]["membersSkipped"] == [stranger]
    other = service.create_group(
        {
            "schemas": [GROUP],
            "displayName": "n",
            "members": [{"value": stranger}, {"value": fourth}],
        },
        actor="t",
    )
    assert [m["value"] for m in other["members"]] == [fourth]


def test_password_is_never_stored(service: ScimService, storage: Storage) -> None:
    uid = _user(service, "hank@example.com", password="Sup3r-secret!")
    assert "password" not in service.get_user(uid)
    assert storage.users.get(uid).password_hash is None  # type: ignore[union-attr]
