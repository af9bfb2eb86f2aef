"""`/admin/keys`: each key's id, algorithm, state, age; when the next rotation is due
(`tokens.keyRotationInterval`); rotating now after a confirmation (keys.write) — refused for
viewers, for operators without keys.write, and for cross-site forms; audited. No private
key material is ever on the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from authbridge.admin.keys import KeyView
from authbridge.config.model import RoleSettings
from authbridge.web.app import create_app
from authbridge.web.console.keys import age
from tests.conftest import make_settings, started_clients
from tests.web.console.conftest import Console, rows
from tests.web.console.test_clients import audited

PATH = "/admin/keys"


@pytest.fixture
def console(sqlite_url: str) -> Iterator[Console]:
    settings = make_settings(sqlite_url)
    settings = settings.model_copy(
        update={"roles": {"keyreader": RoleSettings(permissions=["keys.read"])}}
    )
    with started_clients() as start:
        yield Console(start(create_app(settings)))


def test_the_signing_key_and_when_its_rotation_is_due(console: Console) -> None:
    answer = console.page(PATH)
    assert answer.status_code == 200
    [key] = console.ready.admin.keys.list()
    [row] = rows(answer.text, "keys")
    assert row.startswith(f"{key.kid} ES256 active less than a minute")
    due = key.signs_from + timedelta(days=90)
    assert f"Next rotation due {due:%Y-%m-%d %H:%M} UTC" in answer.text
    stored = console.ready.storage.keys.all()[0]
    assert stored.private_pem[40:80] not in answer.text and '"d"' not in answer.text


def test_viewers_and_readers_cannot_rotate(console: Console) -> None:
    assert console.page(PATH, role="viewer").status_code == 403
    assert console.post(PATH + "/rotate", {"confirmed": "yes"}, role="viewer").status_code == 403
    reader = console.page(PATH, role="keyreader")
    assert reader.status_code == 200 and 'action="/admin/keys/rotate"' not in reader.text
    answer = console.post(PATH + "/rotate", {"confirmed": "yes"}, role="keyreader")
    assert answer.status_code == 403 and "keys.write" in answer.text
    assert len(console.ready.admin.keys.list()) == 1


def test_cross_site_and_tokenless_forms_are_refused(console: Console) -> None:
    browser = console.as_role("admin")
    assert browser.post(PATH + "/rotate", data={"confirmed": "yes"}).status_code == 403
    token = re.search(r'name="csrf_token" value="([^"]+)"', console.page(PATH).text)
    assert token
    answer = browser.post(
        PATH + "/rotate",
        data={"confirmed": "yes", "csrf_token": token.group(1)},
        headers={"origin": "https://evil.example"},
    )
    assert answer.status_code == 403
    assert len(console.ready.admin.keys.list()) == 1


def test_rotate_asks_first_then_publishes_the_next_key(console: Console) -> None:
    [old] = console.ready.admin.keys.list()
    asked = console.post(PATH + "/rotate")
    assert asked.status_code == 200 and 'name="confirmed" value="yes"' in asked.text
    assert len(console.ready.admin.keys.list()) == 1
    answer = console.post(PATH + "/rotate", {"confirmed": "yes"})
    assert answer.status_code == 303 and answer.headers["location"].endswith("?done=rotated")
    new, still = console.ready.admin.keys.list()
    assert (new.state, still.kid, still.state) == ("next", old.kid, "signing")
    assert audited(console, "key.rotated", new.kid) != []
    page = console.page(answer.headers["location"]).text
    assert "A new key is published now" in page
    states = [r.split()[2] for r in rows(page, "keys")]
    assert states == ["next", "active"]
    # The schedule restarts from when the new key signs.
    assert f"{new.signs_from + timedelta(days=90):%Y-%m-%d %H:%M}" in page


def test_no_schedule_is_said_when_the_interval_is_unset(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url)
    tokens = settings.tokens.model_copy(update={"key_rotation_interval": None})
    with started_clients() as start:
        console = Console(start(create_app(settings.model_copy(update={"tokens": tokens}))))
        assert "No rotation schedule is set" in console.page(PATH).text


def test_the_due_time_and_an_overdue_rotation() -> None:
    now = datetime(2026, 6, 1, tzinfo=UTC)

    def view(state: str, signs: datetime) -> KeyView:
        return KeyView("k", "ES256", signs, signs, state, None)  # type: ignore[arg-type]

    from authbridge.admin.keys import KeyAdmin

    keys = KeyAdmin(None, None, None, rotation_interval=timedelta(days=30))  # type: ignore[arg-type]
    signing = view("signing", now - timedelta(days=40))
    assert keys.next_rotation_due([signing]) == now - timedelta(days=10)  # overdue
    waiting = view("next", now + timedelta(minutes=10))
    assert keys.next_rotation_due([waiting, signing]) == waiting.signs_from + timedelta(days=30)
    assert keys.next_rotation_due([view("retired", now)]) is None
    assert age(now - timedelta(days=3, hours=2), now) == "3 days"
    assert age(now - timedelta(hours=1), now) == "1 hour"


def test_an_overdue_rotation_is_flagged(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    from authbridge.web.console import keys as page

    later = datetime.now(UTC) + timedelta(days=91)
    monkeypatch.setattr(page, "utcnow", lambda: later)
    answer = console.page(PATH).text
    assert re.search(r'<p id="schedule" class="error">\s*Rotation is overdue', answer)
    assert "(90 days after the active key started signing)" in answer
