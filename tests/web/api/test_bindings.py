"""`/api/v1/bindings`: idempotent grants (200 with the existing binding, 201 when new),
unknown roles and bad scopes as 400 problems naming them, the configuration's bindings
read only, the last administrator kept, and the effective roles tokens carry."""

from __future__ import annotations

from authbridge.directory.roles import CONFIG_ADMINS_ORIGIN
from authbridge.storage.teams import TeamRef
from tests.web.api.conftest import Api, assert_problem

BINDINGS = "/api/v1/bindings"


def test_grant_is_idempotent_and_readable(api: Api) -> None:
    ada = api.user("viewer")
    body = {"role": "editor", "user": ada, "scope": "workspace:w1"}
    created = api.post(BINDINGS, json=body)
    assert created.status_code == 201, created.text
    binding = created.json()
    assert created.headers["location"] == f"{BINDINGS}/{binding['id']}"
    assert binding["origin"] == "api" and binding["readOnly"] is False
    assert binding["user"] == ada and binding["team"] is None
    retried = api.post(BINDINGS, json=body)
    assert retried.status_code == 200 and retried.json() == binding
    assert api.get(f"{BINDINGS}/{binding['id']}").json() == binding

    listed = api.get(BINDINGS, params={"user": ada, "scope": "workspace:w1"}).json()
    assert listed["items"] == [binding] and listed["nextCursor"] is None
    assert api.delete(f"{BINDINGS}/{binding['id']}").status_code == 204
    assert_problem(api.get(f"{BINDINGS}/{binding['id']}"), 404, "not-found")
    assert_problem(api.delete(f"{BINDINGS}/{binding['id']}"), 404, "not-found")


def test_invalid_grants_are_400_problems_naming_the_field(api: Api) -> None:
    ada = api.user("viewer")
    unknown = assert_problem(
        api.post(BINDINGS, json={"role": "deployr", "user": ada}), 400, "invalid-request"
    )
    assert "deployr" in unknown["detail"] and unknown["errors"][0]["field"] == "role"
    scope = assert_problem(
        api.post(BINDINGS, json={"role": "editor", "user": ada, "scope": "ws 1"}),
        400,
        "invalid-request",
    )
    assert scope["errors"][0]["field"] == "scope"
    assert_problem(api.post(BINDINGS, json={"role": "editor"}), 400, "invalid-request")
    both = {"role": "editor", "user": ada, "team": "t"}
    assert_problem(api.post(BINDINGS, json=both), 400, "invalid-request")
    assert_problem(api.post(BINDINGS, json={"role": "editor", "user": "x"}), 400)
    # Binding ids are integers: any other segment names no binding.
    assert_problem(api.get(f"{BINDINGS}/abc"), 404, "not-found")


def test_team_grant_reaches_members_effective_roles(api: Api) -> None:
    ada = api.user("viewer")
    team = api.ready.storage.teams.add_member(TeamRef.own("idp:okta", "Eng"), ada, "idp:okta")
    granted = api.post(BINDINGS, json={"role": "editor", "team": team, "scope": "workspace:w1"})
    assert granted.status_code == 201 and granted.json()["teamName"] == "Eng"
    effective = api.get(f"{BINDINGS}/effective", params={"user": ada})
    assert effective.status_code == 200, effective.text
    document = effective.json()
    assert document == api.ready.bindings.document(ada)
    assert document["authbridge_scoped_roles"] == {"workspace:w1": ["editor"]}
    assert document["groups"] == ["Eng"]
    assert_problem(api.get(f"{BINDINGS}/effective", params={"user": "nobody"}), 404)
    assert_problem(api.get(f"{BINDINGS}/effective"), 400, "invalid-request")


def test_configuration_bindings_are_read_only(api: Api) -> None:
    boss = api.user("viewer")
    api.ready.storage.bindings.add("admin", user_id=boss, origin=CONFIG_ADMINS_ORIGIN)
    [row] = api.get(BINDINGS, params={"origin": CONFIG_ADMINS_ORIGIN}).json()["items"]
    assert row["readOnly"] is True
    body = assert_problem(api.delete(f"{BINDINGS}/{row['id']}"), 409, "read-only")
    assert body["managedBy"] == CONFIG_ADMINS_ORIGIN and "configuration" in body["detail"]


def test_the_last_active_admin_keeps_admin(api: Api) -> None:
    api.token("admin")  # the caller: a user holding admin by a binding of their own
    [mine] = api.get(BINDINGS, params={"role": "admin", "scope": "system"}).json()["items"]
    assert_problem(api.delete(f"{BINDINGS}/{mine['id']}"), 403, "forbidden")
    other = api.user("admin")
    assert api.delete(f"{BINDINGS}/{mine['id']}").status_code == 204
    # The revocation holds at once: the caller's next request is refused.
    assert_problem(api.get(BINDINGS), 403, "forbidden")
    headers = {"authorization": f"Bearer {api.token_of(other)}"}
    [theirs] = api.get(BINDINGS, params={"role": "admin"}, role=None, headers=headers).json()[
        "items"
    ]
    assert theirs["user"] == other
