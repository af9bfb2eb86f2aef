"""`GET /api/v1/audit/events`: filters, keyset pagination, the permission, problem answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from authbridge.storage.audit import AuditRecord
from tests.web.api.conftest import Api, assert_problem

PATH = "/api/v1/audit/events"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seed(api: Api) -> None:
    def event(n: int, type: str, **fields: object) -> AuditRecord:
        values: dict[str, object] = {
            "at": NOW - timedelta(minutes=n),
            "type": type,
            "outcome": "success",
            "actor_kind": "user",
            "actor_id": "admin-1",
            "target_type": "user",
            "target_id": f"u{n}",
        }
        values.update(fields)
        return AuditRecord(**values)  # type: ignore[arg-type]

    api.ready.storage.audit.append(
        [
            event(1, "user.disabled", details={"before": {"active": True}}),
            event(2, "user.enabled", actor_id="admin-2"),
            event(3, "team.created", target_type="team", target_id="t1"),
            event(4, "signin.failed", outcome="failure", actor_kind="anonymous", actor_id=None),
            event(5, "user.deleted", address="203.0.113.9"),
        ]
    )


def _types(api: Api, **params: str) -> list[str]:
    response = api.get(PATH, params=params)
    assert response.status_code == 200, response.text
    return [e["type"] for e in response.json()["items"]]


def test_events_come_newest_first_in_the_declared_shape(api: Api) -> None:
    _seed(api)
    body = api.get(PATH, params={"type": "user.disabled"}).json()
    assert body["nextCursor"] is None
    (event,) = body["items"]
    assert event["actor"]["kind"] == "user" and event["actor"]["id"] == "admin-1"
    assert event["target"] == {"type": "user", "id": "u1", "name": None}
    assert event["details"] == {"before": {"active": True}}
    assert event["outcome"] == "success" and event["at"].startswith("2026-03-01T11:59")


def test_filters_by_actor_target_type_prefix_and_time(api: Api) -> None:
    _seed(api)
    assert _types(api, actor="admin-2") == ["user.enabled"]
    assert _types(api, targetType="team", targetId="t1") == ["team.created"]
    assert _types(api, type="user.") == ["user.disabled", "user.enabled", "user.deleted"]
    assert _types(api, type="signin.failed") == ["signin.failed"]
    window = {
        "since": (NOW - timedelta(minutes=3)).isoformat(),
        "until": (NOW - timedelta(minutes=1)).isoformat(),
        "targetType": "user",
    }
    assert _types(api, **window) == ["user.enabled"]


def test_pages_follow_the_cursor_without_skipping_or_repeating(api: Api) -> None:
    _seed(api)
    seen: list[str] = []
    params: dict[str, str] = {"limit": "2", "targetType": "user"}
    for _ in range(5):
        body = api.get(PATH, params=params).json()
        seen += [e["target"]["id"] for e in body["items"]]
        if body["nextCursor"] is None:
            break
        params["cursor"] = body["nextCursor"]
    assert seen == ["u1", "u2", "u4", "u5"]


def test_bad_parameters_are_problems(api: Api) -> None:
    assert_problem(api.get(PATH, params={"cursor": "not-a-cursor!"}), 400)
    assert_problem(api.get(PATH, params={"limit": "0"}), 400)
    assert_problem(api.get(PATH, params={"since": "2026-01-01T00:00:00"}), 400)
    # A cursor of another list (valid base64 JSON, wrong shape) is malformed, not a 500.
    from authbridge.admin.paging import encode_cursor

    assert_problem(api.get(PATH, params={"cursor": encode_cursor(["x"])}), 400)
    # Storage binds UTC: a zoned time outside the years 1 to 9999 there, and a NUL
    # (PostgreSQL refuses it in a parameter), are 400s, not 500s.
    for params in (
        {"since": "0001-01-01T00:00:00+01:00"},
        {"until": "9999-12-31T23:59:00-01:00"},
        {"cursor": encode_cursor(["0001-01-01T00:00:00+01:00", "1"])},
        {"actor": "\x00"},
    ):
        assert_problem(api.get(PATH, params=params), 400)


def test_reading_needs_audit_read(api: Api) -> None:
    _seed(api)
    assert_problem(api.get(PATH, role="viewer"), 403)
    assert_problem(api.get(PATH, role=None), 401)
    assert api.get(PATH, role="admin").status_code == 200


def test_admin_actions_are_counted_with_bounded_labels(api: Api) -> None:
    from authbridge.audit.events import Actor, AuditEvent, Target
    from tests.web.metrics import scrape

    admin = Actor("user", "admin-1")
    for type in ("user.disabled", "user.disabled", "user.made-up-by-someone", "signin.failed"):
        api.ready.audit.record(AuditEvent(type, admin, Target("user", "u1")))
    api.ready.audit.record(AuditEvent("user.created", Actor("scim", "okta"), outcome="failure"))
    metrics = scrape(api.client)
    name = "authbridge_admin_actions_total"
    assert metrics.value(name, action="user.disabled", outcome="success") == 2
    assert metrics.value(name, action="user.other", outcome="success") == 1
    # Sign-ins and SCIM's writes have metrics of their own.
    assert {labels["action"] for labels in metrics.labels(name)} == {"user.disabled", "user.other"}
