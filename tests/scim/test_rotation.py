"""Zero-downtime rotation of a SCIM source's credential, end to end: an Okta-shaped client
(HTTP Basic) and an Entra-shaped one (Bearer) replay the requests those IdPs send
(tests/data/scim/) and keep succeeding while a second credential is added over the admin
API, the IdP switches to it, and the first is retired; the retired one is then refused on
every request, and wrong credentials are still throttled."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from authbridge.clock import utcnow
from tests.scim.conftest import BASIC, ENTRA_TOKEN, ScimFactory
from tests.scim.test_replays import _contains, _fill
from tests.web.api.conftest import Api

DATA = Path(__file__).parent.parent / "data" / "scim"
REPLAYS = {"okta": "okta_user_import.json", "microsoft": "entra_default.json"}
ENV_AUTHORIZATION = {"okta": BASIC, "microsoft": f"Bearer {ENTRA_TOKEN}"}


class IdP:
    """A provisioning client: sends the replayed steps with whatever credential it holds."""

    def __init__(self, client: TestClient, source: str, authorization: str) -> None:
        self.client = client
        self.source = source
        self.authorization = authorization
        script = json.loads((DATA / REPLAYS[source]).read_text())
        self.steps: list[dict[str, Any]] = script["steps"]
        self.names: dict[str, str] = {}

    def send(self, step: dict[str, Any], authorization: str | None = None) -> Any:
        body = _fill(step.get("body"), self.names)
        return self.client.request(
            step["method"],
            f"/v1/scim/v2/{self.source}{_fill(step['path'], self.names)}",
            headers={
                "Authorization": authorization or self.authorization,
                "Content-Type": "application/scim+json",
            },
            **({"json": body} if body is not None else {}),
        )

    def run(self, steps: list[dict[str, Any]]) -> None:
        """Each step as the IdP sends it, checked as the replay test checks it."""
        for step in steps:
            response = self.send(step)
            expect = _fill(step["expect"], self.names)
            assert response.status_code == expect["status"], (step["name"], response.text)
            if response.status_code != 204 and "json" in expect:
                _contains(response.json(), expect["json"], step["name"])
            for name, field in step.get("capture", {}).items():
                self.names[name] = response.json()[field]


def _authorization(source: str, issued: dict[str, Any]) -> str:
    if source == "okta":
        pair = f"{issued['username']}:{issued['password']}"
        return "Basic " + base64.b64encode(pair.encode()).decode()
    return f"Bearer {issued['token']}"


@pytest.fixture
def api(scim_app: ScimFactory) -> Api:
    return Api(scim_app())


@pytest.mark.parametrize("source", ["okta", "microsoft"])
def test_provisioning_keeps_succeeding_across_a_rotation(api: Api, source: str) -> None:
    idp = IdP(api.client, source, ENV_AUTHORIZATION[source])
    third = len(idp.steps) // 3
    idp.run(idp.steps[:third])

    added = api.post(f"/api/v1/scim/sources/{source}/credentials", json={})
    assert added.status_code == 201, added.text
    new = _authorization(source, added.json())
    # Both are valid while the IdP switches: the old one keeps working...
    idp.run(idp.steps[third : 2 * third])
    # ...and the new one already works.
    probe = {"name": "probe", "method": "GET", "path": "/Users?count=1", "expect": {"status": 200}}
    assert idp.send(probe, new).status_code == 200

    old = idp.authorization
    idp.authorization = new  # the IdP switches
    retired = api.delete(f"/api/v1/scim/sources/{source}/credentials/env")
    assert retired.status_code == 204, retired.text
    idp.run(idp.steps[2 * third :])

    # The retired credential is refused on every request the IdP sends (the failure
    # throttle is reset before each, so every request reaches the credential check).
    for step in idp.steps:
        api.ready.scim_throttle._recent.clear()
        response = idp.send(step, old)
        assert response.status_code == 401, (step["name"], response.status_code)
        assert response.headers["content-type"].startswith("application/scim+json")
    listed = api.get(f"/api/v1/scim/sources/{source}/credentials").json()["items"]
    states = {c["id"]: c["state"] for c in listed}
    assert states["env"] == "retired"
    assert states[added.json()["id"]] == "active"


def test_a_grace_period_keeps_the_old_credential_until_it_ends(api: Api) -> None:
    clock_now = utcnow()

    def clock() -> datetime:
        return clock_now

    credentials = api.ready.scim_credentials
    credentials._clock = clock  # type: ignore[method-assign]
    idp = IdP(api.client, "microsoft", ENV_AUTHORIZATION["microsoft"])
    probe = {"method": "GET", "path": "/Users?count=1"}
    assert api.post("/api/v1/scim/sources/microsoft/credentials", json={}).status_code == 201
    assert (
        api.delete("/api/v1/scim/sources/microsoft/credentials/env?retireAfter=60").status_code
        == 204
    )
    state = api.get("/api/v1/scim/sources/microsoft/credentials/env").json()["state"]
    assert state == "retiring"
    assert idp.send(probe).status_code == 200
    clock_now += timedelta(seconds=61)
    assert idp.send(probe).status_code == 401


def test_wrong_credentials_are_still_throttled(api: Api) -> None:
    """The retired credential counts as wrong: after the per-address limit, 429."""
    api.post("/api/v1/scim/sources/okta/credentials", json={})
    assert api.delete("/api/v1/scim/sources/okta/credentials/env").status_code == 204
    idp = IdP(api.client, "okta", ENV_AUTHORIZATION["okta"])
    probe = {"method": "GET", "path": "/Users"}
    statuses = [idp.send(probe).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    throttled = idp.send(probe)
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0
