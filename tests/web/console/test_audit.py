"""`/admin/audit`: the audit log filtered by actor, target, type and time through a GET
form, a page at a time, each event's details; malformed filters and cursors are 400s."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from authbridge.admin.paging import encode_cursor
from authbridge.storage.audit import AuditRecord
from tests.web.console.conftest import Console, rows

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _seed(console: Console) -> None:
    def event(n: int, type: str, **fields: object) -> AuditRecord:
        values: dict[str, object] = {
            "at": NOW - timedelta(minutes=n),
            "type": type,
            "outcome": "success",
            "actor_kind": "user",
            "actor_id": "admin-1",
            "actor_name": "ada@example.com",
            "target_type": "user",
            "target_id": f"u{n}",
        }
        values.update(fields)
        return AuditRecord(**values)  # type: ignore[arg-type]

    console.ready.storage.audit.append(
        [
            event(
                1, "user.disabled", details={"before": {"active": True}, "after": {"active": False}}
            ),
            event(2, "user.enabled", actor_id="admin-2", actor_name="grace@example.com"),
            event(3, "team.created", target_type="team", target_id="t1", target_name="Ops"),
            event(
                4,
                "signin.failed",
                outcome="failure",
                actor_kind="anonymous",
                actor_id=None,
                actor_name=None,
                details={"username": "<script>alert(1)</script>"},
            ),
            event(5, "user.deleted", address="203.0.113.9"),
        ]
    )


def _types_in(page: str) -> list[str]:
    """The event type of each row of the page's table, in order."""
    assert rows(page, "events")
    return re.findall(r"<td><code>([^<]+)</code></td>", page)


def _types(console: Console, query: str) -> list[str]:
    answer = console.page("/admin/audit?" + query)
    assert answer.status_code == 200, answer.text
    if 'id="events"' not in answer.text:
        return []
    return _types_in(answer.text)


def test_events_show_time_actor_type_target_outcome_and_details(console: Console) -> None:
    _seed(console)
    page = console.page("/admin/audit?since=2026-03-01T11:00&until=2026-03-01T12:00")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    table = rows(page.text, "events")
    assert len(table) == 5
    assert table[0].startswith("2026-03-01 11:59:00 user: ada@example.com user.disabled")
    assert "user: u1 success" in table[0]
    assert "203.0.113.9" in table[4]  # the actor's address
    assert table[2].startswith("2026-03-01 11:57:00") and "team: Ops" in table[2]
    assert "anonymous" in table[3] and "failure" in table[3]
    # Details (before/after) in an expandable element, as written and escaped.
    details = re.findall(r"<details>.*?</details>", page.text, re.S)
    assert '"before": {' in html.unescape(details[0])
    assert '"active": false' in html.unescape(details[0])
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    # Each event leads to its actor's and its target's other events.
    assert '<a href="/admin/audit?actor=admin-2">Events by this actor' in details[1]
    on_team = '<a href="/admin/audit?target_type=team&amp;target_id=t1">Events on this target'
    assert on_team in details[2]


def test_a_viewer_is_refused(console: Console) -> None:
    assert console.page("/admin/audit", role="viewer").status_code == 403


def test_filters_by_actor_target_type_prefix_and_time(console: Console) -> None:
    _seed(console)
    assert _types(console, "actor=admin-2") == ["user.enabled"]
    assert _types(console, "target_type=team&target_id=t1") == ["team.created"]
    assert _types(console, "type=user.&actor=admin-1") == [
        "user.disabled",
        "user.deleted",
    ]
    assert _types(console, "type=signin.failed") == ["signin.failed"]
    # datetime-local values (no zone) are UTC, as the form says; since inclusive.
    window = "since=2026-03-01T11:57&until=2026-03-01T11:59&target_type=user"
    assert _types(console, window) == ["user.enabled"]
    assert _types(console, "since=2026-03-01T11:56&until=2026-03-01T11:59&actor=admin-2") == [
        "user.enabled"
    ]
    zoned = "since=2026-03-01T12:56%2B01:00&until=2026-03-01T11:59:00Z&type=user."
    assert _types(console, zoned) == ["user.enabled"]
    # Empty fields of the form are no filters; the form keeps what was asked.
    page = console.page("/admin/audit?actor=admin-2&type=&since=&until=")
    assert len(rows(page.text, "events")) == 1
    assert 'name="actor" type="search" maxlength="255" value="admin-2"' in page.text


def test_no_match_is_an_empty_state(console: Console) -> None:
    _seed(console)
    page = console.page("/admin/audit?type=nothing.here")
    assert page.status_code == 200
    assert "No event matches these filters." in page.text and 'id="events"' not in page.text
    assert 'href="/admin/audit">Clear filters' in page.text


def test_pages_follow_the_cursor_keeping_the_filters(console: Console) -> None:
    _seed(console)
    first = console.page("/admin/audit?type=user.&until=2026-03-01T12:00&limit=2")
    assert _types_in(first.text) == ["user.disabled", "user.enabled"]
    link = re.search(r'<a href="([^"]+)" rel="next"', first.text)
    assert link
    next_url = html.unescape(link.group(1))
    query = parse_qs(urlsplit(next_url).query)
    assert query["type"] == ["user."] and query["limit"] == ["2"] and query["cursor"]
    assert query["until"] == ["2026-03-01T12:00"]
    second = console.page(next_url)
    assert _types_in(second.text) == ["user.deleted"]
    assert 'rel="next"' not in second.text
    assert "First page" in second.text and "First page" not in first.text


def test_malformed_filters_and_cursors_are_400_pages(console: Console) -> None:
    _seed(console)
    for query in (
        "cursor=not-a-cursor",
        "cursor=" + encode_cursor(["only-one-value"]),
        "cursor=" + encode_cursor(["not a time", "1"]),
        "cursor=" + "A" * 5000,
        "since=yesterday",
        "until=2026-13-01T00:00",
        "limit=ten",
        "limit=0",
        "limit=100000",
        "actor=" + "x" * 300,
        "actor=%00",  # PostgreSQL refuses a NUL in a parameter
        # Zoned times whose UTC falls outside the years 1 to 9999 (storage binds UTC).
        "since=0001-01-01T00:00%2B01:00",
        "until=9999-12-31T23:59-01:00",
        "cursor=" + encode_cursor(["0001-01-01T00:00:00+01:00", "1"]),
    ):
        answer = console.page("/admin/audit?" + query)
        assert answer.status_code == 400, query
        assert "Nothing was changed" in answer.text and 'href="/admin/audit"' in answer.text
