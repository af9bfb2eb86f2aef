"""`/api/v1/scim/sources`: sources, their credentials, a new credential's secret answered
once, retirement (now, after a grace, refused for the last active one unless forced),
problems for unknown sources and credentials, and an audit event per write without the
secret."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from authbridge.audit.events import AuditEvent
from authbridge.web.app import create_app
from tests.conftest import make_settings, started_clients
from tests.scim.conftest import BASIC, SCIM_ENV
from tests.web.api.conftest import Api, assert_problem

BASE = "/api/v1/scim/sources"


class Recorder:
    def __init__(self) -> None:
        self.events: list[AuditEvent] = []

    def record(self, event: AuditEvent) -> None:
        self.events.append(event)


@pytest.fixture
def api(sqlite_url: str) -> Iterator[Api]:
    with started_clients() as start:
        yield Api(start(create_app(make_settings(sqlite_url, **SCIM_ENV))))


@pytest.fixture
def audit(api: Api) -> Recorder:
    recorder = Recorder()
    api.ready.admin.scim_credentials._audit = recorder  # type: ignore[attr-defined]
    return recorder


def test_sources_list_each_source_with_its_credentials(api: Api) -> None:
    response = api.get(BASE)
    assert response.status_code == 200
    items = {s["source"]: s for s in response.json()["items"]}
    assert items["okta"] == {
        "source": "okta",
        "scheme": "basic",
        "enabled": True,
        "credentialCount": 1,
        "lastActivityAt": None,
    }
    assert items["microsoft"]["scheme"] == "bearer"
    # A SCIM request is provisioning activity.
    scim = api.client.get("/v1/scim/v2/okta/Users", headers={"authorization": BASIC})
    assert scim.status_code == 200
    after = {s["source"]: s for s in api.get(BASE).json()["items"]}
    assert after["okta"]["lastActivityAt"] is not None


def test_the_environment_credential_is_listed_with_its_age_unknown(api: Api) -> None:
    (env,) = api.get(f"{BASE}/okta/credentials").json()["items"]
    assert env["id"] == "env" and env["fromEnvironment"] is True
    assert env["createdAt"] is None and env["state"] == "active"
    assert env["username"] == "okta-provisioner"


@pytest.mark.parametrize("source", ["okta", "microsoft"])
def test_a_new_credential_is_answered_once(api: Api, audit: Recorder, source: str) -> None:
    added = api.post(f"{BASE}/{source}/credentials", json={})
    assert added.status_code == 201, added.text
    body = added.json()
    assert added.headers["location"] == f"{BASE}/{source}/credentials/{body['id']}"
    assert added.headers["cache-control"] == "no-store"
    secret = body["password"] if source == "okta" else body["token"]
    assert secret and len(secret) >= 40
    if source == "okta":
        assert body["username"] and body["token"] is None
    else:
        assert body["username"] is None and body["password"] is None
    # Never again: not in the listing, not in one credential, not in the audit event.
    for response in (
        api.get(f"{BASE}/{source}/credentials"),
        api.get(f"{BASE}/{source}/credentials/{body['id']}"),
    ):
        assert response.status_code == 200
        assert secret not in response.text and "password" not in response.text
    (event,) = audit.events
    assert event.type == "scim_credential.created"
    assert event.target is not None and event.target.id == f"{source}/{body['id']}"
    assert event.actor.kind == "user"
    assert secret not in json.dumps(event.details, default=str)


def test_a_basic_username_may_be_chosen_a_bearer_one_not(api: Api) -> None:
    chosen = api.post(f"{BASE}/okta/credentials", json={"username": "okta-2026"})
    assert chosen.status_code == 201 and chosen.json()["username"] == "okta-2026"
    assert_problem(
        api.post(f"{BASE}/microsoft/credentials", json={"username": "x"}), 400, "invalid-request"
    )
    # RFC 7617 §2: a colon cannot be in a Basic user-id.
    assert_problem(api.post(f"{BASE}/okta/credentials", json={"username": "a:b"}), 400)
    assert_problem(api.post(f"{BASE}/okta/credentials", json={"secret": "mine"}), 400)
    past = api.post(f"{BASE}/okta/credentials", json={"expiresAt": "2000-01-01T00:00:00Z"})
    assert_problem(past, 400, "invalid-request")


def test_unknown_sources_and_credentials_are_404(api: Api) -> None:
    for response in (
        api.get(f"{BASE}/google/credentials"),
        api.post(f"{BASE}/google/credentials", json={}),
        api.delete(f"{BASE}/google/credentials/env"),
        api.get(f"{BASE}/okta/credentials/nope"),
        api.delete(f"{BASE}/okta/credentials/nope"),
    ):
        assert_problem(response, 404, "not-found")


def test_retiring_the_last_active_credential_is_409_unless_forced(
    api: Api, audit: Recorder
) -> None:
    refused = api.delete(f"{BASE}/microsoft/credentials/env")
    body = assert_problem(refused, 409, "last-credential")
    assert "force" in body["detail"]
    assert audit.events == []
    forced = api.delete(f"{BASE}/microsoft/credentials/env", params={"force": "true"})
    assert forced.status_code == 204
    (source,) = [s for s in api.get(BASE).json()["items"] if s["source"] == "microsoft"]
    assert source["enabled"] is False and source["credentialCount"] == 0
    (event,) = audit.events
    assert event.type == "scim_credential.retired" and event.details["forced"] is True


def test_a_retirement_with_a_grace_leaves_the_last_check_to_then(api: Api) -> None:
    """The only other credential retiring before the grace ends does not count."""
    new = api.post(f"{BASE}/okta/credentials", json={}).json()["id"]
    assert (
        api.delete(f"{BASE}/okta/credentials/{new}", params={"retireAfter": 30}).status_code == 204
    )
    assert_problem(api.delete(f"{BASE}/okta/credentials/env", params={"retireAfter": 60}), 409)
    assert api.delete(f"{BASE}/okta/credentials/env", params={"retireAfter": 10}).status_code == 204


def test_retire_records_before_and_after_and_is_idempotent(api: Api, audit: Recorder) -> None:
    new = api.post(f"{BASE}/okta/credentials", json={}).json()["id"]
    assert (
        api.delete(f"{BASE}/okta/credentials/env", params={"retireAfter": 120}).status_code == 204
    )
    retiring = api.get(f"{BASE}/okta/credentials/env").json()
    assert retiring["state"] == "retiring" and retiring["retiredAt"] is not None
    created, retired = audit.events
    assert retired.type == "scim_credential.retired"
    assert retired.details["before"]["retiredAt"] is None
    assert retired.details["after"]["retiredAt"] is not None
    assert retired.details["retireAfter"] == 120
    assert created.target is not None and created.target.id == f"okta/{new}"
    # Bringing it forward is allowed; retiring a retired one again changes nothing.
    assert api.delete(f"{BASE}/okta/credentials/env").status_code == 204
    assert api.delete(f"{BASE}/okta/credentials/env").status_code == 204
    assert len(audit.events) == 3
    assert api.get(f"{BASE}/okta/credentials/env").json()["state"] == "retired"


@pytest.mark.parametrize("value", ["-1", "2592001", "soon"])
def test_retire_after_is_bounded(api: Api, value: str) -> None:
    api.post(f"{BASE}/okta/credentials", json={})
    response = api.delete(f"{BASE}/okta/credentials/env", params={"retireAfter": value})
    assert_problem(response, 400, "invalid-request")


def test_a_source_holds_a_bounded_number_of_active_credentials(api: Api) -> None:
    statuses = [api.post(f"{BASE}/microsoft/credentials", json={}).status_code for _ in range(5)]
    assert statuses == [201, 201, 201, 201, 409]


def test_readers_cannot_write(api: Api) -> None:
    viewer = api.post(f"{BASE}/okta/credentials", json={}, role="viewer")
    assert_problem(viewer, 403)
