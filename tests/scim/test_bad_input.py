"""Replays tests/data/scim/bad_input/cases.json: bodies and filters that once answered 500
now answer the RFC 7644 §3.12 error with the `scimType` the RFC names, on every endpoint
that takes a body or a filter (POST/PUT/PATCH Users and Groups, .search, GET ?filter=)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from tests.scim.conftest import scim

DATA = Path(__file__).parent.parent / "data" / "scim" / "bad_input"
CASES = json.loads((DATA / "cases.json").read_text())
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _body(case: dict[str, Any]) -> bytes:
    if "body_file" in case:
        return (DATA / case["body_file"]).read_bytes()
    return str(case["body"]).encode("utf-8")


BODY_CASES = [
    pytest.param(case, where, id=f"{where} {case['name']}")
    for case in CASES["bodies"]
    for where in case["on"]
]
FILTER_CASES = [
    pytest.param(case, kind, how, id=f"{how} {kind} {case['filter']}")
    for case in CASES["filters"]
    for kind in ("Users", "Groups")
    for how in ("GET", ".search")
]


@pytest.fixture
def ids(api: TestClient) -> dict[str, str]:
    user = scim(api, "okta", "POST", "/Users", json={"schemas": [USER], "userName": "b@x.test"})
    group = scim(api, "okta", "POST", "/Groups", json={"schemas": [GROUP], "displayName": "b"})
    assert user.status_code == group.status_code == 201
    return {"user": user.json()["id"], "group": group.json()["id"]}


def _check(response: Any, case: dict[str, Any]) -> dict[str, Any]:
    assert response.status_code == case["status"], response.text[:300]
    assert response.headers["content-type"].startswith("application/scim+json")
    body: dict[str, Any] = response.json()
    if case["status"] >= 400:
        # RFC 7644 §3.12: the Error schema, "status" as a string, and the scimType.
        assert body["schemas"] == [ERROR]
        assert body["status"] == str(case["status"])
        assert body.get("scimType") == case["scimType"], body
        assert body.get("detail")
    return body


@pytest.mark.parametrize(("case", "where"), BODY_CASES)
def test_bad_bodies(api: TestClient, ids: dict[str, str], case: dict[str, Any], where: str) -> None:
    method, path = where.split(" ", 1)
    path = path.format(**ids)
    before = scim(api, "okta", "GET", path).json() if method in ("PUT", "PATCH") else None
    _check(scim(api, "okta", method, path, content=_body(case)), case)
    if before is not None and case["status"] >= 400:  # a refused write changes nothing
        assert scim(api, "okta", "GET", path).json() == before


@pytest.mark.parametrize(("case", "kind", "how"), FILTER_CASES)
def test_bad_filters(
    api: TestClient, ids: dict[str, str], case: dict[str, Any], kind: str, how: str
) -> None:
    if how == "GET":
        response = scim(api, "okta", "GET", f"/{kind}?filter={quote(case['filter'])}")
    else:
        search = {"schemas": [SEARCH], "filter": case["filter"]}
        response = scim(api, "okta", "POST", f"/{kind}/.search", json=search)
    body = _check(response, case)
    if "totalResults" in case:
        assert body["totalResults"] == case["totalResults"]
