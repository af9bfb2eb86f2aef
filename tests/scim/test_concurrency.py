"""Concurrent PATCHes of one group lose no member (the version bump serialises them), and
concurrent creates of one userName yield exactly one user. PostgreSQL is where replicas
really race; SQLite runs the same test through its single writer lock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from authbridge.config.model import ScimSettings
from authbridge.scim.errors import Conflict
from authbridge.scim.service import ScimService
from authbridge.storage import Storage
from tests.wiring import scim_service

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _service(storage: Storage) -> ScimService:
    return scim_service(storage, ScimSettings(), source="okta", base_url="http://t/v1/scim/v2/okta")


def test_concurrent_member_patches_lose_no_member(storage: Storage) -> None:
    service = _service(storage)
    users = [
        service.create_user({"schemas": [USER], "userName": f"u{i}@example.com"}, actor="t")["id"]
        for i in range(40)
    ]
    group = service.create_group({"schemas": [GROUP], "displayName": "race"}, actor="t")["id"]
    start = threading.Barrier(8)

    def add(chunk: list[str]) -> None:
        start.wait()
        for uid in chunk:
            body = {
                "schemas": [PATCH],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": uid}]}],
            }
            service.patch_group(group, body, actor="t", with_members=False)

    chunks = [users[i::8] for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, chunks))
    members = {m["value"] for m in service.get_group(group)["members"]}
    assert members == set(users)
    # Every PATCH bumped the version exactly once: none was lost or merged.
    assert service.get_group(group)["meta"]["version"] == f'W/"{1 + len(users)}"'


def test_concurrent_adds_and_removes_keep_the_untouched_members(storage: Storage) -> None:
    service = _service(storage)
    users = [
        service.create_user({"schemas": [USER], "userName": f"v{i}@example.com"}, actor="t")["id"]
        for i in range(20)
    ]
    keep, churn = users[:10], users[10:]
    group = service.create_group(
        {"schemas": [GROUP], "displayName": "churn", "members": [{"value": u} for u in keep]},
        actor="t",
    )["id"]
    start = threading.Barrier(len(churn))

    def add_then_remove(uid: str) -> None:
        start.wait()
        for op in ("add", "remove"):
            path = "members" if op == "add" else f'members[value eq "{uid}"]'
            operation = {"op": op, "path": path}
            if op == "add":
                operation["value"] = [{"value": uid}]
            service.patch_group(group, {"schemas": [PATCH], "Operations": [operation]}, actor="t")

    with ThreadPoolExecutor(len(churn)) as pool:
        list(pool.map(add_then_remove, churn))
    assert {m["value"] for m in service.get_group(group)["members"]} == set(keep)


def test_concurrent_creates_of_one_username_make_one_user(storage: Storage) -> None:
    service = _service(storage)
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def create(i: int) -> None:
        start.wait()
        try:
            service.create_user(
                {"schemas": [USER], "userName": "Same@Example.com", "externalId": f"x{i}"},
                actor="t",
            )
            outcomes.append("created")
        except Conflict:
            outcomes.append("conflict")

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(create, range(6)))
    assert sorted(outcomes) == ["conflict"] * 5 + ["created"]
