"""ServiceAccountAdmin, RobotAdmin and KeyAdmin: each write audited, never with a secret."""

from __future__ import annotations

import json

import pytest

from authbridge.admin.errors import InvalidRequest, NotFound
from authbridge.provider.secrets import digest
from tests.admin.conftest import ACTOR, AdminEnv


def _no_secret(env: AdminEnv, *secrets: str) -> None:
    text = json.dumps([e.details for e in env.audit.events], default=str)
    for secret in secrets:
        assert secret not in text and digest(secret) not in text


def test_service_account_created_and_deleted_are_audited(env: AdminEnv) -> None:
    created = env.admin.service_accounts.create(ACTOR, "etl", "editor")
    assert created.account.roles == ("editor",)
    env.admin.service_accounts.delete(ACTOR, "etl")
    assert [e.type for e in env.audit.events] == [
        "service_account.created",
        "service_account.deleted",
    ]
    assert env.audit.events[0].target is not None
    assert env.audit.events[0].target.id == created.account.user_id
    _no_secret(env, created.secret)
    user = env.ready.storage.users.get(created.account.user_id)
    assert user is not None and not user.active
    with pytest.raises(NotFound):
        env.admin.service_accounts.get("etl")
    with pytest.raises(InvalidRequest):
        env.admin.service_accounts.create(ACTOR, "x", "no-such-role")


def test_robot_issued_and_revoked_are_audited(env: AdminEnv) -> None:
    issued = env.admin.robots.issue(ACTOR, "ci", "viewer", 3600, "pipeline")
    env.admin.robots.revoke(ACTOR, issued.robot.jti)
    issued_event, revoked_event = env.audit.events
    assert (issued_event.type, revoked_event.type) == ("robot.issued", "robot.revoked")
    assert issued_event.details["after"]["role"] == "viewer"
    _no_secret(env, issued.token)
    with pytest.raises(NotFound):
        env.admin.robots.revoke(ACTOR, issued.robot.jti)  # revoked already


def test_key_rotation_is_audited(env: AdminEnv) -> None:
    (before,) = env.admin.keys.list()
    rotated = env.admin.keys.rotate(ACTOR)
    assert rotated.state == "next" and rotated.kid != before.kid
    (event,) = env.audit.of("key.rotated")
    assert event.target is not None and event.target.id == rotated.kid
    assert "private" not in json.dumps(event.details).lower()
