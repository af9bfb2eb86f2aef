"""Replays of the request sequences Okta and Microsoft Entra ID send (tests/data/scim/*.json),
checked against what those clients expect back: the status, the fields they read, and the
membership the group must have afterwards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.scim.conftest import scim

DATA = Path(__file__).parent.parent / "data" / "scim"
REPLAYS = sorted(DATA.glob("*.json"))


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        for name, actual in names.items():
            value = value.replace("{" + name + "}", actual)
        return value
    if isinstance(value, list):
        return [_fill(item, names) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, names) for key, item in value.items()}
    return value


def _contains(actual: Any, expected: Any, where: str = "") -> None:
    """`expected` is a subset of `actual`: dict keys recursively, list items each found."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}.{key} is missing in {actual!r}"
            _contains(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        if not expected:
            assert actual == [], f"{where}: expected [], got {actual!r}"
        for item in expected:
            errors = []
            for candidate in actual:
                try:
                    _contains(candidate, item, where)
                    break
                except AssertionError as exc:
                    errors.append(str(exc))
            else:
                raise AssertionError(f"{where}: no item matches {item!r} in {actual!r}")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


@pytest.mark.parametrize("replay", REPLAYS, ids=[p.stem for p in REPLAYS])
def test_replay(api: TestClient, replay: Path) -> None:
    script = json.loads(replay.read_text())
    source = script["endpoint"]
    names: dict[str, str] = {}
    for step in script["steps"]:
        label = f"{replay.stem}: {step['name']}"
        body = _fill(step.get("body"), names)
        response = scim(
            api,
            source,
            step["method"],
            _fill(step["path"], names),
            **({"json": body} if body is not None else {}),
        )
        expect = _fill(step["expect"], names)
        assert response.status_code == expect["status"], f"{label}: {response.text}"
        if response.status_code != 204:
            assert response.headers["content-type"].startswith("application/scim+json"), label
            payload = response.json()
            if "json" in expect:
                _contains(payload, expect["json"], label)
            for key in expect.get("absent", []):
                assert key not in payload, f"{label}: {key} should be absent"
            for key in expect.get("absent_in_resources", []):
                assert all(key not in r for r in payload["Resources"]), label
        for name, field in step.get("capture", {}).items():
            names[name] = response.json()[field]
        members = step.get("members", expect.get("members"))
        if members is not None:
            group = scim(api, source, "GET", _fill("/Groups/{group}", names)).json()
            have = sorted(m["value"] for m in group.get("members", []))
            assert have == sorted(_fill(members, names)), f"{label}: members {have}"
