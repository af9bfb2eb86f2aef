"""Each provisioning source's PATCH departures are undone for that source only: Entra's
bare-string manager and filter-path keys are Entra's, never accepted from Okta."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from authbridge.scim.dialect import ENTRA, OKTA, RFC, MemberChange, dialect_for, plan_patch
from authbridge.scim.errors import InvalidPath, InvalidSyntax
from tests.scim.conftest import scim

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
MANAGER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager"
# What Entra sends (Microsoft's "Known issues and resolutions with SCIM 2.0 compliance"):
ENTRA_MANAGER = {"op": "Add", "path": MANAGER, "value": "mgr-1"}
ENTRA_FILTER_KEY = {"op": "Replace", "value": {'emails[type eq "work"].value': "w@x.test"}}


def _body(*operations: Any) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(operations)}


def test_sources_have_their_own_dialects() -> None:
    assert dialect_for("okta") is OKTA and dialect_for("microsoft") is ENTRA
    assert dialect_for("anything") is RFC


def test_entra_rewrites_apply_to_entra_only() -> None:
    entra = plan_patch(
        _body(ENTRA_MANAGER, ENTRA_FILTER_KEY), "u1", with_members=False, dialect=ENTRA
    )
    assert entra.body["Operations"] == [
        {"op": "add", "path": MANAGER, "value": {"value": "mgr-1"}},
        {"op": "replace", "path": 'emails[type eq "work"].value', "value": "w@x.test"},
    ]
    for dialect in (OKTA, RFC):  # passed on as sent: the schema then refuses them
        plan = plan_patch(
            _body(ENTRA_MANAGER, ENTRA_FILTER_KEY), "u1", with_members=False, dialect=dialect
        )
        assert plan.body["Operations"] == [
            {"op": "add", "path": MANAGER, "value": "mgr-1"},
            {"op": "replace", "value": {'emails[type eq "work"].value': "w@x.test"}},
        ]


def test_own_id_is_dropped_for_okta_and_entra_not_for_a_strict_client() -> None:
    rename = {"op": "replace", "value": {"id": "g1", "displayName": "new"}}
    for dialect in (OKTA, ENTRA):
        plan = plan_patch(_body(rename), "g1", with_members=True, dialect=dialect)
        assert plan.body["Operations"] == [{"op": "replace", "value": {"displayName": "new"}}]
    strict = plan_patch(_body(rename), "g1", with_members=True, dialect=RFC)
    assert strict.body["Operations"] == [rename]


def test_membership_is_split_out_by_operation() -> None:
    plan = plan_patch(
        _body(
            {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
            {"op": "Remove", "path": "members", "value": [{"value": "a"}]},
            {"op": "remove", "path": 'members[value eq "b"]'},
            {"op": "replace", "value": {"members": [{"value": "c"}], "displayName": "d"}},
            {"op": "remove", "path": "members"},
        ),
        "g1",
        with_members=True,
        dialect=ENTRA,
    )
    assert plan.body["Operations"] == [{"op": "replace", "value": {"displayName": "d"}}]
    assert [(m.op, m.values, m.everyone) for m in plan.members] == [
        ("add", ["a", "b"], False),
        ("remove", ["a"], False),
        ("remove", [], False),
        ("replace", ["c"], False),
        ("remove", [], True),
    ]
    assert isinstance(plan.members[2], MemberChange) and plan.members[2].filter is not None


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (5, InvalidSyntax),
        ({"schemas": ["x"], "Operations": [{"op": "add"}]}, InvalidSyntax),
        (_body(), InvalidSyntax),
        (_body({"op": "move", "path": "x"}), InvalidSyntax),
        (_body({"op": "add", "path": 5, "value": 1}), InvalidPath),
        (_body({"op": "add", "path": 'members[value eq "a"]', "value": []}), InvalidPath),
    ],
)
def test_envelope_errors(body: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        plan_patch(body, "g1", with_members=True, dialect=ENTRA)


def test_okta_traffic_does_not_get_entra_rewrites(api: TestClient) -> None:
    """Over HTTP: the same two operations succeed from Entra and are refused from Okta."""
    for source, expected in (("microsoft", 200), ("okta", 400)):
        created = scim(
            api, source, "POST", "/Users", json={"schemas": [USER], "userName": f"d@{source}"}
        )
        path = "/Users/" + created.json()["id"]
        for operation in (ENTRA_MANAGER, ENTRA_FILTER_KEY):
            answer = scim(api, source, "PATCH", path, json=_body(operation))
            assert answer.status_code == expected, (source, operation, answer.text)
            if expected == 400:
                assert answer.json()["scimType"] in ("invalidValue", "invalidPath", "invalidSyntax")
